"""``POST /slack/events``: Slack interactivity and the slash command, through bolt."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler

from bot.context import AppContext
from bot.slack.app import build_slack_app
from bot.web.errors import ApiError


def install_slack(app: FastAPI) -> None:
    ctx: AppContext = app.state.ctx
    router = APIRouter()
    settings = ctx.settings
    if settings.slack_bot_token is None or settings.slack_signing_secret is None:

        @router.post("/slack/events")
        async def slack_disabled() -> Response:
            raise ApiError(
                404, "Slack is not configured (SLABOT_SLACK_BOT_TOKEN, SLABOT_SLACK_SIGNING_SECRET)"
            )

    else:
        handler = AsyncSlackRequestHandler(build_slack_app(ctx))

        @router.post("/slack/events")
        async def slack_events(request: Request) -> Response:
            response: Response = await handler.handle(request)
            return response

    app.include_router(router)
