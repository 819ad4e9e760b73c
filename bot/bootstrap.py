"""Build the application context from settings, failing with clear lines when misconfigured."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from bot.context import AppContext
from bot.database.core import make_engine, make_session_factory
from bot.database.migrations import is_up_to_date, upgrade
from bot.policy import PolicyError, load_policy
from bot.settings import ConfigurationError, Settings
from bot.stores import open_evidence


def build_context(settings: Settings, *, migrate: bool = False) -> AppContext:
    """Open the database, load the policy and the evidence store.

    ``migrate`` upgrades the schema first (``slabot serve`` does it on SQLite, where there is no
    separate release step); otherwise a database behind the code refuses to start.
    """
    try:
        policy = load_policy(settings.policy_file)
    except PolicyError as exc:
        raise ConfigurationError([f"SLABOT_POLICY_FILE: {exc}"]) from None
    evidence = open_evidence(settings)
    engine = make_engine(settings.database_url)
    try:
        if migrate:
            upgrade(engine)
        elif not is_up_to_date(engine):
            raise ConfigurationError(
                ["database schema is not at the latest revision: run `slabot db upgrade`"]
            )
    except OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ConfigurationError([f"SLABOT_DATABASE_URL: cannot connect: {reason}"]) from None
    return AppContext(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        policy=policy,
        evidence=evidence,
    )
