"""History queries: raw readings for short windows, roll-ups for long ones (chosen here), and explicit gaps; the
readings' statistics the restart rebuild learns from, read from the hour roll-up where it is complete.

The Apache edition has no ``time_bucket_gapfill``: ``fill_gaps`` lists every bucket of a window, so a chart shows a
gap where a device was offline instead of drawing a line across it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from carewatch.storage.base import Bucket
from carewatch.storage.rollups import HOUR, MINUTE, Rollup

# Up to this window the raw readings are read: 6 h of 5-second vitals is ~4,300 rows of one resident and metric,
# a few milliseconds from the (resident_id, metric, time) index; longer windows read a roll-up.
RAW_MAX_WINDOW_S = 6 * 3600
MAX_FILLED_BUCKETS = 10_000  # a filled series is at most this long: a chart has a few hundred pixel columns


def source_for(window_s: float, bucket_s: float) -> Rollup | None:
    """For windows over RAW_MAX_WINDOW_S, the coarsest roll-up whose width divides the bucket width; None: raw."""
    if window_s <= RAW_MAX_WINDOW_S:
        return None
    for rollup in (HOUR, MINUTE):
        if bucket_s >= rollup.width_s and int(bucket_s) % rollup.width_s == 0:
            return rollup
    return None


def minute_multiple(bucket_s: float) -> int:
    """The bucket width a short window is read in from the minute roll-up (where retention removed its raw readings):
    ``bucket_s`` when it is whole minutes, else one minute (the roll-up holds nothing finer)."""
    width = MINUTE.width_s
    return int(bucket_s) if bucket_s >= width and int(bucket_s) % width == 0 else width


def stats_spans(start: float, end: float, bucket_s: float, watermark: float | None) -> list[tuple[bool, float, float]]:
    """[start, end) cut into (from the hour roll-up?, start, end) spans, in order: the whole hours before the hour
    roll-up's ``watermark`` come from the roll-up, the rest from the raw readings. Buckets that are not whole hours
    are read raw throughout."""
    hour = HOUR.width_s
    first = float(math.ceil(start / hour) * hour)
    split = first
    if watermark is not None and bucket_s % hour == 0:
        split = max(first, min(watermark, math.floor(end / hour) * hour))
    if split == first:
        return [(False, start, end)]
    spans = [(False, start, first), (True, first, split), (False, split, end)]
    return [span for span in spans if span[1] < span[2]]


def merge(*parts: Sequence[Bucket]) -> list[Bucket]:
    """Buckets of several sources (roll-up before the watermark, raw after it) combined by start, oldest first."""
    merged: dict[float, Bucket] = {}
    for part in parts:
        for b in part:
            seen = merged.get(b.start)
            if seen is None:
                merged[b.start] = b
            else:
                n = seen.samples + b.samples
                mean = (seen.mean * seen.samples + b.mean * b.samples) / n
                merged[b.start] = Bucket(b.start, n, min(seen.min, b.min), max(seen.max, b.max), mean)
    return [merged[start] for start in sorted(merged)]


def fill_gaps(
    buckets: Sequence[Bucket], start: float, end: float, bucket_s: float
) -> list[tuple[float, Bucket | None]]:
    """(bucket start, the bucket or None: no readings) for every epoch-aligned bucket overlapping [start, end),
    oldest first.

    Raises ValueError beyond MAX_FILLED_BUCKETS."""
    width = int(bucket_s)
    first = math.floor(start / width) * width
    count = max(0, math.ceil((end - first) / width))
    if count > MAX_FILLED_BUCKETS:
        raise ValueError(f"{count} buckets of {width} s: at most {MAX_FILLED_BUCKETS}")
    by_start = {b.start: b for b in buckets}
    return [(float(first + i * width), by_start.get(float(first + i * width))) for i in range(count)]
