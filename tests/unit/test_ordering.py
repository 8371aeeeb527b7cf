"""picks.ordering.time_order is np.lexsort's order, whatever the input's order and block size."""

from __future__ import annotations

import numpy as np
import picks.ordering as ordering
import pytest
from picks.ordering import time_order


def _cases(rng: np.random.Generator, count: int, largest: int) -> list[tuple[np.ndarray, np.ndarray]]:
    cases = []
    for trial in range(count):
        n = int(rng.integers(2, largest))
        groups = rng.integers(0, int(rng.integers(1, 40)), n)
        times = rng.integers(0, int(rng.integers(1, 60)), n)
        if trial % 3 == 0:  # already in time order: the one-sort path
            times = np.sort(times)
        if trial % 5 == 0:  # already by group and time: no sort
            order = np.lexsort((times, groups))
            groups, times = groups[order], times[order]
        cases.append((groups, times))
    return cases


@pytest.mark.parametrize("block", [7, 1 << 20])
def test_time_order_is_lexsort_order_across_blocks(monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    monkeypatch.setattr(ordering, "_BLOCK", block)  # blocks smaller than the data: every boundary
    for groups, times in _cases(np.random.default_rng(3), 150, 400):
        rows = np.arange(len(groups))
        np.testing.assert_array_equal(time_order(groups, times), np.lexsort((times, groups)))
        np.testing.assert_array_equal(
            time_order(groups, times, newest_first=True), np.lexsort((-rows, -times, groups))
        )
