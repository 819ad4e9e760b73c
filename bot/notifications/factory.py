"""The configured notifier: Slack with a bot token, the console (log) without one."""

from __future__ import annotations

from bot.context import AppContext
from integrations.slack import ConsoleNotifier, Notifier, SlackNotifier

CONSOLE_CHANNEL = "#slabot"


def get_notifier(ctx: AppContext) -> Notifier:
    cached = ctx.services.get("notifier")
    if cached is not None:
        notifier: Notifier = cached
        return notifier
    token = ctx.settings.slack_bot_token
    if token is None:
        notifier = ConsoleNotifier()
    else:
        # No in-thread 429 retries: a rate-limited call fails at once and the job queue retries
        # it after Retry-After on the command's clock, instead of sleeping in the worker.
        notifier = SlackNotifier(
            token.get_secret_value(),
            base_url=ctx.settings.slack_api_url,
            max_rate_limit_retries=0,
        )
    ctx.services["notifier"] = notifier
    return notifier


def team_channel(ctx: AppContext) -> str:
    return ctx.settings.slack_channel or CONSOLE_CHANNEL
