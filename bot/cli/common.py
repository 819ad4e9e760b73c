"""Shared CLI plumbing: settings → context with clear errors, ``--now`` parsing, output."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import orjson
import typer

if TYPE_CHECKING:
    from bot.context import AppContext
    from bot.settings import Settings


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    from bot.settings import ConfigurationError, load_settings

    try:
        return load_settings()
    except ConfigurationError as exc:
        for problem in exc.problems:
            typer.echo(f"configuration error: {problem}", err=True)
        raise typer.Exit(2) from None


@contextmanager
def open_context(*, migrate: bool = False) -> Iterator[AppContext]:
    from bot.bootstrap import build_context
    from bot.settings import ConfigurationError

    settings = settings_or_exit()
    try:
        ctx = build_context(settings, migrate=migrate)
    except ConfigurationError as exc:
        for problem in exc.problems:
            typer.echo(f"configuration error: {problem}", err=True)
        raise typer.Exit(2) from None
    try:
        yield ctx
    finally:
        ctx.close()


def parse_now(value: str | None) -> datetime:
    """``--now`` as ISO-8601; a value without an offset is taken as UTC."""
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        fail(f"--now: not an ISO-8601 time: {value!r} (e.g. 2026-03-02T09:00:00Z)", 2)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def print_json(value: Any) -> None:
    sys.stdout.buffer.write(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z))
    sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()
