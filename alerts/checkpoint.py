"""The alert core's state kept across a restart: saved while the process runs and at a clean stop, taken up again at
the next start.

Without a saved state the start rebuilds from stored data (alerts.rebuild): aggregates, then a replay of the last 20
minutes (2.5 h of the sparse streams). That costs about 30 s per 1,000 residents, with no alert evaluated meanwhile,
and approximates a few parts (its docstring lists them). A saved state is exact. `save` writes the engine, the
findings it had submitted that the lifecycle may not have applied (``pending``) and a stamp of what the state
depends on; `load` gives them back at the next start only if the stamp still holds:

- the code: a digest of the sources whose objects the state holds (the rules, the catalogue's metric numbering, the
  registry's types) and of numpy's and Python's versions;
- the worker's partition: which residents it owns.

Then the stamp says how much more the start must do:

- saved at a clean stop (``clean``: every committed batch evaluated, every finding applied) and nothing stored since
  (``devices``: the digest of each of the worker's devices' newest stored time, as the writers keep it in
  ``device_seen``, is what it was at the save): the arrays *are* the state (`alerts.rebuild.resume`);
- else, saved by a running process every few minutes (``Settings.alert_state_interval_seconds``) that may have
  died since, or at a stop after which rows were stored (another worker took the partition over, a backup was
  restored): the rows stored since are replayed, and what they and the time since find is checked against the
  stored alerts (`alerts.rebuild.recover`), which declines (and the start rebuilds) when the store is behind the
  state or much was stored since.

A clean stop does not save as clean a state that missed rows stored while it ran (`unseen`: another worker on the
partition, a batch that failed in the engine): the stop checks each device's newest stored row against the
engine's. The file is removed as it is opened, whatever then becomes of it: the process that took it up saves its own
at its first tick. It is signed with the deployment's secret key (HMAC-SHA256) and unpickled only once the signature
holds: it is written by carewatch for carewatch, and anything else is refused unread.

Layout: ``MAGIC``, the 32-byte signature, then what it signs: the stamp (4-byte big-endian length, JSON) and the
engine with its pending findings (pickle protocol 5, streamed both ways: nothing the size of the state is held in
memory twice).
"""

from __future__ import annotations

import gc
import hashlib
import hmac
import json
import logging
import math
import os
import pickle
import struct
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from alerts.rebuild import LAST_SEEN_S, STORED_RESOLUTION_S

if TYPE_CHECKING:
    from alerts.engine import AlertEngine, Found

log = logging.getLogger(__name__)

MAGIC = b"carewatch alert state 2\n"
DIGEST_BYTES = 32  # SHA-256
HEADER_MAX = 1 << 20  # the stamp is a few hundred bytes; a larger length is a damaged file
READ_CHUNK = 1 << 22
_ROOT = Path(__file__).resolve().parent.parent
# The sources of every class a saved engine holds: a change to any of them may change the state's layout or meaning.
STATE_SOURCES = ("alerts", "carewatch/catalog.py", "carewatch/model.py")


@dataclass(frozen=True, slots=True)
class Stamp:
    """What a saved state depends on besides itself."""

    code: str  # `code_digest()`
    partition: int
    partitions: int
    devices: str  # `devices_digest()` of the worker's devices at the save
    clean: bool  # saved at a clean stop that evaluated and applied everything; else by a running process

    def fits(self, current: Stamp) -> bool:
        """Whether a state saved with this stamp can serve the ``current`` process (same code and partition)."""
        return (self.code, self.partition, self.partitions) == (current.code, current.partition, current.partitions)


@dataclass(frozen=True, slots=True)
class Saved:
    """A state taken up: the engine, the findings submitted and maybe not applied at the save, and whether the state
    is the whole story (saved clean, nothing stored since) or the rows stored since must be replayed."""

    engine: AlertEngine
    pending: Found
    untouched: bool


def code_digest() -> str:
    digest = hashlib.sha256(f"{sys.version_info[:2]} numpy {np.__version__}\n".encode())
    for source in STATE_SOURCES:
        path = _ROOT / source
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(_ROOT).as_posix().encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def devices_digest(last_seen: Mapping[str, float], owned: Iterable[str]) -> str:
    """A digest of the newest stored time of each of the ``owned`` devices (``Store.device_last_seen``)."""
    seen = sorted((d, last_seen[d]) for d in set(owned) if d in last_seen)
    return hashlib.sha256(json.dumps(seen).encode()).hexdigest()


