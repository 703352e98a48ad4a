"""Printing figures measured at several sizes (hours or days stored), with the ratio of the largest size's to the
smallest's: a figure that does not grow with the size shows x1.0."""

from __future__ import annotations

from collections.abc import Callable, Mapping


def print_ratios(runs: Mapping[float, Mapping[str, float]], width: int, figure: Callable[[str, float], str]) -> None:
    """One line per name of the largest size's run: ``figure(name, value)`` for each size, then the ratio."""
    small, large = min(runs), max(runs)
    for name in runs[large]:
        figures = "  ".join(figure(name, runs[size].get(name, 0.0)) for size in runs)
        ratio = runs[large].get(name, 0.0) / max(runs[small].get(name, 0.0), 1e-9)
        print(f"  {name:<{width}} {figures}   x{ratio:.1f}")
