"""What an embedding holds: which known quantities a linear read-out recovers, and which of them tell classes apart.

:func:`decodability` (cross-validated R² of, e.g., a synthetic world's drawn parameters or a synapse's orientation;
the "informativeness" of Eastwood & Williams 2018), :func:`class_variance_share` (how much of a quantity's variance
lies between classes), :func:`readout_shift` (how far a change of readout moves embeddings, relative to the distance
between two synapses).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd


from emkit.analysis.inputs import check_labels, check_matrix

__all__ = ["decodability", "class_variance_share", "readout_shift"]


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

    x = check_matrix(emb)
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
    lab = check_labels(labels, len(frame))
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
    a, b = check_matrix(emb), check_matrix(other, "other")
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
