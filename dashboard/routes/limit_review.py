"""The settling-in review of a resident's alarm limits (alerts.review): computed from their own readings at rest for
those who set thresholds, and the suggestions they accept set as the resident's thresholds and NEWS2 escalation (the
running platform picks both up at its next registry refresh, as it does any threshold set through the API)."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from alerts.review import LimitReview, LimitSuggestion, News2Suggestion, review_limits
from dashboard.deps import ScopeDep, StoreDep, ThresholdSetter, visible_resident
from dashboard.schemas import (
    DAY_S,
    REVIEW_DEFAULT_DAYS,
    REVIEW_MAX_DAYS,
    LimitChoice,
    LimitReviewApplied,
    LimitReviewApply,
    LimitReviewPublic,
    News2Choice,
    News2EscalationPublic,
    ThresholdPublic,
)

router = APIRouter(prefix="/api/residents/{resident_id}/limit-review", tags=["thresholds"])

Days = Annotated[int, Query(ge=1, le=REVIEW_MAX_DAYS, description="the period reviewed: this many days up to now")]
CHANGED = "the review has changed since it was shown: compute it again"


@router.get("", responses={422: {"description": "days outside 1..30"}})
def get_review(
    resident_id: str, _: ThresholdSetter, scope: ScopeDep, store: StoreDep, days: Days = REVIEW_DEFAULT_DAYS
) -> LimitReviewPublic:
    resident = visible_resident(store, scope, resident_id)
    end = time.time()
    return LimitReviewPublic.of(review_limits(store, resident, end - days * DAY_S, end))


@router.post(
    "/apply",
    responses={
        409: {"description": "the review of that period now suggests something else"},
        422: {"description": "a choice the review does not offer, or a low limit that would not be below the high"},
    },
)
def apply_review(
    resident_id: str, body: LimitReviewApply, user: ThresholdSetter, scope: ScopeDep, store: StoreDep
) -> LimitReviewApplied:
    """Sets the chosen suggestions, all or (when one is refused) none. The period is reviewed again: the choices
    must be what it suggests now. A threshold's other side, which no chosen suggestion is for, keeps its value."""
    resident = visible_resident(store, scope, resident_id)
    review = review_limits(store, resident, body.start, body.end)
    news2 = _news2_suggestion(review, body.news2)
    accepted = replace(review, thresholds=tuple(_suggestion(review, choice) for choice in body.thresholds), news2=news2)
    now = time.time()
    thresholds = accepted.thresholds_to_set(user.username, now, store.thresholds(resident_id))
    for t in thresholds:
        if t.low is not None and t.high is not None and t.low >= t.high:
            raise HTTPException(422, f"{t.metric}: the low limit {t.low:g} would not be below the high {t.high:g}")
    escalation = accepted.news2_escalation(user.username, now)
    for threshold in thresholds:
        store.set_threshold(threshold)
    if escalation is not None:
        store.set_news2_escalation(escalation)
    return LimitReviewApplied(
        thresholds=[ThresholdPublic.of(t) for t in thresholds],
        news2=News2EscalationPublic.of(escalation) if escalation is not None else None,
    )


def _suggestion(review: LimitReview, choice: LimitChoice) -> LimitSuggestion:
    for suggestion in review.thresholds:
        if (suggestion.rule, suggestion.context) == (choice.rule, choice.context):
            if not math.isclose(suggestion.suggested, choice.suggested):
                which = choice.rule if choice.context == "always" else f"{choice.rule} ({choice.context})"
                now = f"{suggestion.suggested:g} now, {choice.suggested:g} shown"
                raise HTTPException(409, f"{CHANGED} ({which}: {now})")
            return suggestion
    offered = ", ".join(f"{s.rule} ({s.context})" for s in review.thresholds) or "none"
    wanted = f"{choice.rule!r} ({choice.context})"
    raise HTTPException(422, f"the review of this period suggests no limit for {wanted} (it suggests: {offered})")


def _news2_suggestion(review: LimitReview, choice: News2Choice | None) -> News2Suggestion | None:
    if choice is None:
        return None
    suggestion = review.news2
    if suggestion is None:
        raise HTTPException(422, "the review suggests no NEWS2 escalation")
    now = (suggestion.urgent_from, suggestion.emergency_from, suggestion.red_score)
    if now != (choice.urgent_from, choice.emergency_from, choice.red_score):
        raise HTTPException(409, f"{CHANGED} (NEWS2: urgent from {now[0]}, emergency from {now[1]} now)")
    return suggestion
