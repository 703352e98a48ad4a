"""NEWS2 of the board's tiles: the alert core's vectorised score over the latest reading of every parameter."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np

from alerts.news2 import Response, score_parameters

# Board metric -> score_parameters argument. o2 (on supplemental oxygen) and avpu (new confusion) are 0/1 readings.
NEWS2_METRICS = ("rr", "spo2", "sbp", "hr", "temp", "o2", "avpu")
_VITALS = frozenset(NEWS2_METRICS[:5])

Latest = Mapping[str, Mapping[str, Sequence[float]]]  # resident_id -> metric -> (ts, value)


def news2(latest: Latest, scale2: Collection[str] = ()) -> dict[str, dict[str, object]]:
    """resident_id -> {"score", "response", "missing"} for the residents with at least one vital sign."""
    ids = [rid for rid, metrics in latest.items() if _VITALS.intersection(metrics)]
    if not ids:
        return {}
    values = np.full((len(NEWS2_METRICS), len(ids)), np.nan)
    for j, rid in enumerate(ids):
        metrics = latest[rid]
        for i, metric in enumerate(NEWS2_METRICS):
            reading = metrics.get(metric)
            if reading is not None:
                values[i, j] = reading[1]
    rr, spo2, sbp, hr, temp, o2, avpu = values
    scores = score_parameters(
        rr, spo2, np.array([rid in scale2 for rid in ids]), np.nan_to_num(o2) > 0.5, sbp, hr, avpu, temp
    )
    return {
        rid: {
            "score": int(scores.total[j]),
            "response": Response(int(scores.response[j])).name.lower(),
            "missing": int(np.isnan(values[:5, j]).sum()),  # of the five measured vitals (AVPU is rarely sent)
        }
        for j, rid in enumerate(ids)
    }
