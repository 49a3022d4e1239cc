"""The eval statistics against values worked out by hand (and checked against scipy where it has them)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aitelier.evaluate.stats import ranks, sign_test, spearman, wilson


def test_wilson_95_for_8_of_10():
    low, high = wilson(8, 10)
    assert (round(low, 3), round(high, 3)) == (0.490, 0.943)


def test_wilson_at_the_edges_stays_inside_0_1():
    low, high = wilson(0, 10)
    assert low == 0.0 and round(high, 4) == 0.2775
    low, high = wilson(10, 10)
    assert round(low, 4) == 0.7225 and high == 1.0
    assert wilson(0, 0) is None


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_contains_the_observed_rate(kn):
    k, n = kn
    low, high = wilson(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0


def test_sign_test_two_sided_exact():
    assert round(sign_test(9, 1), 4) == 0.0215  # 2 * 11/1024
    assert round(sign_test(1, 9), 4) == 0.0215
    assert sign_test(10, 0) == pytest.approx(2 / 1024)
    assert sign_test(5, 5) == 1.0
    assert round(sign_test(15, 5), 4) == 0.0414  # scipy.stats.binomtest(15, 20).pvalue
    assert sign_test(0, 0) is None


def test_ranks_share_the_average_of_ties():
    assert ranks([10, 20, 20, 5]) == [2.0, 3.5, 3.5, 1.0]


def test_spearman_with_ties():
    # scipy.stats.spearmanr([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]).statistic == 0.8207826816681233
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(0.8207826816681233)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_spearman_undefined_for_a_constant_or_one_pair():
    assert spearman([1, 2, 3], [4, 4, 4]) is None
    assert spearman([1], [2]) is None
