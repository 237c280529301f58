"""Cluster-bootstrap intervals of test accuracies (emkit.analysis.confidence)."""

import numpy as np
import pytest

from emkit.analysis.confidence import accuracy_interval, accuracy_ratio_interval, finite_interval, grouped_hits


def test_grouped_hits_counts_and_averages_repeats():
    groups = np.array(["b", "a", "a", "c", "b", "b"])
    correct = np.array([[1, 1, 0, 0, 1, 0],
                        [0, 1, 1, 1, 1, 0]], dtype=bool)
    ids, hits, rows = grouped_hits(correct, groups)
    assert ids.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(rows, [2, 3, 1])
    # group a: 1 then 2 hits; b: 2 then 1; c: 0 then 1 -> means over the two repeats
    np.testing.assert_allclose(hits, [1.5, 1.5, 0.5])


def test_independent_rows_match_the_binomial_interval():
    rng = np.random.default_rng(0)
    n, p = 4000, 0.7
    correct = rng.random(n) < p
    res = accuracy_interval(correct, np.arange(n), n_resamples=4000, seed=1)
    acc = correct.mean()
    half = 1.96 * np.sqrt(acc * (1 - acc) / n)  # normal approximation of the binomial
    assert res["value"] == pytest.approx(acc)
    assert res["low"] < acc < res["high"]
    assert res["low"] == pytest.approx(acc - half, abs=0.004)
    assert res["high"] == pytest.approx(acc + half, abs=0.004)
    assert res["n_groups"] == n and res["confidence"] == 0.95


def test_groups_that_are_all_right_or_all_wrong_widen_the_interval():
    # 20 groups of 30 rows; whether a row is right is decided by its group alone
    groups = np.repeat(np.arange(20), 30)
    correct = np.repeat(np.arange(20) % 3 != 0, 30)  # 13 of 20 groups right
    clustered = accuracy_interval(correct, groups, seed=0)
    as_rows = accuracy_interval(correct, np.arange(len(correct)), seed=0)
    assert clustered["value"] == pytest.approx(as_rows["value"]) == pytest.approx(13 / 20)
    assert clustered["n_groups"] == 20
    width_clustered = clustered["high"] - clustered["low"]
    width_rows = as_rows["high"] - as_rows["low"]
    # 20 independent units instead of 600: the width grows by about sqrt(30)
    assert width_clustered > 3 * width_rows
    assert width_clustered == pytest.approx(2 * 1.96 * np.sqrt(0.65 * 0.35 / 20), rel=0.25)


def test_interval_is_deterministic_for_a_seed():
    rng = np.random.default_rng(3)
    correct, groups = rng.random(300) < 0.5, rng.integers(0, 15, 300)
    assert accuracy_interval(correct, groups, seed=7) == accuracy_interval(correct, groups, seed=7)


def test_ratio_of_identical_classifiers_is_exactly_one():
    rng = np.random.default_rng(0)
    correct, groups = rng.random(200) < 0.6, rng.integers(0, 10, 200)
    res = accuracy_ratio_interval(correct, correct, groups)
    assert res["value"] == res["low"] == res["high"] == pytest.approx(1.0)


def test_ratio_value_and_pairing():
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(25), 20)
    difficulty = np.repeat(rng.random(25), 20)  # some groups are hard for both classifiers
    base = rng.random(500)
    strong = base > difficulty * 0.8
    weak = strong & (rng.random(500) < 0.9)  # right on a subset of the strong one's hits
    res = accuracy_ratio_interval(weak, strong, groups, seed=0)
    assert res["value"] == pytest.approx(weak.mean() / strong.mean())
    assert res["low"] < res["value"] < res["high"] <= 1.0 + 1e-12  # weak never beats strong in any resample
    # pairing: the ratio's interval is narrower than the interval of the numerator's accuracy scaled by the ratio
    alone = accuracy_interval(weak, groups, seed=0)
    assert (res["high"] - res["low"]) < (alone["high"] - alone["low"]) / strong.mean()


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="boolean"):
        accuracy_interval(np.array([1, 0, 1]), [0, 0, 1])
    with pytest.raises(ValueError, match="groups has 2 entries for 3 test rows"):
        accuracy_interval(np.array([True, False, True]), [0, 1])
    with pytest.raises(ValueError, match="no correct test row"):
        accuracy_ratio_interval(np.array([True, False]), np.array([False, False]), [0, 1])
    with pytest.raises(ValueError, match="confidence"):
        accuracy_interval(np.array([True, False]), [0, 1], confidence=95)


def test_one_group_has_no_interval():
    res = accuracy_interval(np.array([True, False, True]), [4, 4, 4])
    assert res["value"] == pytest.approx(2 / 3)
    assert np.isnan(res["low"]) and np.isnan(res["high"])


def test_ratio_without_hits_in_some_resample_has_no_finite_interval():
    # only group 0 holds hits, of both classifiers: a resample without it has the ratio 0/0
    groups = np.repeat(np.arange(4), 5)
    both = groups == 0
    res = accuracy_ratio_interval(both, both, groups, seed=0)
    assert res["value"] == pytest.approx(1.0)
    assert np.isnan(res["low"]) and np.isnan(res["high"])
    assert finite_interval(res) is None
    assert finite_interval(accuracy_interval(np.array([True, False, True]), [4, 4, 4])) is None  # one group
    ok = accuracy_interval(both, groups, seed=0)
    assert finite_interval(ok) == (ok["low"], ok["high"]) and ok["low"] < ok["high"]
