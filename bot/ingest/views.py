"""Ingest endpoints: ``POST /webhooks/nuclei`` and the Splunk-HEC-compatible
``POST /services/collector/event`` that Nuclei's own reporting exporter can stream to."""

from __future__ import annotations

from functools import partial

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from bot.context import AppContext
from bot.ingest.body import (
    BadEncodingError,
    Body,
    BodyTooLargeError,
    BodyWriter,
    HmacTee,
    gunzip,
)
from bot.ingest.service import (
    EvidenceUnavailableError,
    IngestRejectedError,
    IngestSummary,
    ingest,
)
from bot.web.auth import bearer_matches
from bot.web.errors import ApiError
from bot.web.responses import JsonResponse

router = APIRouter()

ACCEPTED_TYPES = ("application/json", "application/x-ndjson", "text/plain")
INGESTS_IN_FLIGHT = 4


def _check_content_type(request: Request) -> None:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in ACCEPTED_TYPES:
        raise ApiError(
            415,
            f"unsupported content type {content_type!r}",
            [f"send one of: {', '.join(ACCEPTED_TYPES)}"],
        )


async def _spool(request: Request, ctx: AppContext, tee: HmacTee | None) -> Body:
    writer = BodyWriter(max_bytes=ctx.settings.max_body_bytes)
    try:
        async for chunk in request.stream():
            writer.write(tee.feed(chunk) if tee is not None else chunk)
    except BodyTooLargeError as exc:
        raise ApiError(413, str(exc)) from None
    except BaseException:
        writer.abort()
        raise
    return writer.finish()


async def _receive_body(request: Request, ctx: AppContext, *, scheme: str) -> Body:
    """Authenticate (before reading when possible), spool, verify HMAC, decompress."""
    token = ctx.settings.ingest_token
    if token is None:
        raise ApiError(401, "ingest is disabled: SLABOT_INGEST_TOKEN is not set")
    authorization = request.headers.get("authorization")
    signature = request.headers.get("x-slabot-signature") if scheme == "Bearer" else None
    authorized = bearer_matches(authorization, token, scheme=scheme)
    if not authorized and not signature:
        raise ApiError(
            401,
            f"missing or wrong credentials: send 'Authorization: {scheme} <token>'"
            + (" or X-Slabot-Signature" if scheme == "Bearer" else ""),
        )
    _check_content_type(request)
    tee = None if authorized else HmacTee(token.get_secret_value().encode())
    body = await _spool(request, ctx, tee)
    if tee is not None and not tee.matches(signature or ""):
        body.close()
        raise ApiError(401, "X-Slabot-Signature does not match the body")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        body.close()
        raise ApiError(415, f"unsupported content encoding {encoding!r}", ["send gzip or none"])
    try:
        return await run_in_threadpool(gunzip, body, max_bytes=ctx.settings.max_decompressed_bytes)
    except BodyTooLargeError as exc:
        raise ApiError(413, str(exc)) from None
    except BadEncodingError as exc:
        raise ApiError(422, str(exc)) from None
    finally:
        body.close()


def _ingest_limiter(request: Request) -> anyio.CapacityLimiter:
    """Ingests write one at a time anyway (SQLite's write lock, PostgreSQL's advisory lock):
    a few in flight keep parsing and evidence writes overlapping, while the rest wait in the
    event loop instead of crowding threads, connections and the GIL."""
    limiter: anyio.CapacityLimiter | None = getattr(request.app.state, "ingest_limiter", None)
    if limiter is None:
        limiter = request.app.state.ingest_limiter = anyio.CapacityLimiter(INGESTS_IN_FLIGHT)
    return limiter


async def _ingest(
    request: Request, body: Body, *, source: str, target: str | None
) -> IngestSummary:
    ctx: AppContext = request.app.state.ctx
    try:
        return await anyio.to_thread.run_sync(
            partial(ingest, ctx, body, source=source, target=target, now=ctx.clock()),
            limiter=_ingest_limiter(request),
        )
    except IngestRejectedError as exc:
        raise ApiError(422, "invalid Nuclei results: nothing was stored", exc.problems) from None
    except EvidenceUnavailableError as exc:
        raise ApiError(503, str(exc)) from None
    finally:
        body.close()


@router.post("/webhooks/nuclei", status_code=202)
async def nuclei_webhook(request: Request, target: str | None = None) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    body = await _receive_body(request, ctx, scheme="Bearer")
    summary = await _ingest(request, body, source="webhook", target=target)
    return JsonResponse(summary.as_dict(), status_code=202)


@router.post("/services/collector/event")
@router.post("/services/collector")
async def splunk_hec(request: Request) -> JsonResponse:
    ctx: AppContext = request.app.state.ctx
    body = await _receive_body(request, ctx, scheme="Splunk")
    summary = await _ingest(request, body, source="hec", target=None)
    # HEC clients look for text/code; the ingest summary rides along.
    return JsonResponse({"text": "Success", "code": 0, **summary.as_dict()})
