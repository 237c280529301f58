"""Evaluate any embeddings table: cluster structure, label read-outs, same-object retrieval, in one call.

An embeddings table (written by :mod:`emkit.learn.export`) is a DataFrame with an ``id`` column and the vector in
``emb_0 .. emb_{D-1}``; it joins by ``id`` with a point table (CONTRIBUTING.md) carrying ``label`` and grouping
columns (``neuron_id``, ``root_id``, ``hemilineage``, ...). Every metric takes a plain ``(N, D)`` array, so it
works on any embedding (ours, SegCLR's published 64-d vectors, PCA of raw voxels, ...).

The metrics live in one module per question, and this module re-exports them, so ``evaluate.silhouette`` and
``emkit.analysis.clustering.silhouette`` are the same function:

- :mod:`emkit.analysis.clustering`: :func:`silhouette` (are the label classes compact and apart? Rousseeuw 1987;
  scikit-learn) and :func:`hopkins` (is there cluster structure at all, labels aside? Hopkins & Skellam 1954, in
  the variant of the SimCLR-synapse seed pipeline; the function's docstring gives the exact formula);
- :mod:`emkit.analysis.probes`: :func:`knn_accuracy`, :func:`linear_probe`, :func:`label_budget_curve` (how much
  label information can a simple read-out recover, and with how few labels? The linear-evaluation protocol of
  Chen et al. 2020, SimCLR);
- :mod:`emkit.analysis.retrieval`: :func:`same_object_retrieval` (do cutouts of the same neuron land together?
  Dorkenwald et al. 2023, SegCLR) and :func:`nearest_neighbours`;
- :mod:`emkit.analysis.holds`: :func:`decodability` and :func:`class_variance_share` (which known quantities, such
  as a synthetic world's drawn parameters, synapse orientation or size, can a linear read-out recover, and which of
  them tell the classes apart? The "informativeness" of Eastwood & Williams 2018), :func:`readout_shift`;
- :mod:`emkit.analysis.inputs`: :func:`embedding_matrix` and the checks every metric applies to its inputs.

Here: :func:`evaluate_embeddings` and :func:`metrics_table`, all of the above in one call, with units and targets.
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

from emkit.analysis.clustering import hopkins, hopkins_from_samples, hopkins_probe_count, silhouette
from emkit.analysis.confidence import accuracy_interval
from emkit.analysis.holds import class_variance_share, decodability, readout_shift
from emkit.analysis.inputs import embedding_matrix
from emkit.analysis.probes import (
    DEFAULT_PROBE_CS,
    draw_hits,
    knn_accuracy,
    knn_predictions,
    label_budget_curve,
    linear_probe,
    query_sample,
    sample_label_fraction,
)
from emkit.analysis.retrieval import nearest_neighbours, same_object_retrieval

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
    hopkins_max_points: int | None = None,
    silhouette_sample: int | None = 5000,
    retrieval_queries: int | None = 5000,
    knn_queries: int | None = None,
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
    hopkins_max_points : int or None
        ``max_points`` of :func:`hopkins`: at most this many probes of each kind (None = ``hopkins_fraction`` N).
    silhouette_sample : int or None
        Row subsample for the silhouettes (None = all rows).
    retrieval_queries : int or None
        Query subsample for the retrieval metrics (None = every row).
    knn_queries : int or None
        Labelled rows scored by the kNN vote, drawn at random; each still votes with its neighbours among all
        reference rows of its fold (None = every row; cost O(N²) over the folds, :func:`knn_predictions`).
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
    hopkins_m, m_by_fraction = f"{hopkins_fraction:g}N", hopkins_probe_count(len(x_all), hopkins_fraction)
    if hopkins_probe_count(len(x_all), hopkins_fraction, hopkins_max_points) < m_by_fraction:
        hopkins_m = f"{hopkins_max_points} (capped; {hopkins_fraction:g}N = {m_by_fraction})"
    out["hopkins"] = _metric(
        hopkins(x_all, hopkins_fraction, seed=seed, max_points=hopkins_max_points), "unitless [0,1]",
        f"Hopkins statistic, m={hopkins_m}, no power of D (0.5 random, ->1 clustered)")

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

        scored = query_sample(len(x), knn_queries, seed)
        if scored is not None:
            proto += f", {len(scored)} of {len(x)} rows scored"
        yt, yp = knn_predictions(x, y, k, None, None, groups, 5, "euclidean", query_rows=scored)
        out["knn_accuracy"] = _metric(accuracy_score(yt, yp), "fraction", f"{k}-NN vote, {proto}",
                                      interval(yt == yp, np.arange(len(yt)) if scored is None else scored))
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