def stamp(
    last_seen: Mapping[str, float], owned: Iterable[str], partition: int, partitions: int, clean: bool = False
) -> Stamp:
    """The stamp of a worker's state now: ``last_seen`` is `Store.device_last_seen`, ``owned`` its devices."""
    return Stamp(code_digest(), partition, partitions, devices_digest(last_seen, owned), clean)


def unseen(engine: AlertEngine, stored: Mapping[str, float], owned: Iterable[str], started_at: float) -> list[str]:
    """The ``owned`` devices whose newest stored row (``stored``: `Store.device_last_seen`) the engine has not had,
    among those the start's state covers (rows since ``LAST_SEEN_S`` before ``started_at``). Any: the store holds
    rows this process did not evaluate (another worker shared the partition, a batch failed in the engine), so its
    state is not the whole story and must not be saved."""
    had = engine.devices_seen()
    since = started_at - LAST_SEEN_S
    return sorted(
        d for d in set(owned)
        if (t := stored.get(d)) is not None and t >= since and had.get(d, -math.inf) < t - STORED_RESOLUTION_S
    )  # fmt: skip


def save(path: Path, engine: AlertEngine, stamp: Stamp, key: bytes, pending: Found = ([], [])) -> int:
    """Write the engine's state and the ``pending`` findings (atomically: a complete file or none). Returns its size
    in bytes."""
    header = json.dumps(asdict(stamp)).encode()
    partial = path.with_name(path.name + ".partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as file:
            file.write(MAGIC + bytes(DIGEST_BYTES))
            signing = _Signing(file, hmac.new(key, digestmod=hashlib.sha256))
            signing.write(struct.pack(">I", len(header)) + header)
            with _collector_paused():
                pickle.dump((engine, pending), signing, protocol=5)
            file.seek(len(MAGIC))
            file.write(signing.mac.digest())
            file.flush()
            os.fsync(file.fileno())
            size = file.seek(0, os.SEEK_END)
    except BaseException:  # a full disk, say: leave nothing behind
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)
    return size


def load(path: Path, current: Stamp, key: bytes) -> Saved | None:
    """The state saved at ``path`` if its file is intact and its stamp fits the ``current`` one, else None (and why
    is logged). The file is gone afterwards either way."""
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return None
    with file:
        path.unlink()
        try:
            saved = _verified_stamp(file, key)
        except ValueError as exc:
            log.warning("the saved alert state %s is not used: %s; rebuilding from stored data", path, exc)
            return None
        if not saved.fits(current):
            changed = [name for name in ("code", "partition", "partitions")
                       if getattr(saved, name) != getattr(current, name)]  # fmt: skip
            log.info("the saved alert state is out of date (%s changed since); rebuilding from stored data",
                     ", ".join(changed))  # fmt: skip
            return None
        try:
            with _collector_paused():
                engine, pending = pickle.load(file)  # noqa: S301 - signed by this deployment's key, checked above
        except Exception:  # a bug, with the code unchanged: the rebuild is always possible
            log.exception("the saved alert state could not be read; rebuilding from stored data")
            return None
        return Saved(engine, pending, saved.clean and saved.devices == current.devices)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while a state is pickled or unpickled: the millions of objects a large one
    creates (the registry's records, their ids) would set off collections that each walk all of them (at 100,000
    residents a save took 5.2 s with it on, 3.5-4.4 s off; a take-up 3.4 s against 2.4 s)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Signing:
    """A binary file's ``write`` that also feeds everything written to a MAC."""

    def __init__(self, file: IO[bytes], mac: hmac.HMAC) -> None:
        self.file, self.mac = file, mac

    def write(self, data: bytes | memoryview) -> int:
        self.mac.update(data)
        return self.file.write(data)


def _verified_stamp(file: IO[bytes], key: bytes) -> Stamp:
    """Check the signature over the whole file, then read the stamp; ``file`` is left at the pickled engine."""
    if file.read(len(MAGIC)) != MAGIC:
        raise ValueError("not a saved alert state of this format")
    signature = file.read(DIGEST_BYTES)
    mac = hmac.new(key, digestmod=hashlib.sha256)
    body = len(MAGIC) + DIGEST_BYTES
    while chunk := file.read(READ_CHUNK):
        mac.update(chunk)
    if not hmac.compare_digest(mac.digest(), signature):
        raise ValueError("its signature does not match (damaged, or written with another secret key)")
    file.seek(body)
    (length,) = struct.unpack(">I", file.read(4))
    if length > HEADER_MAX:
        raise ValueError("its header is damaged")
    try:
        return Stamp(**json.loads(file.read(length)))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"its header is not a stamp of this version ({exc})") from exc
