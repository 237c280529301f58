"""Evaluate any embeddings table: cluster structure, label read-outs, same-object retrieval.

An embeddings table (written by :mod:`emkit.learn.export`) is a DataFrame with an ``id`` column and the vector in
``emb_0 .. emb_{D-1}``; it joins by ``id`` with a point table (CONTRIBUTING.md) carrying ``label`` and grouping
columns (``neuron_id``, ``root_id``, ``hemilineage``, ...). Every metric here takes a plain ``(N, D)`` array, so it
works on any embedding (ours, SegCLR's published 64-d vectors, PCA of raw voxels, ...).

Metrics, what they answer, and where they come from:

- :func:`silhouette` — are the label classes compact and apart? (Rousseeuw 1987; scikit-learn)
- :func:`hopkins` — is there cluster structure at all, labels aside? (Hopkins & Skellam 1954; the variant of the
  SimCLR-synapse seed pipeline, see the function's docstring for the exact formula)
- :func:`knn_accuracy`, :func:`linear_probe`, :func:`label_budget_curve` — how much label information can a simple
  read-out recover, and with how few labels? (the linear-evaluation protocol of Chen et al. 2020, SimCLR)
- :func:`same_object_retrieval` — do cutouts of the same neuron land together? (Dorkenwald et al. 2023, SegCLR)
- :func:`decodability` and :func:`class_variance_share` — which known quantities (a synthetic world's drawn
  parameters, synapse orientation, size) can a linear read-out recover, and which of them tell the classes apart?
  (the "informativeness" of Eastwood & Williams 2018)
- :func:`evaluate_embeddings` and :func:`metrics_table` — all of the above in one call, with units and targets.
"""

from __future__ import annotations

import math
import operator
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from emkit.analysis.confidence import accuracy_interval

__all__ = [
    "embedding_matrix",
    "silhouette",
    "hopkins",
    "hopkins_from_samples",
    "knn_accuracy",
    "sample_label_fraction",
    "linear_probe",
    "label_budget_curve",
    "draw_hits",
    "decodability",
    "class_variance_share",
    "readout_shift",
    "nearest_neighbours",
    "DEFAULT_PROBE_CS",
    "same_object_retrieval",
    "evaluate_embeddings",
    "metrics_table",
    "DEFAULT_TARGETS",
]

# Targets quoted by the seed pipelines. SimCLR-synapse (seed 003) README, "Expected Results": silhouette > 0.15 and
# Hopkins > 0.6 after 150-200 epochs. Other targets are the notebook's to choose (pass ``targets=``).
DEFAULT_TARGETS: dict[str, str] = {
    "silhouette_euclidean": "> 0.15",
    "hopkins": "> 0.6",
}


# ----------------------------------------------------------------------------------------------------------------
# input helpers
# ----------------------------------------------------------------------------------------------------------------
def embedding_matrix(df: pd.DataFrame, prefix: str = "emb_") -> np.ndarray:
    """The embedding vectors of a table as a float array.

    Parameters
    ----------
    df : DataFrame
        Embeddings table with columns ``{prefix}0 .. {prefix}{D-1}`` (other columns, e.g. ``id``, are ignored).
    prefix : str
        Column prefix; the columns are ordered by their integer suffix (``emb_2`` before ``emb_10``).

    Returns
    -------
    ndarray, shape (N, D), float64
        Rows in the table's row order.

    Raises
    ------
    ValueError
        No ``{prefix}<int>`` column, a gap in the numbering, or a non-finite value (names the row and its ``id``).
    """
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)$")
    cols = sorted(((int(m.group(1)), c) for c in df.columns if (m := pattern.match(str(c)))), key=lambda t: t[0])
    if not cols:
        raise ValueError(f"no embedding columns named {prefix}<int> among {list(df.columns)[:10]}...")
    numbers = [n for n, _ in cols]
    if numbers != list(range(len(numbers))):
        missing = sorted(set(range(max(numbers) + 1)) - set(numbers))
        raise ValueError(f"embedding columns {prefix}0..{prefix}{max(numbers)} have gaps: missing {missing[:10]}")
    emb = df[[c for _, c in cols]].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(emb).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        ident = df["id"].iloc[row] if "id" in df.columns else "?"
        raise ValueError(
            f"embeddings row {row} (id={ident}) has a non-finite value ({int(bad.sum())} such rows in all)"
        )
    return emb


def _as_2d(emb: Any, name: str = "emb") -> np.ndarray:
    arr = np.asarray(emb, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, D) array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        row = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise ValueError(f"{name} row {row} has a non-finite value")
    return arr


def _as_labels(labels: Any, n: int, name: str = "labels") -> np.ndarray:
    lab = np.asarray(labels)
    if lab.ndim != 1 or len(lab) != n:
        raise ValueError(f"{name} must be 1-D with one entry per embedding row ({n}), got shape {lab.shape}")
    if pd.isna(lab).any():
        row = int(np.flatnonzero(pd.isna(lab))[0])
        raise ValueError(f"{name} row {row} is missing (NaN/None); drop unlabelled rows first")
    return lab


