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
        notifier = SlackNotifier(token.get_secret_value(), base_url=ctx.settings.slack_api_url)
    ctx.services["notifier"] = notifier
    return notifier


def team_channel(ctx: AppContext) -> str:
    return ctx.settings.slack_channel or CONSOLE_CHANNEL
