"""Tracker webhooks: ``POST /webhooks/jira`` and ``POST /webhooks/linear``.

Both verify the HMAC of the raw body in constant time before parsing anything. A redelivery
and an issue slabot does not own both get 2xx; a processing failure answers 500 so the
tracker retries (the transaction rolled back, so the retry starts clean).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from bot.context import AppContext
from bot.database.core import transaction
from bot.trackers.sync import apply_changes
from bot.web.errors import ApiError
from bot.web.responses import JsonResponse
from integrations.trackers import (
    StatusChange,
    WebhookPayloadError,
    linear_timestamp_fresh,
    parse_jira_webhook,
    parse_linear_webhook,
    verify_jira_signature,
    verify_linear_signature,
)

log = logging.getLogger(__name__)
router = APIRouter()


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"webhook body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "webhook body must be a JSON object")
    return data


def _record(
    ctx: AppContext, changes: list[StatusChange], *, source: str, delivery: str | None
) -> int:
    now = ctx.clock()
    del delivery  # each change carries it; apply_changes dedups per change
    with transaction(ctx.sessions) as session:
        return apply_changes(session, changes, source=source, now=now)


async def _process(
    ctx: AppContext, changes: list[StatusChange], *, source: str, delivery: str | None
) -> JsonResponse:
    try:
        recorded = await run_in_threadpool(_record, ctx, changes, source=source, delivery=delivery)
    except Exception:
        log.exception("%s webhook %s failed; answering 500 so it is retried", source, delivery)
        raise ApiError(500, f"could not record the {source} webhook; retry later") from None
    return JsonResponse({"recorded": recorded})


@router.post("/webhooks/jira")
async def jira_webhook(request: Request) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    secret = ctx.settings.jira_webhook_secret
    body = await request.body()
    if secret is None or not verify_jira_signature(
        secret.get_secret_value(), body, request.headers.get("x-hub-signature")
    ):
        raise ApiError(401, "X-Hub-Signature missing or wrong")
    delivery = request.headers.get("x-atlassian-webhook-identifier")
    try:
        changes = parse_jira_webhook(_json(body), delivery_id=delivery)
    except WebhookPayloadError as exc:
        raise ApiError(400, str(exc)) from None  # a 4xx: Jira does not retry it
    return await _process(ctx, changes, source="jira", delivery=delivery)


@router.post("/webhooks/linear")
async def linear_webhook(request: Request) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    secret = ctx.settings.linear_webhook_secret
    body = await request.body()
    if secret is None or not verify_linear_signature(
        secret.get_secret_value(), body, request.headers.get("linear-signature")
    ):
        raise ApiError(401, "Linear-Signature missing or wrong")
    data = _json(body)
    if not linear_timestamp_fresh(data, ctx.clock()):
        raise ApiError(401, "webhookTimestamp is missing or more than 60 s away from now")
    delivery = request.headers.get("linear-delivery")
    try:
        changes = parse_linear_webhook(data, delivery_id=delivery)
    except ValueError as exc:  # WebhookPayloadError, or an unparseable updatedAt
        raise ApiError(400, f"linear webhook: {exc}") from None
    return await _process(ctx, changes, source="linear", delivery=delivery)