# ----------------------------------------------------------------------------------------------------------------
# cluster structure
# ----------------------------------------------------------------------------------------------------------------
def silhouette(
    emb: np.ndarray,
    labels: Sequence,
    metric: str = "euclidean",
    sample_size: int | None = None,
    seed: int = 0,
) -> float:
    """Mean silhouette coefficient of the label classes in embedding space (Rousseeuw 1987).

    For each point, ``s = (b - a) / max(a, b)`` with ``a`` the mean distance to the other members of its class and
    ``b`` the mean distance to the members of the nearest other class; the score is the mean over points, in
    [-1, 1]: ~1 compact well-separated classes, ~0 overlapping classes, < 0 points closer to another class.
    Computed by :func:`sklearn.metrics.silhouette_score`.

    Parameters
    ----------
    emb : array, shape (N, D)
        Embedding vectors (unitless).
    labels : sequence, length N
        Class of each row; needs 2 <= number of classes <= N - 1.
    metric : {"euclidean", "cosine"} or any sklearn pairwise metric
        ``"cosine"`` uses ``1 - cos(angle)``; it ignores vector norms (the geometry NT-Xent trains).
    sample_size : int, optional
        Score a random subset of this many rows (the full score needs an N x N distance matrix).
    seed : int
        Seed of that subset.

    Returns
    -------
    float
        Mean silhouette, unitless, in [-1, 1].
    """
    from sklearn.metrics import silhouette_score

    x = _as_2d(emb)
    lab = _as_labels(labels, len(x))
    n_classes = len(np.unique(lab))
    if not 2 <= n_classes <= len(x) - 1:
        raise ValueError(f"silhouette needs 2 <= number of classes <= N-1; got {n_classes} classes, N={len(x)}")
    if sample_size is not None and sample_size >= len(x):
        sample_size = None
    return float(silhouette_score(x, lab, metric=metric, sample_size=sample_size, random_state=seed))


def hopkins_from_samples(
    emb: np.ndarray,
    uniform_points: np.ndarray,
    sample_idx: Sequence[int],
    power: float | str | None = None,
) -> float:
    """Hopkins statistic from given probe points (the deterministic core of :func:`hopkins`).

    ``H = sum(u_i^p) / (sum(u_i^p) + sum(w_i^p))`` where ``u_i`` is the Euclidean distance from uniform probe
    point ``i`` to its nearest data point, ``w_i`` the distance from sampled data point ``sample_idx[i]`` to its
    nearest *other* data point, and ``p = 1`` (``power=None``), ``p = D`` (``power="dim"``) or ``p = power``.

    Parameters
    ----------
    emb : array, shape (N, D)
        The data.
    uniform_points : array, shape (M, D)
        Probe points (normally uniform in the data's bounding box).
    sample_idx : sequence of M ints
        Rows of ``emb`` used as the data probes (distinct).
    power : None, "dim" or float
        Exponent applied to each distance, see :func:`hopkins`.

    Returns
    -------
    float
        H in [0, 1]: ~0.5 for uniformly random data, -> 1 for clustered data, -> 0 for a regular lattice.
    """
    from sklearn.neighbors import NearestNeighbors

    x = _as_2d(emb)
    u_pts = _as_2d(uniform_points, "uniform_points")
    idx = np.asarray(sample_idx, dtype=np.int64)
    if u_pts.shape[1] != x.shape[1]:
        raise ValueError(f"uniform_points have D={u_pts.shape[1]}, data D={x.shape[1]}")
    if len(x) < 2:
        raise ValueError(f"Hopkins needs at least 2 data points, got {len(x)}")
    if idx.ndim != 1 or len(idx) == 0 or idx.min() < 0 or idx.max() >= len(x):
        raise ValueError(f"sample_idx must be 1-D row numbers in [0, {len(x)}), got {idx[:10]}")
    nn = NearestNeighbors(n_neighbors=2).fit(x)
    u = nn.kneighbors(u_pts, n_neighbors=1, return_distance=True)[0][:, 0]
    # Each sampled point is itself in the data (distance 0 in column 0), so column 1 is the distance to its
    # nearest *other* data point (0 when it has an exact duplicate, as it should be).
    w = nn.kneighbors(x[idx], n_neighbors=2, return_distance=True)[0][:, 1]
    if power is None:
        p = 1.0
    elif power == "dim":
        p = float(x.shape[1])
    else:
        p = float(power)
    su, sw = float(np.sum(u**p)), float(np.sum(w**p))
    if su + sw == 0:
        raise ValueError("Hopkins undefined: all probe distances are zero (all data points identical?)")
    return su / (su + sw)


