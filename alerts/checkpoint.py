"""The alert core's state kept across a planned restart: saved at a clean stop, taken up again at the next start.

After a crash the state is rebuilt from stored data (alerts.rebuild): aggregates, then a replay of the last 20
minutes (2.5 h of the sparse streams). That costs about 30 s per 1,000 residents and approximates a few parts (its
docstring lists them). A clean stop knows more: every committed batch was evaluated and every finding applied, so
the engine's arrays *are* the state. `save` writes the engine with a stamp of what that state depends on; `load`
gives it back at the next start only if the stamp still holds:

- the code: a digest of the sources whose objects the state holds (the rules, the catalogue's metric numbering, the
  registry's types) and of numpy's and Python's versions;
- the worker's partition: which residents it owns;
- the store: no row stored since the save. The writers keep each device's newest stored time (``device_seen``); its
  digest over the worker's devices must be what it was at the save (a standby worker that took the partition over
  in the meantime, or a backup restored, changes it).

Otherwise the start rebuilds, as after a crash. Nor is a state saved that missed rows stored while it ran (`unseen`:
another worker on the partition, a batch that failed in the engine): the stop checks each device's newest stored
row against the engine's. The file is removed as it is opened, whatever then becomes of it, so
a later crash never resumes from a state older than what the process has seen since. It is signed with the
deployment's secret key (HMAC-SHA256) and unpickled only once the signature holds: it is written by carewatch for
carewatch, and anything else is refused unread.

Layout: ``MAGIC``, the 32-byte signature, then what it signs: the stamp (4-byte big-endian length, JSON) and the
engine (pickle protocol 5, streamed both ways: nothing the size of the state is held in memory twice).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import os
import pickle
import struct
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from alerts.rebuild import LAST_SEEN_S

if TYPE_CHECKING:
    from alerts.engine import AlertEngine

log = logging.getLogger(__name__)

MAGIC = b"carewatch alert state 1\n"
DIGEST_BYTES = 32  # SHA-256
HEADER_MAX = 1 << 20  # the stamp is a few hundred bytes; a larger length is a damaged file
READ_CHUNK = 1 << 22
SEEN_TOLERANCE_S = 1e-3  # TimescaleDB keeps microseconds: a stored time may round above the engine's float
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


def stamp(last_seen: Mapping[str, float], owned: Iterable[str], partition: int, partitions: int) -> Stamp:
    """The stamp of a worker's state now: ``last_seen`` is `Store.device_last_seen`, ``owned`` its devices."""
    return Stamp(code_digest(), partition, partitions, devices_digest(last_seen, owned))


def unseen(engine: AlertEngine, stored: Mapping[str, float], owned: Iterable[str], started_at: float) -> list[str]:
    """The ``owned`` devices whose newest stored row (``stored``: `Store.device_last_seen`) the engine has not had,
    among those the start's state covers (rows since ``LAST_SEEN_S`` before ``started_at``). Any: the store holds
    rows this process did not evaluate (another worker shared the partition, a batch failed in the engine), so its
    state is not the whole story and must not be saved."""
    had = engine.devices_seen()
    since = started_at - LAST_SEEN_S
    return sorted(
        d for d in set(owned)
        if (t := stored.get(d)) is not None and t >= since and had.get(d, -math.inf) < t - SEEN_TOLERANCE_S
    )  # fmt: skip


def save(path: Path, engine: AlertEngine, stamp: Stamp, key: bytes) -> int:
    """Write the engine's state (atomically: a complete file or none). Returns its size in bytes."""
    header = json.dumps(asdict(stamp)).encode()
    partial = path.with_name(path.name + ".partial")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as file:
            file.write(MAGIC + bytes(DIGEST_BYTES))
            signing = _Signing(file, hmac.new(key, digestmod=hashlib.sha256))
            signing.write(struct.pack(">I", len(header)) + header)
            pickle.dump(engine, signing, protocol=5)
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


def load(path: Path, stamp: Stamp, key: bytes) -> AlertEngine | None:
    """The engine saved at ``path`` if its file is intact and ``stamp`` still holds, else None (and why is logged).
    The file is gone afterwards either way."""
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
        if saved != stamp:
            changed = [name for name, value in asdict(stamp).items() if asdict(saved)[name] != value]
            log.info("the saved alert state is out of date (%s changed since); rebuilding from stored data",
                     ", ".join(changed))  # fmt: skip
            return None
        try:
            engine: AlertEngine = pickle.load(file)  # noqa: S301 - signed by this deployment's key, checked above
        except Exception:  # a bug, with the code unchanged: the rebuild is always possible
            log.exception("the saved alert state could not be read; rebuilding from stored data")
            return None
        return engine


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
