"""Label read-outs of a frozen embedding: how much label information does a simple classifier recover, and with
how few labels?

:func:`knn_accuracy`, :func:`linear_probe` (L2 strength chosen by cross-validation within the labelled rows), and
:func:`label_budget_curve` over label fractions (1 %, 10 %, 100 %): the linear-evaluation protocol of Chen et al.
2020 (SimCLR). :func:`draw_hits` turns a probe's per-draw predictions into hits for confidence intervals.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm


from emkit.analysis.inputs import check_labels, check_matrix

__all__ = [
    "knn_accuracy",
    "knn_predictions",
    "query_sample",
    "sample_label_fraction",
    "linear_probe",
    "label_budget_curve",
    "draw_hits",
    "DEFAULT_PROBE_CS",
]


def _vote(neigh_labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Majority vote per row of an (n, k) array of class indices; ties go to the lowest class index (as sklearn)."""
    counts = np.zeros((len(neigh_labels), len(classes)), dtype=np.int64)
    rows = np.repeat(np.arange(len(neigh_labels)), neigh_labels.shape[1])
    np.add.at(counts, (rows, neigh_labels.ravel()), 1)
    return counts.argmax(axis=1)


def knn_accuracy(
    emb: np.ndarray,
    labels: Sequence,
    k: int = 5,
    train_idx: Sequence[int] | None = None,
    test_idx: Sequence[int] | None = None,
    groups: Sequence | None = None,
    n_splits: int = 5,
    metric: str = "euclidean",
    balanced: bool = False,
    max_queries: int | None = None,
    seed: int = 0,
) -> float:
    """Accuracy of a k-nearest-neighbour majority vote on the embedding.

    Three protocols, in order of precedence:

    - ``train_idx`` and ``test_idx`` given: neighbours from the train rows, scored on the test rows.
    - ``groups`` given (e.g. neuron / root ids): grouped k-fold cross-validation
      (:class:`sklearn.model_selection.GroupKFold`, ``min(n_splits, n_groups)`` folds): a row is never voted on by
      rows of its own group, so the score is not inflated by near-duplicate cutouts of the same object.
    - neither: leave-one-out — each row's k nearest *other* rows vote.

    Ties go to the lowest class in sorted order (scikit-learn's rule).

    Parameters
    ----------
    emb : array, shape (N, D)
    labels : sequence, length N
    k : int
        Number of neighbours.
    train_idx, test_idx : sequences of row numbers, optional
    groups : sequence, length N, optional
    n_splits : int
        Folds of the grouped protocol.
    metric : str
        Distance (any :class:`sklearn.neighbors.NearestNeighbors` metric, e.g. ``"cosine"``).
    balanced : bool
        Return balanced accuracy (mean per-class recall) instead of accuracy.
    max_queries : int, optional
        Score at most this many rows, drawn at random (``seed``), instead of every row the protocol scores; each
        still takes its neighbours from all reference rows, so the accuracy is an unbiased estimate of the full one
        at ``max_queries / N`` of the cost (:func:`query_sample`). None: every row.
    seed : int
        Seed of that draw.

    Returns
    -------
    float
        Fraction of test rows predicted correctly, in [0, 1].
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    rows = query_sample(len(emb), max_queries, seed)  # the matrix itself is checked by knn_predictions
    y_true, y_pred = knn_predictions(emb, labels, k, train_idx, test_idx, groups, n_splits, metric, query_rows=rows)
    return float((balanced_accuracy_score if balanced else accuracy_score)(y_true, y_pred))


def query_sample(n_rows: int, max_queries: int | None, seed: int = 0) -> np.ndarray | None:
    """Sorted row numbers of a random subsample of ``max_queries`` of ``n_rows`` rows to score, or None for all.

    None when ``max_queries`` is None or not below ``n_rows``, so small tables are scored whole and their numbers
    do not depend on the cap.
    """
    if max_queries is None or max_queries >= n_rows:
        return None
    if max_queries < 1:
        raise ValueError(f"max_queries must be at least 1, got {max_queries}")
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=max_queries, replace=False))


def knn_predictions(emb, labels, k, train_idx, test_idx, groups, n_splits, metric,
                    query_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """True and predicted class indices over the rows :func:`knn_accuracy` scores, under its protocol.

    The arguments are :func:`knn_accuracy`'s (``n_splits`` and ``metric`` required). Returns two int arrays of one
    length: the scored rows' class indices (classes sorted) and the ``k``-NN votes; :func:`evaluate_embeddings`
    uses them for a bootstrap interval over the rows' groups. ``query_rows`` (sorted row numbers,
    :func:`query_sample`) restricts the scored rows to those, in that order (with ``test_idx``: the test rows among
    them, in ``test_idx``'s order); every scored row's vote is the one it gets when all rows are scored, at
    ``len(query_rows) / N`` of the cost. That is what makes the grouped protocol affordable on millions of rows,
    where each fold would otherwise rank every held-out row against every other (O(N²)).
    """
    from sklearn.neighbors import NearestNeighbors

    x = check_matrix(emb)
    lab = check_labels(labels, len(x))
    classes, y = np.unique(lab, return_inverse=True)
    scored = np.ones(len(x), dtype=bool)
    if query_rows is not None:
        scored = np.zeros(len(x), dtype=bool)
        scored[np.asarray(query_rows, dtype=np.int64)] = True

    if train_idx is not None or test_idx is not None:
        if train_idx is None or test_idx is None:
            raise ValueError("give both train_idx and test_idx, or neither")
        tr, te = np.asarray(train_idx, dtype=np.int64), np.asarray(test_idx, dtype=np.int64)
        te = te[scored[te]]
        kk = min(k, len(tr))
        nn = NearestNeighbors(n_neighbors=kk, metric=metric).fit(x[tr])
        neigh = nn.kneighbors(x[te], return_distance=False)
        return y[te], _vote(y[tr][neigh], classes)

    if groups is not None:
        from sklearn.model_selection import GroupKFold

        grp = check_labels(groups, len(x), "groups")
        n_groups = len(np.unique(grp))
        if n_groups < 2:
            raise ValueError(f"grouped kNN needs at least 2 groups, got {n_groups}")
        pred = np.empty(len(x), dtype=np.int64)
        for tr, te in GroupKFold(n_splits=min(n_splits, n_groups)).split(x, y, grp):
            te = te[scored[te]]
            if len(te):
                nn = NearestNeighbors(n_neighbors=min(k, len(tr)), metric=metric).fit(x[tr])
                pred[te] = _vote(y[tr][nn.kneighbors(x[te], return_distance=False)], classes)
        return y[scored], pred[scored]

    if len(x) < 2:
        raise ValueError("leave-one-out kNN needs at least 2 rows")
    kk = min(k, len(x) - 1)
    nn = NearestNeighbors(n_neighbors=kk, metric=metric).fit(x)
    if query_rows is None:
        neigh = nn.kneighbors(None, return_distance=False)  # X=None: each row's neighbours exclude itself
        return y, _vote(y[neigh], classes)
    q = np.flatnonzero(scored)
    # as kneighbors(X=None) does for every row: one neighbour more, then the row itself left out (or, when
    # duplicates of it crowd it out of the k + 1, the nearest of them, as scikit-learn does)
    neigh = nn.kneighbors(x[q], n_neighbors=kk + 1, return_distance=False)
    not_self = neigh != q[:, None]
    not_self[not_self.all(axis=1), 0] = False
    neigh = neigh[not_self].reshape(len(q), kk)
    return y[q], _vote(y[neigh], classes)


def sample_label_fraction(
    labels: Sequence,
    fraction: float,
    seed: int = 0,
) -> np.ndarray:
    """Positions of a random, class-stratified fraction of labelled rows (the label budget of a probe).

    Each class ``c`` with ``n_c`` rows keeps ``max(1, round(fraction * n_c))`` rows drawn without replacement, so
    every class present keeps at least one example even at 1 % of the labels.

    Parameters
    ----------
    labels : sequence, length N
    fraction : float
        In (0, 1]; 1.0 returns all positions.
    seed : int

    Returns
    -------
    ndarray of int64
        Sorted positions into ``labels``.
    """
    lab = np.asarray(labels)
    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    if fraction == 1:
        return np.arange(len(lab), dtype=np.int64)
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(lab):  # sorted, so the draw order (and result) is reproducible
        pos = np.flatnonzero(lab == c)
        n_keep = max(1, int(round(fraction * len(pos))))
        keep.append(rng.choice(pos, size=n_keep, replace=False))
    return np.sort(np.concatenate(keep)).astype(np.int64)


# L2 strengths a probe chooses from: half-decade steps over six decades. Chen et al. 2020 (SimCLR, appendix B.5)
# pick the probe's L2 regularization on held-out data from logarithmically spaced values; a fixed C favours
# whichever representation happens to suit it (measured on the book's SSL embedding: 10 %-label probe 0.43 at
# C=1, 0.46 at C=0.01; 100 %-label probe 0.44 vs 0.51).
DEFAULT_PROBE_CS: tuple[float, ...] = tuple(float(c) for c in np.logspace(-4, 2, 13))


def _probe_folds(y: np.ndarray, groups: np.ndarray | None, n_folds: int, seed: int) -> list | None:
    """Cross-validation folds over the labelled rows of a probe, or None when some class has < 2 rows.

    Grouped (:class:`sklearn.model_selection.StratifiedGroupKFold`) when ``groups`` is given, so the choice of C
    is scored on groups (neurons) it was not fitted on, as the test rows are.
    """
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    _, counts = np.unique(y, return_counts=True)
    k = min(n_folds, int(counts.min()))
    if groups is not None:
        k = min(k, len(np.unique(groups)))
    if k < 2:
        return None
    if groups is None:
        return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(y, y))
    folds = list(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(y, y, groups))
    # a training fold without some class cannot score that class: fall back to ungrouped folds then
    if any(len(np.unique(y[tr])) < len(counts) for tr, _ in folds):
        return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(y, y))
    return folds


def linear_probe(
    emb: np.ndarray,
    labels: Sequence,
    train_idx: Sequence[int],
    test_idx: Sequence[int],
    label_fraction: float = 1.0,
    seed: int = 0,
    C: float | str = "cv",
    groups: Sequence | None = None,
    Cs: Sequence[float] = DEFAULT_PROBE_CS,
    cv_folds: int = 3,
    fallback_C: float = 1.0,
    solver: str = "newton-cg",
    max_iter: int = 2000,
    return_predictions: bool = False,
) -> dict[str, Any]:
    """Linear-evaluation protocol (Chen et al. 2020, SimCLR): logistic regression on frozen embeddings.

    The embedding is standardized (mean/std of the labelled training rows;
    :class:`sklearn.preprocessing.StandardScaler`)
    and a multinomial L2-regularized logistic regression is fitted on a random class-stratified ``label_fraction``
    of the TRAIN rows (:func:`sample_label_fraction`, >= 1 row per class), then scored on all TEST rows.

    The L2 strength is chosen, by default, by cross-validated accuracy **within the labelled rows only**
    (:class:`sklearn.linear_model.LogisticRegressionCV` over ``Cs``, ``cv_folds`` folds, grouped by ``groups`` when
    given), then refitted on all of them; the test rows never take part in the choice. When some class has fewer
    than 2 labelled rows (e.g. 1 % of the labels), no fold can hold it out and ``fallback_C`` is used.

    Parameters
    ----------
    emb : array, shape (N, D)
    labels : sequence, length N
    train_idx, test_idx : sequences of row numbers
        Disjoint; use :func:`emkit.analysis.splits.group_split` so an object never sits on both sides.
    label_fraction : float
        Fraction of the train labels used, e.g. 1.0, 0.1, 0.01.
    seed : int
        Seed of the label subsample and of the folds.
    C : float or "cv"
        Inverse regularization strength; "cv" chooses it from ``Cs`` as above.
    groups : sequence, length N, optional
        Group of each row (e.g. the presynaptic neuron): the folds that choose C keep groups whole.
    Cs : sequence of float
        Candidate inverse regularization strengths (default :data:`DEFAULT_PROBE_CS`, 1e-4 .. 1e2).
    cv_folds : int
        Folds of the choice (fewer if a class or the groups are too few).
    fallback_C : float
        C used when the labelled rows are too few to cross-validate.
    solver : str
        scikit-learn solver. ``"newton-cg"``: on 1100 x 128 standardized SSL embeddings it fitted 10-40x faster
        than ``"lbfgs"`` to the same accuracy (0.03-0.1 s vs 0.2-4.4 s per fit, C = 1e-3 .. 10).
    max_iter : int
        Solver iterations.
    return_predictions : bool
        Add ``"y_true"`` and ``"y_pred"`` (arrays over the test rows) to the result.

    Returns
    -------
    dict
        ``accuracy`` and ``balanced_accuracy`` (fractions in [0, 1]), ``n_train`` (rows actually used),
        ``n_test``, ``label_fraction``, ``n_classes_train``, ``C`` (the strength used) and ``C_choice``
        ("given", "cv" or "fallback").
    """
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.metrics import accuracy_score, balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = check_matrix(emb)
    lab = check_labels(labels, len(x))
    tr, te = np.asarray(train_idx, dtype=np.int64), np.asarray(test_idx, dtype=np.int64)
    if len(tr) == 0 or len(te) == 0:
        raise ValueError(f"linear probe needs non-empty train and test rows (got {len(tr)} / {len(te)})")
    overlap = np.intersect1d(tr, te)
    if len(overlap):
        raise ValueError(f"train and test share {len(overlap)} rows, e.g. row {int(overlap[0])}")
    if groups is not None:
        groups = np.asarray(groups)
        if len(groups) != len(x):
            raise ValueError(f"groups has {len(groups)} entries for {len(x)} embedding rows")
    sub = tr[sample_label_fraction(lab[tr], label_fraction, seed=seed)]
    n_cls = len(np.unique(lab[sub]))
    if n_cls < 2:
        raise ValueError(f"the training rows hold only one class ('{lab[sub][0]}'); a probe needs >= 2")
    if isinstance(C, str):
        if C != "cv":
            raise ValueError(f"C must be a number or 'cv', got {C!r}")
        folds = _probe_folds(lab[sub], None if groups is None else groups[sub], cv_folds, seed)
        if folds is None:
            classifier, choice = LogisticRegression(C=fallback_C, solver=solver, max_iter=max_iter), "fallback"
        else:
            classifier, choice = LogisticRegressionCV(Cs=list(Cs), cv=folds, solver=solver, max_iter=max_iter), "cv"
    else:
        classifier, choice = LogisticRegression(C=float(C), solver=solver, max_iter=max_iter), "given"
    model = make_pipeline(StandardScaler(), classifier)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)  # "y_pred contains classes not in y_true"
        warnings.simplefilter("ignore", category=FutureWarning)  # sklearn's LogisticRegressionCV API notices
        model.fit(x[sub], lab[sub])
        pred = model.predict(x[te])
        used_C = float(np.ravel(classifier.C_)[0]) if choice == "cv" else float(classifier.C)
        out: dict[str, Any] = {
            "accuracy": float(accuracy_score(lab[te], pred)),
            "balanced_accuracy": float(balanced_accuracy_score(lab[te], pred)),
            "n_train": int(len(sub)),
            "n_test": int(len(te)),
            "label_fraction": float(label_fraction),
            "n_classes_train": int(n_cls),
            "C": used_C,
            "C_choice": choice,
        }
    if return_predictions:
        out["y_true"], out["y_pred"] = lab[te], pred
    return out


def label_budget_curve(
    emb: np.ndarray,
    labels: Sequence,
    train_idx: Sequence[int],
    test_idx: Sequence[int],
    fractions: Sequence[float] = (0.01, 0.1, 1.0),
    seed: int = 0,
    n_repeats: int = 1,
    progress: bool = True,
    return_predictions: bool = False,
    n_jobs: int | None = None,
    **probe_kwargs: Any,
) -> pd.DataFrame:
    """Linear-probe scores as the fraction of training labels shrinks (1 %, 10 %, 100 % by default).

    Repeat ``r`` of fraction ``f`` uses label-subsample seed ``seed + r``.

    Parameters
    ----------
    return_predictions : bool
        Add columns ``y_pred`` (each probe's predicted labels of the test rows, an array in ``test_idx`` order)
        and ``correct`` (the same rows, True where the prediction is the true label). :func:`draw_hits` stacks
        ``correct`` for :func:`emkit.analysis.confidence.accuracy_interval`.
    n_jobs : int, optional
        Fit the probes in this many processes (joblib; -1 = one per core; None or 1 = here, with a progress bar).
        The results do not depend on it. On 2 cores, the 11 probes of 5 repeats on 1596 x 128 embeddings took
        3.5-4.1 s in one process and 2.0-2.2 s in two, after the workers started (once, ~1.2 s): the all-labels
        probe, which cross-validates C, is the longest and goes first.

    Other parameters are those of :func:`linear_probe`.

    Returns
    -------
    DataFrame
        One row per (fraction, repeat): ``label_fraction``, ``repeat``, ``n_train``, ``n_test``, ``accuracy``,
        ``balanced_accuracy``, ``C`` and ``C_choice`` (the L2 strength used and how, see :func:`linear_probe`).
    """
    rows = []
    jobs = [(f, r) for f in fractions for r in range(n_repeats if f < 1 else 1)]

    def probe(f, r):
        return linear_probe(emb, labels, train_idx, test_idx, label_fraction=f, seed=seed + r,
                            return_predictions=return_predictions, **probe_kwargs)

    if n_jobs in (None, 1):
        results = [probe(f, r) for f, r in tqdm(jobs, desc="label budget", disable=not progress or len(jobs) < 4)]
    else:
        from joblib import Parallel, delayed

        # the largest label fractions first: they take longest, and the others fill in beside them
        order = sorted(range(len(jobs)), key=lambda i: -jobs[i][0])
        done = Parallel(n_jobs=n_jobs)(delayed(probe)(*jobs[i]) for i in order)
        results = [None] * len(jobs)
        for i, res in zip(order, done):
            results[i] = res
    for (f, r), res in zip(jobs, results):
        keys = ["n_train", "n_test", "accuracy", "balanced_accuracy", "C", "C_choice"]
        row = {"label_fraction": f, "repeat": r, **{k: res[k] for k in keys}}
        if return_predictions:
            row["y_pred"], row["correct"] = res["y_pred"], res["y_pred"] == res["y_true"]
        rows.append(row)
    return pd.DataFrame(rows)


def draw_hits(draws: pd.DataFrame) -> np.ndarray:
    """Which test rows each probe draw got right: ``(n_draws, n_test)`` bool.

    Parameters
    ----------
    draws : rows of :func:`label_budget_curve` with ``return_predictions=True`` (e.g. the draws of one label
        fraction), all on the same test rows.

    Returns
    -------
    ndarray of bool, one row per draw, columns in ``test_idx`` order — the ``correct`` argument of
    :func:`emkit.analysis.confidence.accuracy_interval` (draws are averaged there).
    """
    if "correct" not in draws.columns:
        raise ValueError("draws carry no predictions: call label_budget_curve(..., return_predictions=True)")
    return np.stack(draws["correct"].to_list())