def hopkins(
    emb: np.ndarray,
    sample_fraction: float = 0.1,
    seed: int = 0,
    power: float | str | None = None,
) -> float:
    """Hopkins statistic of clustering tendency (Hopkins & Skellam 1954), as the SimCLR-synapse seed computes it.

    Exact definition used here (``power=None``, the seed 003 pipeline's form):

    1. ``m = max(1, floor(sample_fraction * N))`` (``N`` = number of rows; 0.1 N by default).
    2. With ``rng = numpy.random.default_rng(seed)``, in this order:
       ``U = rng.uniform(emb.min(0), emb.max(0), size=(m, D))`` — m points uniform in the data's bounding box;
       ``S = rng.choice(N, size=m, replace=False)`` — m distinct data rows.
    3. ``u_i`` = Euclidean distance from ``U[i]`` to its nearest data point;
       ``w_i`` = Euclidean distance from data point ``S[i]`` to its nearest *other* data point.
    4. ``H = sum(u) / (sum(u) + sum(w))`` — **no power of D**.

    Lawson & Jurs (1990) and many libraries raise each distance to the dimension D (``sum(u^D)``), which makes the
    statistic's null distribution Beta(m, m) for a Poisson process but saturates at 0 or 1 in high D; pass
    ``power="dim"`` for that form, or any float. Conventions also differ in direction: here H ~ 0.5 for uniform
    random data and -> 1 for clustered data (some packages, e.g. pyclustertend, report 1 - H).

    Parameters
    ----------
    emb : array, shape (N, D)
        Embedding vectors (unitless; Euclidean geometry is used).
    sample_fraction : float
        m / N, in (0, 1].
    seed : int
        Seed for the probe points (same seed -> same value).
    power : None, "dim" or float
        Exponent on each distance; None = 1 (seed 003's form).

    Returns
    -------
    float
        H, unitless, in [0, 1]; the seed's target is H > 0.6.
    """
    x = _as_2d(emb)
    if not 0 < sample_fraction <= 1:
        raise ValueError(f"sample_fraction must be in (0, 1], got {sample_fraction}")
    n, d = x.shape
    m = max(1, int(math.floor(sample_fraction * n)))
    rng = np.random.default_rng(seed)
    uniform_points = rng.uniform(x.min(axis=0), x.max(axis=0), size=(m, d))
    sample_idx = rng.choice(n, size=m, replace=False)
    return hopkins_from_samples(x, uniform_points, sample_idx, power=power)


# ----------------------------------------------------------------------------------------------------------------
# label read-outs
# ----------------------------------------------------------------------------------------------------------------
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

    Returns
    -------
    float
        Fraction of test rows predicted correctly, in [0, 1].
    """
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    y_true, y_pred = _knn_predict(emb, labels, k, train_idx, test_idx, groups, n_splits, metric)
    return float((balanced_accuracy_score if balanced else accuracy_score)(y_true, y_pred))


def _knn_predict(emb, labels, k, train_idx, test_idx, groups, n_splits, metric) -> tuple[np.ndarray, np.ndarray]:
    """(true class index, predicted class index) over the scored rows of :func:`knn_accuracy`'s protocol."""
    from sklearn.neighbors import NearestNeighbors

    x = _as_2d(emb)
    lab = _as_labels(labels, len(x))
    classes, y = np.unique(lab, return_inverse=True)

    if train_idx is not None or test_idx is not None:
        if train_idx is None or test_idx is None:
            raise ValueError("give both train_idx and test_idx, or neither")
        tr, te = np.asarray(train_idx, dtype=np.int64), np.asarray(test_idx, dtype=np.int64)
        kk = min(k, len(tr))
        nn = NearestNeighbors(n_neighbors=kk, metric=metric).fit(x[tr])
        neigh = nn.kneighbors(x[te], return_distance=False)
        return y[te], _vote(y[tr][neigh], classes)

    if groups is not None:
        from sklearn.model_selection import GroupKFold

        grp = _as_labels(groups, len(x), "groups")
        n_groups = len(np.unique(grp))
        if n_groups < 2:
            raise ValueError(f"grouped kNN needs at least 2 groups, got {n_groups}")
        pred = np.empty(len(x), dtype=np.int64)
        for tr, te in GroupKFold(n_splits=min(n_splits, n_groups)).split(x, y, grp):
            nn = NearestNeighbors(n_neighbors=min(k, len(tr)), metric=metric).fit(x[tr])
            pred[te] = _vote(y[tr][nn.kneighbors(x[te], return_distance=False)], classes)
        return y, pred

    if len(x) < 2:
        raise ValueError("leave-one-out kNN needs at least 2 rows")
    nn = NearestNeighbors(n_neighbors=min(k, len(x) - 1), metric=metric).fit(x)
    neigh = nn.kneighbors(None, return_distance=False)  # X=None: each row's neighbours exclude itself
    return y, _vote(y[neigh], classes)


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

    x = _as_2d(emb)
    lab = _as_labels(labels, len(x))
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


# ----------------------------------------------------------------------------------------------------------------
# what an embedding encodes
# ----------------------------------------------------------------------------------------------------------------
def _as_target_frame(targets: Any, n: int) -> pd.DataFrame:
    if isinstance(targets, pd.Series):
        targets = targets.to_frame()
    if isinstance(targets, Mapping):
        targets = pd.DataFrame({str(k): np.asarray(v, dtype=np.float64).ravel() for k, v in targets.items()})
    elif not isinstance(targets, pd.DataFrame):
        arr = np.asarray(targets, dtype=np.float64)
        arr = arr[:, None] if arr.ndim == 1 else arr
        targets = pd.DataFrame(arr, columns=[f"target_{i}" for i in range(arr.shape[1])])
    if len(targets) != n:
        raise ValueError(f"targets have {len(targets)} rows, the embedding {n}")
    bad = [c for c in targets.columns if not pd.api.types.is_numeric_dtype(targets[c])]
    if bad:
        raise ValueError(f"targets must be numeric; column(s) {bad} are not")
    return targets.reset_index(drop=True).astype(np.float64)


