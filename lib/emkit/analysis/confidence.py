"""Confidence intervals of test accuracies whose test rows come in groups (the synapses of one neuron).

The synapses of one presynaptic neuron share that neuron's idiosyncrasies, so they are not independent test cases:
an interval that resamples synapses is too narrow when a test set holds a few dozen neurons. The intervals here
resample whole groups instead — the cluster (case) bootstrap of Davison & Hinkley 1997, *Bootstrap Methods and their
Application*, §3.8 — computed with :func:`scipy.stats.bootstrap` on per-group hit counts: a group enters a resample
with all of its rows, and an accuracy is (hits of the drawn groups) / (rows of the drawn groups).

Paired comparisons (one accuracy over another on the same test rows, e.g. a 10 %-label probe over a supervised
reference) resample the same groups for both, so what the two share does not widen the interval of their ratio.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

DEFAULT_RESAMPLES = 2000


def grouped_hits(correct: Any, groups: Sequence) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-group hit counts of a boolean correctness array.

    Parameters
    ----------
    correct : array of bool, shape (N,) or (R, N)
        Whether each test row was classified correctly; R rows are R repeats (e.g. label draws) on the same test
        rows, whose hit counts are averaged.
    groups : sequence, length N
        The group (e.g. presynaptic neuron id) of each test row.

    Returns
    -------
    group_ids : array, shape (G,)
        The distinct groups, sorted.
    hits : float array, shape (G,)
        Correct rows per group (mean over repeats).
    rows : float array, shape (G,)
        Rows per group.
    """
    c = np.asarray(correct)
    if c.dtype != bool:
        raise ValueError(f"correct must be a boolean array, got dtype {c.dtype}")
    if c.ndim == 1:
        c = c[None, :]
    if c.ndim != 2:
        raise ValueError(f"correct must have shape (N,) or (R, N), got {c.shape}")
    g = np.asarray(groups)
    if g.ndim != 1 or len(g) != c.shape[1]:
        raise ValueError(f"groups has {g.size} entries for {c.shape[1]} test rows")
    if len(g) == 0:
        raise ValueError("no test rows")
    group_ids, codes = np.unique(g, return_inverse=True)
    rows = np.bincount(codes, minlength=len(group_ids)).astype(np.float64)
    hits = np.stack([np.bincount(codes, weights=r.astype(np.float64), minlength=len(group_ids)) for r in c])
    return group_ids, hits.mean(axis=0), rows


def _interval(data: tuple[np.ndarray, ...], statistic, value: float, confidence: float, n_resamples: int,
              seed: int, method: str) -> dict[str, Any]:
    from scipy.stats import bootstrap

    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    n_groups = len(data[0])
    if n_groups < 2:
        low = high = float("nan")
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            res = bootstrap(data, statistic, paired=True, vectorized=True, n_resamples=n_resamples,
                            confidence_level=confidence, method=method, rng=np.random.default_rng(seed))
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return {"value": float(value), "low": low, "high": high, "confidence": float(confidence),
            "n_groups": int(n_groups)}


def accuracy_interval(
    correct: Any,
    groups: Sequence,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    method: str = "percentile",
) -> dict[str, Any]:
    """Accuracy and its cluster-bootstrap confidence interval over groups of test rows.

    Parameters
    ----------
    correct : array of bool, shape (N,) or (R, N)
        Per test row, whether it was classified correctly; (R, N) averages R repeats on the same rows.
    groups : sequence, length N
        Group of each test row; whole groups are resampled. Pass ``np.arange(N)`` for independent rows.
    confidence : float
        Coverage of the interval, e.g. 0.95.
    n_resamples : int
        Bootstrap resamples.
    seed : int
        Seed of the resampling.
    method : {"percentile", "basic", "BCa"}
        :func:`scipy.stats.bootstrap`'s interval. Percentile by default: BCa's jackknife is unstable with the
        ~20 test neurons of the book's splits.

    Returns
    -------
    dict
        ``value`` (the accuracy, a fraction), ``low`` and ``high`` (the interval; NaN with fewer than 2 groups),
        ``confidence``, ``n_groups``.
    """
    _, hits, rows = grouped_hits(correct, groups)

    def statistic(h, n, axis=-1):
        return h.sum(axis=axis) / n.sum(axis=axis)

    return _interval((hits, rows), statistic, hits.sum() / rows.sum(), confidence, n_resamples, seed, method)


def accuracy_ratio_interval(
    correct_numerator: Any,
    correct_denominator: Any,
    groups: Sequence,
    confidence: float = 0.95,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    method: str = "percentile",
) -> dict[str, Any]:
    """Ratio of two accuracies on the same test rows, with a paired cluster-bootstrap interval.

    E.g. the label efficiency of an embedding: (10 %-label probe accuracy) / (supervised reference accuracy).
    Both accuracies are recomputed on the same resampled groups.

    Parameters
    ----------
    correct_numerator, correct_denominator : arrays of bool, shape (N,) or (R, N)
        Correctness of the two classifiers on the same N test rows (repeats averaged, as in
        :func:`accuracy_interval`).
    groups : sequence, length N
    confidence, n_resamples, seed, method
        As :func:`accuracy_interval`.

    Returns
    -------
    dict
        ``value`` (the ratio of the two accuracies), ``low``, ``high``, ``confidence``, ``n_groups``. A resample in
        which the denominator has no hit has an infinite ratio and pushes ``high`` to inf; one in which neither
        has a hit has no ratio (0/0), and then ``low`` and ``high`` are NaN (see :func:`finite_interval`).
    """
    _, num_hits, _ = grouped_hits(correct_numerator, groups)
    _, den_hits, _ = grouped_hits(correct_denominator, groups)
    if den_hits.sum() == 0:
        raise ValueError("the denominator classifier has no correct test row: the ratio is undefined")

    def statistic(a, b, axis=-1):
        return a.sum(axis=axis) / b.sum(axis=axis)  # the rows of both accuracies are the same: they cancel

    return _interval((num_hits, den_hits), statistic, num_hits.sum() / den_hits.sum(), confidence, n_resamples,
                     seed, method)


def finite_interval(result: dict[str, Any]) -> tuple[float, float] | None:
    """``(low, high)`` of an interval from this module, or None when the bootstrap could not define it (NaN).

    That happens with a single test group, or, for a ratio, when some resample holds no hit of either classifier
    (a barely trained model on a tiny test set). Callers then report the value without an interval.
    """
    low, high = float(result["low"]), float(result["high"])
    return None if np.isnan(low) or np.isnan(high) else (low, high)
