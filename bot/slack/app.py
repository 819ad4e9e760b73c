"""The Slack app (slack-bolt ``AsyncApp``): buttons, the risk-acceptance modal, ``/slabot``.

Bolt verifies every request's signature (and its 5-minute timestamp window) before a listener
runs. Listeners answer well inside Slack's 3 seconds: database work runs in a thread, and
every message beyond the immediate reply goes through the job queue.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.acceptances.service import (
    AcceptanceError,
    decide,
    refuse,
    request_acceptance,
    validate_request,
)
from bot.context import AppContext
from bot.database.core import transaction
from bot.findings.rules import as_severity
from bot.notifications.cards import ticket_card
from bot.policy import local_date, max_acceptance_expiry
from bot.slack.commands import run_command
from bot.tickets.models import Ticket
from integrations.slack import (
    ActionId,
    CallbackId,
    DecisionValue,
    ModalMetadata,
    PayloadError,
    RequestAcceptanceValue,
    acceptance_modal,
    parse_modal_submission,
)

log = logging.getLogger(__name__)


def _user(body: dict[str, Any]) -> tuple[str, str | None]:
    user = body.get("user") or {}
    return str(user.get("id", "")), user.get("name") or user.get("username")


def build_slack_app(ctx: AppContext) -> AsyncApp:
    settings = ctx.settings
    assert settings.slack_bot_token is not None and settings.slack_signing_secret is not None
    client = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=10,
    )
    app = AsyncApp(
        client=client,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        process_before_response=True,
    )

    async def ephemeral(body: dict[str, Any], text: str) -> None:
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
            "channel_id"
        )
        user_id, _ = _user(body)
        if channel and user_id:
            await client.chat_postEphemeral(channel=channel, user=user_id, text=text)

    @app.action(ActionId.REQUEST_ACCEPTANCE.value)
    async def open_request_modal(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        try:
            value = RequestAcceptanceValue.loads(body["actions"][0].get("value"))
        except (PayloadError, KeyError, IndexError) as exc:
            await ephemeral(body, f"That button is not one slabot sent ({exc}).")
            return
        now = ctx.clock()
        with ctx.sessions() as session:
            ticket = await asyncio.to_thread(session.get, Ticket, value.ticket_id)
        if ticket is None or ticket.status not in ("open", "in_progress"):
            await ephemeral(body, f"Ticket #{value.ticket_id} cannot take a risk acceptance now.")
            return
        today = local_date(now, ctx.tz)
        container = body.get("container") or {}
        metadata = ModalMetadata(
            ticket_id=ticket.id,
            channel=container.get("channel_id"),
            thread_ts=container.get("thread_ts") or container.get("message_ts"),
        )
        view = acceptance_modal(
            ticket=ticket_card(ctx, ticket, now=now),
            max_expiry=max_acceptance_expiry(
                ctx.policy,
                severity=as_severity(ticket.severity),
                kev=ticket.kev,
                requested_on=today,
            ),
            min_justification=ctx.policy.risk_acceptance.min_justification_chars,
            private_metadata=metadata.dumps(),
        )
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.view(CallbackId.ACCEPTANCE_SUBMIT.value)
    async def submit_request(ack: AsyncAck, body: dict[str, Any]) -> None:
        view = body.get("view") or {}
        try:
            metadata = ModalMetadata.loads(view.get("private_metadata"))
            form = parse_modal_submission(view)
        except PayloadError as exc:
            field = "expires_on" if str(exc).startswith("expires_on") else "justification"
            await ack(response_action="errors", errors={field: str(exc)[:150]})
            return
        user_id, user_name = _user(body)
        now = ctx.clock()

        def store() -> dict[str, str]:
            with transaction(ctx.sessions) as session:
                ticket = session.get(Ticket, metadata.ticket_id)
                if ticket is None:
                    return {"justification": f"ticket #{metadata.ticket_id} no longer exists"}
                errors = validate_request(
                    ctx,
                    ticket,
                    justification=form.justification,
                    expires_on=form.expires_on,
                    now=now,
                )
                if errors:
                    return errors
                assert form.expires_on is not None
                try:
                    request_acceptance(
                        ctx,
                        session,
                        ticket=ticket,
                        user_id=user_id,
                        user_name=user_name,
                        justification=form.justification,
                        expires_on=form.expires_on,
                        controls=form.controls,
                        now=now,
                    )
                except AcceptanceError as exc:
                    return {"justification": str(exc)}
            return {}

        errors = await asyncio.to_thread(store)
        if errors:
            await ack(response_action="errors", errors=errors)
        else:
            await ack()

    async def decide_from_button(ack: AsyncAck, body: dict[str, Any], decision: str) -> None:
        await ack()
        user_id, user_name = _user(body)
        now = ctx.clock()
        try:
            value = DecisionValue.loads(body["actions"][0].get("value"))
        except (PayloadError, KeyError, IndexError) as exc:
            why = f"tampered or invalid button value: {exc}"

            def record_tampered() -> None:
                with transaction(ctx.sessions) as session:
                    refuse(session, request_id=0, ticket_id=None, user_id=user_id, why=why, now=now)

            await asyncio.to_thread(record_tampered)
            await ephemeral(body, "That button value is not one slabot sent; nothing changed.")
            return

        container = body.get("container") or {}
        channel_id, message_ts = container.get("channel_id"), container.get("message_ts")
        # Approve/Reject buttons only ever live on approval messages: where it was clicked
        # must be one of them (an edited value naming another request is refused).
        origin = (str(channel_id or ""), str(message_ts or ""))

        def apply() -> str | None:
            # The refusal decide() records must be committed, so the error is caught inside
            # the transaction (an exception leaving it would roll the record back).
            with transaction(ctx.sessions) as session:
                try:
                    decide(
                        ctx,
                        session,
                        request_id=value.request_id,
                        decision="approved" if decision == "approved" else "rejected",
                        user_id=user_id,
                        user_name=user_name,
                        now=now,
                        origin=origin,
                    )
                except AcceptanceError as exc:
                    return str(exc)
            return None

        refusal = await asyncio.to_thread(apply)
        if refusal is not None:
            await ephemeral(body, f"Not recorded: {refusal}.")

    @app.action(ActionId.APPROVE.value)
    async def approve(ack: AsyncAck, body: dict[str, Any]) -> None:
        await decide_from_button(ack, body, "approved")

    @app.action(ActionId.REJECT.value)
    async def reject(ack: AsyncAck, body: dict[str, Any]) -> None:
        await decide_from_button(ack, body, "rejected")

    @app.command("/slabot")
    async def slash(ack: AsyncAck, command: dict[str, Any]) -> None:
        text = await run_command(ctx, client, command)
        await ack(text=text)

    return app
