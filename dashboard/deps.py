"""Dependency aliases for the routes: what the app was built with, from app.state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from alerts.lifecycle import Lifecycle
from carewatch.storage.base import Store
from dashboard.hub import Hub


def _store(request: Request) -> Store:
    return request.app.state.context.store  # type: ignore[no-any-return]


def _lifecycle(request: Request) -> Lifecycle:
    return request.app.state.context.lifecycle  # type: ignore[no-any-return]


StoreDep = Annotated[Store, Depends(_store)]
LifecycleDep = Annotated[Lifecycle, Depends(_lifecycle)]


def hub_of(app: object) -> Hub:
    return app.state.context.hub  # type: ignore[attr-defined, no-any-return]
