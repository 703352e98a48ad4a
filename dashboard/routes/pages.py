"""The web pages. Each is a static HTML file with its script; the data comes from the API and the websocket.

A visitor without a session is sent to the login page; a family member is sent to the family page from the staff
pages (the resident page shows them their relative only: the API answers 404 for anyone else). The pages hold no
data themselves, so this is convenience: the API enforces every permission.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from carewatch.storage.base import Role, User
from dashboard.access import Permission, allowed
from dashboard.deps import OptionalUser

STATIC = Path(__file__).resolve().parents[1] / "static"

router = APIRouter(include_in_schema=False)


def _page(request: Request, user: User | None, name: str, permission: Permission | None = None) -> Response:
    if user is None:
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    if user.role is Role.FAMILY and name not in ("family.html", "resident.html"):
        return RedirectResponse("/family", status_code=303)
    if permission is not None and not allowed(user, permission):
        return RedirectResponse("/", status_code=303)
    return FileResponse(STATIC / name, headers={"Cache-Control": "no-store"})


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    """The icon browsers ask for by this name, as an SVG (one that draws no SVG icon shows its default)."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})


@router.get("/login")
def login_page() -> FileResponse:
    return FileResponse(STATIC / "login.html")


@router.get("/")
def board(request: Request, user: OptionalUser) -> Response:
    return _page(request, user, "index.html")


@router.get("/residents/{resident_id}")
def resident_page(request: Request, user: OptionalUser, resident_id: str) -> Response:
    return _page(request, user, "resident.html")


@router.get("/family")
def family_page(request: Request, user: OptionalUser) -> Response:
    if user is not None and user.role is not Role.FAMILY:
        return RedirectResponse("/", status_code=303)
    return _page(request, user, "family.html")


@router.get("/admin")
def admin_page(request: Request, user: OptionalUser) -> Response:
    return _page(request, user, "admin.html", Permission.ADMINISTER)


@router.get("/system")
def system_page(request: Request, user: OptionalUser) -> Response:
    return _page(request, user, "system.html", Permission.SYSTEM)
