"""Measures taken in turn: a ratio against a baseline holds only if both saw the same
machine. Blocks measured one after the other on this shared 2-core machine gave ratios
that swung by half from one run to the next (a slow spell fell on one side only)."""

from __future__ import annotations

import statistics
from collections.abc import Callable


def in_turn(rounds: int, *measures: Callable[[], float]) -> list[list[float]]:
    """Each measure's results over ``rounds`` rounds, the measures taken in turn within a
    round, each round starting one further along (which one follows which changes its
    figure), so that a slow spell falls on all of them alike."""
    results: list[list[float]] = [[] for _ in measures]
    for round_number in range(rounds):
        for step in range(len(measures)):
            index = (round_number + step) % len(measures)
            results[index].append(measures[index]())
    return results


def median_ratio(ours: list[float], baseline: list[float]) -> float:
    """The median of each round's own ratio."""
    return statistics.median(o / b for o, b in zip(ours, baseline, strict=True))
