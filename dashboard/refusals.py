"""The 422 answer to a request that does not validate: each problem's type, place and message, never the input
(FastAPI's default echoes it: a 5,000-character name came back whole); the 409 answer to a removal that would leave
shifts on the on-call rota to someone no longer there. The pages show the messages as they are."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from carewatch.storage.base import StillOnRota

VALUE_ERROR = "Value error, "  # pydantic's prefix to a validator's own message, which says it all


async def invalid_request(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # registered for it alone (starlette types handlers broadly)
    detail = [{"type": e["type"], "loc": e["loc"], "msg": e["msg"].removeprefix(VALUE_ERROR)} for e in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


# The routes whose removal the store may refuse with StillOnRota document it so.
ON_ROTA: dict[int | str, dict[str, Any]] = {
    409: {"description": "the contact still has current or upcoming shifts there: reassign them first"}
}


async def still_on_rota(_: Request, exc: Exception) -> JSONResponse:
    """409: which shifts are in the way, said (``detail``) and listed (``shifts``) for the admin to reassign."""
    assert isinstance(exc, StillOnRota)  # registered for it alone
    shifts = [
        {"site_id": s.site_id, "contact_id": s.contact_id, "starts_at": s.starts_at, "ends_at": s.ends_at}
        for s in exc.shifts
    ]
    return JSONResponse({"detail": str(exc), "shifts": shifts}, status_code=409)


def refused(field: str, kind: str, message: str) -> RequestValidationError:
    """A refusal of one body field that a route checks itself, answered like the model's own (422)."""
    return RequestValidationError([{"type": kind, "loc": ("body", field), "msg": message}])
