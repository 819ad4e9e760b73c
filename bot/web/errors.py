"""The contract's JSON error shape: ``{"error": "...", "detail": [...]}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.web.responses import JsonResponse


class ApiError(Exception):
    def __init__(self, status: int, error: str, detail: Sequence[Any] = ()) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = list(detail)


class BodyTooLarge(ApiError):
    def __init__(self, limit: int, *, what: str = "request body") -> None:
        super().__init__(413, f"{what} exceeds the limit of {limit} bytes")


def error_response(status: int, error: str, detail: Sequence[Any] = ()) -> JsonResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JsonResponse({"error": error, "detail": list(detail)}, status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JsonResponse:
        return error_response(exc.status, exc.error, exc.detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JsonResponse:
        return error_response(exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JsonResponse:
        detail = [
            {"loc": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        return error_response(422, "invalid request", detail)
