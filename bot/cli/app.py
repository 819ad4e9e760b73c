"""The ``slabot`` command line.

The command modules import what a command needs inside the command function (the database,
the settings, the domain services): starting the CLI, ``--help`` included, then costs typer
alone, and each command loads only its own dependencies.
"""

from __future__ import annotations

import logging
import sys

import typer

from bot.cli import maintenance, runtime

app = typer.Typer(
    name="slabot",
    help="Remediation SLA bot: Nuclei findings → KEV-aware tickets, reminders, evidence.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
evidence_app = typer.Typer(help="Audit evidence: verify the log, rebuild a sampled week.")
kev_app = typer.Typer(help="CISA Known Exploited Vulnerabilities catalog.")

app.command("serve")(runtime.serve)
app.command("worker")(runtime.worker)
app.command("clock")(runtime.clock)
app.command("tick")(runtime.tick_command)
app.add_typer(evidence_app, name="evidence")
app.add_typer(kev_app, name="kev")
app.add_typer(maintenance.db_app, name="db")
app.add_typer(maintenance.jobs_app, name="jobs")


def _register_features() -> None:
    """Feature command modules attach themselves to the apps above."""
    from bot.cli import features

    features.register(app, evidence_app=evidence_app, kev_app=kev_app)


def main() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    _register_features()
    app()
