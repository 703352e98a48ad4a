"""The 422 answer to a request that does not validate: each problem's type, place and message, never the input
(FastAPI's default echoes it: a 5,000-character name came back whole). The pages show the messages as they are."""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

VALUE_ERROR = "Value error, "  # pydantic's prefix to a validator's own message, which says it all


async def invalid_request(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # registered for it alone (starlette types handlers broadly)
    detail = [{"type": e["type"], "loc": e["loc"], "msg": e["msg"].removeprefix(VALUE_ERROR)} for e in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


def refused(field: str, kind: str, message: str) -> RequestValidationError:
    """A refusal of one body field that a route checks itself, answered like the model's own (422)."""
    return RequestValidationError([{"type": kind, "loc": ("body", field), "msg": message}])