def decodability(
    emb: np.ndarray,
    targets: Any,
    groups: Sequence | None = None,
    n_splits: int = 5,
    alphas: Sequence[float] = tuple(np.logspace(-2, 4, 13)),
    seed: int = 0,
) -> pd.DataFrame:
    """How much of each known quantity a linear read-out recovers from an embedding: cross-validated R².

    For each target column, a ridge regression on the standardised embedding predicts the target on held-out
    folds; the score is ``R² = 1 - SSE / SST`` over all out-of-fold predictions (SST around the mean of the rows
    used). 1: the quantity is linearly present; 0: no better than its mean; below 0: worse than its mean. This is
    the "informativeness" of Eastwood & Williams (2018, ICLR, *A framework for the quantitative evaluation of
    disentangled representations*), with a linear model. On a synthetic world it tells which drawn parameters an
    embedding holds (and so why it does or does not separate classes); on real data it works for any measured
    quantity (synapse size, cleft area, orientation).

    Parameters
    ----------
    emb : array, shape (N, D)
        Embedding vectors (unitless); standardised inside each training fold.
    targets : DataFrame, mapping name -> (N,) array, or array (N,) / (N, K)
        Numeric quantities per row, in their own units (R² is unit-free). Non-finite values leave that row out of
        that target only.
    groups : sequence, length N, optional
        Rows sharing a group (e.g. presynaptic neuron) stay in one fold (``GroupKFold``), so a quantity shared by a
        neuron's synapses is not read off the neuron's other synapses. Without groups: shuffled ``KFold``.
    n_splits : int
        Outer folds.
    alphas : sequence of float
        Ridge strengths; one is chosen inside each training fold by scikit-learn's efficient leave-one-out
        (``RidgeCV``), which sees no held-out row.
    seed : int
        Shuffle seed of ``KFold`` (unused with groups).

    Returns
    -------
    DataFrame indexed by target name with ``r2`` (float) and ``n_rows`` (rows used).
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.metrics import r2_score
    from sklearn.model_selection import GroupKFold, KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = _as_2d(emb)
    frame = _as_target_frame(targets, len(x))
    grp = None if groups is None else np.asarray(groups)
    if grp is not None and len(grp) != len(x):
        raise ValueError(f"groups has {len(grp)} entries, the embedding {len(x)} rows")
    rows = []
    for name in frame.columns:
        y = frame[name].to_numpy()
        ok = np.isfinite(y)
        if ok.sum() < 2 * n_splits:
            raise ValueError(f"target {name!r}: {int(ok.sum())} finite rows, need at least {2 * n_splits}")
        if grp is not None:
            n_groups = len(np.unique(grp[ok]))
            if n_groups < n_splits:
                raise ValueError(f"target {name!r}: {n_groups} groups among its finite rows, fewer than "
                                 f"n_splits={n_splits}")
            cv = GroupKFold(n_splits)
        else:
            cv = KFold(n_splits, shuffle=True, random_state=seed)
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.asarray(alphas, dtype=np.float64)))
        pred = cross_val_predict(model, x[ok], y[ok], groups=None if grp is None else grp[ok], cv=cv)
        rows.append({"target": str(name), "r2": float(r2_score(y[ok], pred)), "n_rows": int(ok.sum())})
    return pd.DataFrame(rows).set_index("target")


def class_variance_share(values: Any, labels: Sequence) -> pd.Series:
    """Share of each quantity's variance that lies between the class means: the correlation ratio η².

    ``η² = Σ_c n_c (mean_c - mean)² / Σ_i (x_i - mean)²`` per column (Pearson 1903; the R² of a one-way ANOVA).
    1: the classes differ in this quantity and nothing else varies it; 0: every class has the same mean. Use it
    beside :func:`decodability` to see whether what an embedding holds is what tells the classes apart.

    Parameters
    ----------
    values : DataFrame, mapping or array (N,) / (N, K)
        Numeric quantities; rows with a non-finite value are left out of that column.
    labels : sequence, length N
        Class of each row.

    Returns
    -------
    Series of η² in [0, 1], indexed by column name.
    """
    frame = _as_target_frame(values, len(labels))
    lab = _as_labels(labels, len(frame))
    out = {}
    for name in frame.columns:
        y = frame[name].to_numpy()
        ok = np.isfinite(y)
        yy, ll = y[ok], lab[ok]
        total = float(((yy - yy.mean()) ** 2).sum())
        if total == 0.0:
            out[str(name)] = float("nan")  # a constant quantity has no variance to share
            continue
        means = pd.Series(yy).groupby(ll).agg(["mean", "size"])
        out[str(name)] = float((means["size"] * (means["mean"] - yy.mean()) ** 2).sum() / total)
    return pd.Series(out, name="class_variance_share")


def readout_shift(emb: np.ndarray, other: np.ndarray, n_pairs: int = 10000, seed: int = 0) -> float:
    """How far a second readout of the same rows moves them, relative to the distance between two rows.

    ``mean_i |e_i - o_i| / mean_(i, j) |e_i - e_j|`` over random pairs of distinct rows ``i != j``, both in the
    standardised coordinates of ``emb`` (each dimension scaled by its standard deviation). With ``other`` the same
    encoder's embedding of a flipped view, or its average over the views' flips and quarter-turns
    (:func:`emkit.learn.export.embed` with ``symmetries``), 0 means the encoder is invariant to them and 1 that a
    flip moves a row as far as from one synapse to another.

    Parameters
    ----------
    emb, other : arrays, shape (N, D)
        Two readouts of the same N rows, in the same row order (unitless).
    n_pairs : int
        Random pairs of distinct rows drawn for the denominator.
    seed : int
        Seed of those pairs.

    Returns
    -------
    float, >= 0
    """
    a, b = _as_2d(emb), _as_2d(other, "other")
    if a.shape != b.shape:
        raise ValueError(f"emb {a.shape} and other {b.shape} must have the same shape")
    if len(a) < 2:
        raise ValueError("readout_shift needs at least 2 rows")
    scale = a.std(axis=0)
    scale[scale == 0] = 1.0  # a constant dimension adds nothing to either distance
    a, b = a / scale, b / scale
    rng = np.random.default_rng(seed)
    i = rng.integers(0, len(a), n_pairs)
    j = (i + rng.integers(1, len(a), n_pairs)) % len(a)  # j != i
    between = float(np.linalg.norm(a[i] - a[j], axis=1).mean())
    return float(np.linalg.norm(a - b, axis=1).mean()) / between


def nearest_neighbours(emb: np.ndarray, queries: Sequence[int], k: int = 5, groups: Sequence | None = None,
                       metric: str = "euclidean") -> np.ndarray:
    """The ``k`` nearest rows to each query row, leaving out the query itself and, with ``groups``, its group.

    Leaving out the query's group (e.g. its presynaptic neuron) shows what an embedding puts together across
    neurons, which is what a classifier of new neurons relies on. Exact (a ``(Q, N)`` distance matrix), meant for
    a handful of queries to look at (:func:`emkit.viz.neighbour_gallery`).

    Parameters
    ----------
    emb : array, shape (N, D)
        Embedding vectors (unitless).
    queries : sequence of int
        Row positions of the queries.
    k : int
        Neighbours per query.
    groups : sequence, length N, optional
        Rows sharing the query's group are never its neighbours.
    metric : str
        Any :func:`sklearn.metrics.pairwise_distances` metric.

    Returns
    -------
    ndarray of int, shape (Q, k)
        Row positions, nearest first (ties broken by row order).
    """
    from sklearn.metrics import pairwise_distances

    x = _as_2d(emb)
    q = np.asarray(queries, dtype=int).ravel()
    if q.size == 0 or q.min() < 0 or q.max() >= len(x):
        raise ValueError(f"queries must be row positions in [0, {len(x)}); got {q.tolist()[:10]}")
    d = pairwise_distances(x[q], x, metric=metric)
    d[np.arange(len(q)), q] = np.inf
    if groups is not None:
        grp = np.asarray(groups)
        if len(grp) != len(x):
            raise ValueError(f"groups has {len(grp)} entries, the embedding {len(x)} rows")
        d[grp[q][:, None] == grp[None, :]] = np.inf
    available = np.isfinite(d).sum(axis=1).min()
    if available < k:
        raise ValueError(f"a query has only {int(available)} rows outside itself and its group; k={k}")
    return np.argsort(d, axis=1, kind="stable")[:, :k]


# ----------------------------------------------------------------------------------------------------------------
# same-object retrieval
# ----------------------------------------------------------------------------------------------------------------
def same_object_retrieval(
    emb: np.ndarray,
    object_ids: Sequence,
    k: int = 5,
    metric: str = "euclidean",
    batch_size: int = 512,
    max_queries: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, float]:
    """Do embeddings of cutouts from the same object (neuron, root id) land together? (SegCLR-style check)

    Every row whose object has at least one other row is a query; all other rows are the database.

    - ``precision_at_k``: mean over queries of (number of the k nearest other rows from the same object) / k.
      A query whose object has fewer than k other rows cannot reach 1; pick k below the smallest object size.
    - ``top1``: fraction of queries whose nearest other row is from the same object.
    - ``mean_average_precision``: mean over queries of the average precision of the full ranking of all other rows
      by distance (AP = mean, over the same-object rows, of the precision at each one's rank). 1 means every
      same-object row ranks before every other-object row.

    Ties in distance are ranked by row order (stable sort). Rows of singleton objects are neither queries nor
    removed from the database.

    Parameters
    ----------
    emb : array, shape (N, D)
    object_ids : sequence, length N
        The object each row was cut from.
    k : int
    metric : str
        Any :func:`sklearn.metrics.pairwise_distances` metric (``"euclidean"``, ``"cosine"``).
    batch_size : int
        Query rows per block of the (block, N) distance matrix.
    max_queries : int, optional
        Score a random subset of this many queries (the database stays complete); the cost is
        O(queries x N log N), so use it above ~10^4 rows.
    seed : int
        Seed of that subset.
    progress : bool
        Progress bar over query blocks.

    Returns
    -------
    dict
        ``precision_at_k``, ``top1``, ``mean_average_precision`` (fractions in [0, 1]), ``k``, ``n_queries``,
        ``n_objects``.
    """
    from sklearn.metrics import pairwise_distances

    x = _as_2d(emb)
    obj = _as_labels(object_ids, len(x), "object_ids")
    _, codes, counts = np.unique(obj, return_inverse=True, return_counts=True)
    n = len(x)
    if n < 2:
        raise ValueError("retrieval needs at least 2 rows")
    kk = min(k, n - 1)
    queries = np.flatnonzero(counts[codes] >= 2)
    if len(queries) == 0:
        raise ValueError("no object has two or more rows: nothing to retrieve")
    if max_queries is not None and len(queries) > max_queries:
        queries = np.sort(np.random.default_rng(seed).choice(queries, size=max_queries, replace=False))
    prec, top1, ap = [], [], []
    blocks = range(0, len(queries), batch_size)
    for start in tqdm(blocks, desc="retrieval", disable=not progress or len(blocks) < 4):
        q = queries[start:start + batch_size]
        d = pairwise_distances(x[q], x, metric=metric)
        d[np.arange(len(q)), q] = np.inf  # exclude the query itself
        order = np.argsort(d, axis=1, kind="stable")[:, : n - 1]  # self (inf) sorts last: drop it
        same = codes[order] == codes[q][:, None]  # (b, n-1) relevance in rank order
        prec.append(same[:, :kk].sum(axis=1) / kk)
        top1.append(same[:, 0].astype(float))
        hits = np.cumsum(same, axis=1)
        ranks = np.arange(1, n, dtype=np.float64)
        ap.append((same * (hits / ranks)).sum(axis=1) / same.sum(axis=1))
    return {
        "precision_at_k": float(np.concatenate(prec).mean()),
        "top1": float(np.concatenate(top1).mean()),
        "mean_average_precision": float(np.concatenate(ap).mean()),
        "k": int(kk),
        "n_queries": int(len(queries)),
        "n_objects": int((counts >= 2).sum()),
    }


# ----------------------------------------------------------------------------------------------------------------
# one call for notebooks
# ----------------------------------------------------------------------------------------------------------------
def _metric(value: float, unit: str, description: str, interval: dict | None = None) -> dict[str, Any]:
    out = {"value": float(value), "unit": unit, "description": description}
    if interval is not None:
        out["interval"] = (interval["low"], interval["high"])
    return out


def _resolve_split(split: Any, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Train/test row positions of ``table`` from a split column name, a per-row Series, or {part: ids}."""
    if isinstance(split, str):
        if split not in table.columns:
            raise ValueError(f"split column {split!r} not in the points table columns {list(table.columns)}")
        parts = table[split].astype(str).to_numpy()
    elif isinstance(split, Mapping):
        parts = np.full(len(table), "", dtype=object)
        for name, ids in split.items():
            parts[table["id"].isin(np.asarray(ids)).to_numpy()] = str(name)
    else:
        parts = np.asarray(split).astype(str)
        if len(parts) != len(table):
            raise ValueError(f"split has {len(parts)} entries, the joined table {len(table)} rows")
    test_name = "test" if (parts == "test").any() else "val"
    tr, te = np.flatnonzero(parts == "train"), np.flatnonzero(parts == test_name)
    if len(tr) == 0 or len(te) == 0:
        raise ValueError(f"split has no 'train' or no 'test'/'val' rows (parts found: {sorted(set(parts))})")
    return tr, te


def evaluate_embeddings(
    emb_df: pd.DataFrame,
    points_df: pd.DataFrame,
    label_col: str = "label",
    group_col: str | None = None,
    split: Any = None,
    object_col: str | None = None,
    k: int = 5,
    label_fractions: Sequence[float] = (0.01, 0.1, 1.0),
    probe_repeats: int = 1,
    hopkins_fraction: float = 0.1,
    silhouette_sample: int | None = 5000,
    retrieval_queries: int | None = 5000,
    prefix: str = "emb_",
    seed: int = 0,
    progress: bool = True,
    n_jobs: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Every embedding metric in one call: the dictionary the book's notebooks record.

    The embeddings are inner-joined to the points by ``id``; rows without a label (NaN) are left out of the
    label metrics but kept for Hopkins and retrieval.

    Parameters
    ----------
    emb_df : DataFrame
        ``id`` and ``emb_0..emb_{D-1}`` (:mod:`emkit.learn.export`).
    points_df : DataFrame
        Point table with ``id``, ``label_col`` and optional grouping columns.
    label_col : str
        Class column.
    group_col : str, optional
        Grouping column (``neuron_id``, ``root_id``, ...): the kNN protocol becomes grouped cross-validation and,
        when ``split`` is None, the probe split is :func:`emkit.analysis.splits.group_split` (70/15/15) on it.
    split : None, str, sequence or mapping
        Train/test assignment: a column of ``points_df`` with values ``train``/``val``/``test``; a sequence with
        one such value per joined row; or ``{"train": ids, "test": ids}`` of point ids. ``test`` is scored
        (``val`` if there is no ``test``). None: a split is made (grouped if ``group_col``, else stratified).
    object_col : str, optional
        Object column for :func:`same_object_retrieval` (default: ``group_col``; none -> no retrieval metrics).
    k : int
        Neighbours for kNN and retrieval.
    label_fractions : sequence of float
        Label budgets of the linear probe.
    probe_repeats : int
        Random draws of each budget below 100 % (seeds ``seed .. seed + probe_repeats - 1``); the probe metrics
        are their mean.
    hopkins_fraction : float
        ``sample_fraction`` of :func:`hopkins`.
    silhouette_sample : int or None
        Row subsample for the silhouettes (None = all rows).
    retrieval_queries : int or None
        Query subsample for the retrieval metrics (None = every row).
    prefix : str
        Embedding column prefix.
    seed : int
        Seed for every random draw.
    progress : bool
    n_jobs : int, optional
        Processes for the linear probes (:func:`label_budget_curve`); the metrics do not depend on it.

    Returns
    -------
    dict
        ``{metric_name: {"value": float, "unit": str, "description": str}}``, and for ``knn_accuracy`` and
        ``probe_accuracy_*`` an ``"interval"`` (low, high): the 95 % cluster-bootstrap interval over test groups
        (``group_col``; rows without it), :func:`emkit.analysis.confidence.accuracy_interval`.
        Names: ``n_points``, ``dim``, ``n_classes``, ``silhouette_euclidean``, ``silhouette_cosine``,
        ``silhouette_by_group`` (with ``group_col``: the silhouette of the groups, e.g. neurons), ``hopkins``,
        ``knn_accuracy``, ``knn_balanced_accuracy``, ``probe_accuracy_{pct}pct`` and
        ``probe_balanced_accuracy_{pct}pct`` per label fraction, and with objects ``retrieval_precision_at_k``,
        ``retrieval_top1``, ``retrieval_map``.
    """
    from emkit.analysis.splits import group_split, random_split

    if "id" not in emb_df.columns or "id" not in points_df.columns:
        raise ValueError("both the embeddings and the points table need an 'id' column")
    for name, t in (("embeddings", emb_df), ("points", points_df)):
        dup = t["id"].duplicated()
        if dup.any():
            raise ValueError(f"{name} table row {int(np.flatnonzero(dup)[0])} repeats id={t['id'][dup].iloc[0]}")
    emb_cols = [c for c in emb_df.columns if str(c).startswith(prefix)]
    point_cols = [c for c in points_df.columns if c not in emb_cols]
    table = emb_df[["id", *emb_cols]].merge(points_df[point_cols], on="id", how="inner")
    if table.empty:
        raise ValueError("no embedding id matches a point id")
    n_lost = len(emb_df) - len(table)
    if n_lost:
        warnings.warn(f"{n_lost} of {len(emb_df)} embeddings have no point row (id not in points table)")
    if label_col not in table.columns:
        raise ValueError(f"label column {label_col!r} not in the points table")
    x_all = embedding_matrix(table, prefix)
    out: dict[str, dict[str, Any]] = {
        "n_points": _metric(len(table), "count", "embeddings joined to points"),
        "dim": _metric(x_all.shape[1], "count", "embedding dimension D"),
    }
    out["hopkins"] = _metric(
        hopkins(x_all, hopkins_fraction, seed=seed), "unitless [0,1]",
        f"Hopkins statistic, m={hopkins_fraction:g}N, no power of D (0.5 random, ->1 clustered)")

    labelled = table[label_col].notna().to_numpy()
    lt = table[labelled].reset_index(drop=True)
    x, y = x_all[labelled], lt[label_col].astype(str).to_numpy()
    n_classes = len(np.unique(y))
    out["n_classes"] = _metric(n_classes, "count", f"distinct {label_col} values")
    if n_classes >= 2:
        for m in ("euclidean", "cosine"):
            out[f"silhouette_{m}"] = _metric(
                silhouette(x, y, metric=m, sample_size=silhouette_sample, seed=seed), "unitless [-1,1]",
                f"mean silhouette of {label_col} classes, {m} distance")
        groups = lt[group_col].to_numpy() if group_col else None
        if groups is not None and 2 <= len(np.unique(groups)) < len(groups):
            # above zero, a group's (e.g. a neuron's) rows lie closer to one another than to the nearest other
            # group, often one of the same class: the embedding separates the groups' own idiosyncrasies, which a
            # silhouette by class counts against it
            out["silhouette_by_group"] = _metric(
                silhouette(x, groups, sample_size=silhouette_sample, seed=seed), "unitless [-1,1]",
                f"mean silhouette of {group_col} groups instead of classes, euclidean distance")
        proto = (f"grouped {min(5, len(np.unique(groups)))}-fold by {group_col}" if groups is not None
                 else "leave-one-out")
        from sklearn.metrics import accuracy_score, balanced_accuracy_score

        # 95 % intervals resample whole groups (or rows without groups): emkit.analysis.confidence
        def interval(correct: np.ndarray, rows: np.ndarray) -> dict:
            return accuracy_interval(correct, rows if groups is None else groups[rows], seed=seed)

        yt, yp = _knn_predict(x, y, k, None, None, groups, 5, "euclidean")
        out["knn_accuracy"] = _metric(accuracy_score(yt, yp), "fraction", f"{k}-NN vote, {proto}",
                                      interval(yt == yp, np.arange(len(yt))))
        out["knn_balanced_accuracy"] = _metric(
            balanced_accuracy_score(yt, yp), "fraction", f"{k}-NN vote, {proto}, balanced")

        if split is not None:
            tr, te = _resolve_split(split, lt)
            split_desc = "given split"
        else:
            if group_col:
                parts = group_split(lt, group_col, stratify_col=label_col, seed=seed).to_numpy()
                split_desc = f"group_split by {group_col}"
            else:
                parts = random_split(lt, stratify_col=label_col, seed=seed).to_numpy()
                split_desc = "stratified random split"
            tr, te = _resolve_split(parts, lt)
        curve = label_budget_curve(x, y, tr, te, fractions=label_fractions, seed=seed, n_repeats=probe_repeats,
                                   progress=False, groups=groups, return_predictions=True, n_jobs=n_jobs)
        for f, draws in curve.groupby("label_fraction", sort=False):
            first = draws.iloc[0]
            pct = f"{100 * f:g}"
            mean_of = f", mean of {len(draws)} draws" if len(draws) > 1 else ""
            out[f"probe_accuracy_{pct}pct"] = _metric(
                float(draws["accuracy"].mean()), "fraction",
                f"linear probe, {pct}% of train labels (n={first['n_train']}), {split_desc}, "
                f"C={first['C']:.3g} ({first['C_choice']}){mean_of}",
                interval(draw_hits(draws), te))
            out[f"probe_balanced_accuracy_{pct}pct"] = _metric(
                float(draws["balanced_accuracy"].mean()), "fraction",
                f"linear probe balanced accuracy, {pct}% of train labels{mean_of}")

    object_col = object_col or group_col
    if object_col:
        r = same_object_retrieval(x_all, table[object_col].to_numpy(), k=k, max_queries=retrieval_queries,
                                  seed=seed, progress=progress)
        out["retrieval_precision_at_k"] = _metric(
            r["precision_at_k"], "fraction", f"same-{object_col} share of the {r['k']} nearest neighbours")
        out["retrieval_top1"] = _metric(r["top1"], "fraction", f"nearest neighbour from the same {object_col}")
        out["retrieval_map"] = _metric(r["mean_average_precision"], "unitless [0,1]",
                                       f"mean average precision, same-{object_col} retrieval")
    return out


_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


def _check(value: float, target: Any) -> tuple[str | None, bool | None]:
    """(target as text, passed) for a target given as a float (means >=), a string like "> 0.15", or None."""
    if target is None or (isinstance(target, float) and math.isnan(target)):
        return None, None
    if isinstance(target, (int, float)):
        return f">= {target:g}", bool(value >= target)
    m = re.fullmatch(r"\s*(>=|<=|>|<)\s*([-+0-9.eE]+)\s*", str(target))
    if not m:
        raise ValueError(f"target {target!r} must be a number or a string like '> 0.15', '<= 0.1'")
    return f"{m.group(1)} {float(m.group(2)):g}", bool(_OPS[m.group(1)](value, float(m.group(2))))


def metrics_table(
    metrics: Mapping[str, Any],
    targets: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Tidy table of metrics against targets.

    Parameters
    ----------
    metrics : mapping
        :func:`evaluate_embeddings` output, or plain ``{name: value}``.
    targets : mapping, optional
        ``{name: target}``; a target is a number (pass if value >= it) or a string ``"> x"``, ``">= x"``,
        ``"< x"``, ``"<= x"``. Default :data:`DEFAULT_TARGETS` (the seed pipeline's silhouette > 0.15,
        Hopkins > 0.6).

    Returns
    -------
    DataFrame
        Columns ``metric, value, interval, unit, target, passed, description`` (interval, target and passed None
        where there is none), one row per metric.
    """
    targets = DEFAULT_TARGETS if targets is None else targets
    rows = []
    for name, m in metrics.items():
        value, unit, desc = (m["value"], m.get("unit", ""), m.get("description", "")) if isinstance(m, Mapping) \
            else (m, "", "")
        interval = m.get("interval") if isinstance(m, Mapping) else None
        target, passed = _check(float(value), targets.get(name))
        rows.append({"metric": name, "value": float(value), "interval": interval, "unit": unit, "target": target,
                     "passed": passed, "description": desc})
    unknown = set(targets) - set(metrics)
    if unknown:
        warnings.warn(f"targets for metrics not computed: {sorted(unknown)}")
    return pd.DataFrame(rows, columns=["metric", "value", "interval", "unit", "target", "passed", "description"])
