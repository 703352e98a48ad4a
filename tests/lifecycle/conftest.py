"""Fixtures of the lifecycle tests: a controlled clock, recording channels (unit fakes) and a harness that wires the
lifecycle, router, escalator and dispatcher the way carewatch/runtime.py does, on each storage backend."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from alerts.engine import Cleared
from alerts.escalation import Escalator, PolicyDefaults
from alerts.lifecycle import Lifecycle
from alerts.notify.base import Message, TransientDeliveryError
from alerts.notify.dispatch import Dispatcher, RetryPolicy
from alerts.routing import Router
from carewatch.model import AlertDraft, Contact, ContactLink, ContactRole, Resident, Severity, Site, SiteKind
from carewatch.storage.base import ContactChannel, ContactPreference, OnCallShift, Store

T0 = 1_764_403_200.0  # 2025-11-29 08:00 UTC = 16:00 in Shanghai
SETTLE_S = 10.0


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@dataclass
class Recorder:
    """A channel that records what it is given; it can be told to fail transiently a number of times first."""

    name: str
    sent: list[Message] = field(default_factory=list)
    failures: int = 0

    def send(self, message: Message) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise TransientDeliveryError("receiver down")
        self.sent.append(message)


def seed_world(store: Store) -> None:
    """Site s1 (Shanghai) with resident r1; operator, clinic, on-call clinician, two family members."""
    store.upsert_sites([Site("s1", "Sunrise Home", SiteKind.CARE_INSTITUTION, "Asia/Shanghai")])
    store.upsert_residents([Resident("r1", "s1", "Wang Fang", "101", 1938), Resident("r2", "s1", "Li Wei")])
    store.upsert_contacts(
        [
            Contact("op1", "Zhang Operator", ContactRole.OPERATOR),
            Contact("clinic", "Community clinic", ContactRole.CLINICIAN),
            Contact("doc1", "Dr Chen", ContactRole.CLINICIAN),
            Contact("fam1", "Wang Min", ContactRole.FAMILY, email="min@example.org"),
            Contact("fam2", "Wang Lei", ContactRole.FAMILY),
        ],
        [ContactLink("r1", "fam1", "daughter", 1), ContactLink("r1", "fam2", "son", 2)],
    )
    store.add_site_contacts("s1", ["op1", "clinic"])
    store.add_on_call_shifts([OnCallShift("s1", "doc1", T0 - 3600, T0 + 12 * 3600)])
    store.upsert_contact_channels(
        [
            ContactChannel("op1", "webhook", "http://127.0.0.1:9/op1"),
            ContactChannel("clinic", "webhook", "http://127.0.0.1:9/clinic"),
            ContactChannel("doc1", "email", "chen@clinic.example"),
            ContactChannel("fam1", "mqtt", "carewatch/v1/notify/fam1"),
            ContactChannel("fam1", "email", "min@example.org"),
            ContactChannel("fam2", "mqtt", "carewatch/v1/notify/fam2"),
        ]
    )
    # fam2 wants only falls and critical SpO2, and sleeps 22:00-07:00 Shanghai time.
    store.upsert_contact_preferences(
        [ContactPreference("fam2", "Asia/Shanghai", 22 * 60, 7 * 60, (("fall", Severity.WARNING),))]
    )


def spo2_draft(at: float = T0, severity: Severity = Severity.URGENT, resident: str = "r1") -> AlertDraft:
    evidence = {"metric": "spo2", "window": [at - 60, at], "readings": [[at - 60, 89.0], [at - 5, 87.0]]}
    return AlertDraft(resident, "s1", "spo2_low", severity, at, "SpO2 low", "SpO2 below 90 % for 60 s", evidence)


class Harness:
    """The lifecycle as runtime.py wires it, with recording channels and a controlled clock."""

    HOLD_S = 60.0
    FLAP_S = 600.0
    T0 = T0
    draft = staticmethod(spo2_draft)
    seed = staticmethod(seed_world)

    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self.channels = {n: Recorder(n) for n in ("websocket", "webhook", "email", "mqtt")}
        self.dispatcher = Dispatcher(store, list(self.channels.values()), RetryPolicy(3, 0.01, 0.02), clock)
        self.router = Router(store, self.dispatcher, clock)
        self.defaults = PolicyDefaults(on_call_after_s=600, family_after_s=1200, reminder_every_s=300, reminders=2)
        self.escalator = Escalator(store, self.router, self.defaults, clock)
        self.changes: list[Any] = []
        self.lifecycle = Lifecycle(
            store, [self], self.router, self.escalator, clock, hold_s=self.HOLD_S, flap_window_s=self.FLAP_S
        )

    def alert_changed(self, alert: Any, snoozed_until: float | None = None) -> None:  # the dashboard's Notifier
        self.changes.append(alert)

    def cleared(self, at: float, resident: str = "r1") -> Cleared:
        return Cleared(resident, "spo2_low", at)

    def settle(self) -> None:
        """Wait until nothing is due on the clock: what is still pending waits for a later time (a deferral's end, a
        retry) that the test moves the clock to."""
        deadline = time.monotonic() + SETTLE_S
        while any(item.due_at <= self.clock.now for item in self.store.outbox(pending_only=True)):
            if time.monotonic() > deadline:
                raise AssertionError("deliveries did not settle")
            time.sleep(0.005)

    def sent(self, channel: str | None = None) -> list[tuple[str, str, str]]:
        """(contact, channel, kind) of everything delivered, in order."""
        self.settle()
        return [
            (m.contact_id, m.channel, m.kind)
            for c in self.channels.values()
            if channel in (None, c.name)
            for m in c.sent
        ]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def harness(store: Store, clock: Clock) -> Iterator[Harness]:
    seed_world(store)
    h = Harness(store, clock)
    h.dispatcher.start()
    yield h
    h.dispatcher.stop()
