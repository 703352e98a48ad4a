"""The tiles' NEWS2: the alert core's scorer over each resident's latest readings."""

from __future__ import annotations

from dashboard.scoring import news2


def test_news2_of_latest_readings() -> None:
    latest = {
        "well": {"rr": (0, 16), "spo2": (0, 97), "sbp": (0, 125), "hr": (0, 72), "temp": (0, 36.8)},
        "red": {"rr": (0, 26), "spo2": (0, 97), "sbp": (0, 125), "hr": (0, 72), "temp": (0, 36.8)},  # RR 3 points
        "ill": {"rr": (0, 26), "spo2": (0, 90), "sbp": (0, 95), "hr": (0, 120), "temp": (0, 38.5), "o2": (0, 1)},
        "partial": {"hr": (0, 72)},
        "no vitals": {"battery": (0, 80)},
    }
    scores = news2(latest)
    assert scores["well"] == {"score": 0, "response": "low", "missing": 0}
    assert scores["red"] == {"score": 3, "response": "low_medium", "missing": 0}
    assert scores["ill"]["score"] == 3 + 3 + 2 + 2 + 2 + 1 and scores["ill"]["response"] == "high"
    assert scores["partial"] == {"score": 0, "response": "low", "missing": 4}
    assert "no vitals" not in scores


def test_spo2_scale_2_is_per_resident() -> None:
    latest = {"a": {"spo2": (0, 89)}, "b": {"spo2": (0, 89)}}
    scores = news2(latest, scale2={"b"})
    assert scores["a"]["score"] == 3 and scores["b"]["score"] == 0  # 88-92 % scores 0 on scale 2 (on air)
