"""CLI start-up stays light: commands import what they need when they run."""

from __future__ import annotations

import json
import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    """Every module loaded by ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(run.stdout))


def _packages(modules: set[str]) -> set[str]:
    return {name.partition(".")[0] for name in modules}


def test_cli_start_loads_neither_the_database_nor_the_integrations() -> None:
    loaded = _modules_after("from bot.cli.app import _register_features\n_register_features()")
    heavy = {"sqlalchemy", "alembic", "pydantic_settings", "fastapi", "httpx", "jira", "boto3"}
    assert not heavy & _packages(loaded)
    assert not {"bot.settings", "bot.bootstrap", "bot.database", "bot.ingest"} & loaded


def test_ingest_path_does_not_load_unrelated_clients() -> None:
    loaded = _modules_after("import bot.bootstrap, bot.ingest.body, bot.ingest.service")
    unrelated = {"httpx", "fastapi", "slack_sdk", "slack_bolt", "jira", "boto3", "rich"}
    assert not unrelated & _packages(loaded)
