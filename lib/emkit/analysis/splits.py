"""Leakage-free train/validation/test splits of point tables.

Cutouts of the same neuron (or synapses of the same skeleton, hemilineage, brain region) are near-duplicates for a
classifier: if they sit on both sides of a split, test scores measure memorization of the object, not
generalization. :func:`group_split` keeps every group in one part and, among such splits, searches for one whose
class balance matches the whole table — the idea of synister (Eckstein et al. 2024, "Neurotransmitter
classification from electron microscopy images at synaptic sites in Drosophila melanogaster", Cell), which splits
synapses by a *superset* id (skeleton, hemilineage, brain region) with the transmitter distribution of each part
as close as possible to the overall one. :func:`random_split` is the naive baseline to compare against.

A split is returned as a :class:`pandas.Series` of part names (``"train"``, ``"val"``, ``"test"``) aligned with
the table's index, so ``df["split"] = group_split(df, "neuron_id", stratify_col="label")`` just works.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

__all__ = [
    "group_split",
    "random_split",
    "split_indices",
    "check_no_leakage",
    "split_imbalance",
    "split_summary",
]


def _part_names(fractions: Sequence[float], part_names: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    f = np.asarray(fractions, dtype=np.float64)
    if f.ndim != 1 or len(f) < 2 or (f < 0).any() or not np.isclose(f.sum(), 1.0, atol=1e-6):
        raise ValueError(f"fractions must be >= 2 non-negative numbers summing to 1, got {tuple(fractions)}")
    if part_names is None:
        default = {2: ["train", "test"], 3: ["train", "val", "test"]}
        part_names = default.get(len(f), [f"part{i}" for i in range(len(f))])
    if len(part_names) != len(f):
        raise ValueError(f"{len(part_names)} part names for {len(f)} fractions")
    return f / f.sum(), list(part_names)


def _cut(n: int, f: np.ndarray) -> np.ndarray:
    """Part index of each of n ordered items, cutting at the rounded cumulative fractions."""
    bounds = np.round(np.cumsum(f) * n).astype(np.int64)
    bounds[-1] = n
    return np.searchsorted(bounds, np.arange(n), side="right")


def random_split(
    df: pd.DataFrame,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    stratify_col: str | None = None,
    group_col: str | None = None,
    part_names: Sequence[str] | None = None,
) -> pd.Series:
    """Random split, for contrast with :func:`group_split`.

    - ``group_col`` given: the naive group split — groups in random order, cut where the cumulative row count
      crosses the fractions (like :class:`sklearn.model_selection.GroupShuffleSplit`); no group is split, but class
      balance is left to chance.
    - else ``stratify_col`` given: rows shuffled within each class and cut per class (leaks groups).
    - else: rows shuffled and cut (leaks groups).

    Parameters
    ----------
    df : DataFrame
    fractions : sequence of float
        Fraction of rows per part, summing to 1.
    seed : int
    stratify_col, group_col : str, optional
    part_names : sequence of str, optional
        Default ``("train", "val", "test")`` for 3 parts, ``("train", "test")`` for 2.

    Returns
    -------
    Series of str, index = ``df.index``, name ``"split"``.
    """
    f, names = _part_names(fractions, part_names)
    rng = np.random.default_rng(seed)
    part = np.empty(len(df), dtype=np.int64)
    if group_col is not None:
        codes, uniq = pd.factorize(df[group_col], use_na_sentinel=False)
        sizes = np.bincount(codes, minlength=len(uniq))
        order = rng.permutation(len(uniq))
        # part of each group from where its rows fall in the cumulative count (its midpoint)
        mid = (np.cumsum(sizes[order]) - sizes[order] / 2) / len(df)
        g_part = np.empty(len(uniq), dtype=np.int64)
        g_part[order] = np.minimum(np.searchsorted(np.cumsum(f), mid, side="right"), len(f) - 1)
        part = g_part[codes]
    elif stratify_col is not None:
        codes, _ = pd.factorize(df[stratify_col], use_na_sentinel=False)
        for c in np.unique(codes):
            pos = rng.permutation(np.flatnonzero(codes == c))
            part[pos] = _cut(len(pos), f)
    else:
        part[rng.permutation(len(df))] = _cut(len(df), f)
    return pd.Series(np.asarray(names, dtype=object)[part], index=df.index, name="split")


def _cost(a: np.ndarray, n_part: np.ndarray, n_class: np.ndarray, n: int, f: np.ndarray) -> float:
    """Balance cost of per-part class counts ``a`` (P, K) and part sizes ``n_part`` (P,)."""
    size_dev = np.abs(n_part / n - f).mean()
    strat_dev = np.abs(a / n_class[None, :] - f[:, None]).mean() if a.shape[1] else 0.0
    empty = float(((n_part == 0) & (f > 0)).sum())  # a wanted part left empty: heavy penalty
    return float(strat_dev + size_dev + empty)


def group_split(
    df: pd.DataFrame,
    group_col: str,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    stratify_col: str | None = None,
    seed: int = 0,
    part_names: Sequence[str] | None = None,
    n_restarts: int = 8,
    n_iter: int = 3000,
    progress: bool = False,
) -> pd.Series:
    """Split so that all rows of a group share a part, with each part's class mix as close as possible to the whole.

    Following synister (Eckstein et al. 2024), which searches for the most balanced split of synapses by superset id
    (skeleton, hemilineage, brain region) — they solve it as an integer linear program with pylp; we use a
    randomized local search instead, because it needs no ILP solver and handles thousands of groups in a second.

    Objective (lower is better), with ``A[p, k]`` the rows of class k in part p, ``N_k`` the rows of class k,
    ``n_p`` the rows in part p and ``f_p`` the wanted fraction::

        cost = mean_{p,k} |A[p,k] / N_k - f_p|  +  mean_p |n_p / N - f_p|  (+ 1 per wanted part left empty)

    i.e. every class is split in the wanted fractions (so each part's class distribution matches the overall one)
    and the parts have the wanted sizes. Rows whose ``stratify_col`` is missing count for size only. Search:
    ``n_restarts`` times, groups in a random order are dealt greedily to the part with the largest remaining row
    deficit, then ``n_iter`` random proposals — move one group to another part, or swap two groups of different
    parts — are accepted when they lower the cost. The best split over restarts wins; same seed -> same split.

    Parameters
    ----------
    df : DataFrame
        Point table (one row per synapse / cutout).
    group_col : str
        Group id column; a group is never split. Missing ids form one group.
    fractions : sequence of float
        Wanted fraction of rows per part, summing to 1.
    stratify_col : str, optional
        Class column to balance (e.g. ``label``, ``nt_known``); None balances sizes only.
    seed : int
    part_names : sequence of str, optional
        Default ``("train", "val", "test")`` for 3 parts, ``("train", "test")`` for 2.
    n_restarts, n_iter : int
        Search effort.
    progress : bool
        Progress bar over restarts.

    Returns
    -------
    Series of str, index = ``df.index``, name ``"split"``.
        ``.attrs["cost"]`` holds the final objective value.
    """
    f, names = _part_names(fractions, part_names)
    if group_col not in df.columns:
        raise ValueError(f"group column {group_col!r} not in {list(df.columns)}")
    n = len(df)
    if n == 0:
        raise ValueError("cannot split an empty table")
    g_codes, g_uniq = pd.factorize(df[group_col], use_na_sentinel=False)
    n_groups, n_parts = len(g_uniq), len(f)
    if n_groups < int((f > 0).sum()):
        raise ValueError(f"{n_groups} groups of {group_col!r} cannot fill {int((f > 0).sum())} non-empty parts")
    if stratify_col is not None:
        if stratify_col not in df.columns:
            raise ValueError(f"stratify column {stratify_col!r} not in {list(df.columns)}")
        k_codes, k_uniq = pd.factorize(df[stratify_col])  # NaN -> -1: size only
        counts = np.zeros((n_groups, len(k_uniq)), dtype=np.float64)
        ok = k_codes >= 0
        np.add.at(counts, (g_codes[ok], k_codes[ok]), 1)
    else:
        counts = np.zeros((n_groups, 0))
    sizes = np.bincount(g_codes, minlength=n_groups).astype(np.float64)
    n_class = counts.sum(axis=0)
    allowed = np.flatnonzero(f > 0)
    rng = np.random.default_rng(seed)

    best_assign, best_cost = None, np.inf
    for _ in tqdm(range(n_restarts), desc="group split", disable=not progress):
        # greedy start: random order, each group to the part with the largest remaining row deficit
        assign = np.empty(n_groups, dtype=np.int64)
        n_part = np.zeros(n_parts)
        for g in rng.permutation(n_groups):
            p = allowed[np.argmax(f[allowed] * n - n_part[allowed])]
            assign[g], n_part[p] = p, n_part[p] + sizes[g]
        a = np.zeros((n_parts, counts.shape[1]))
        np.add.at(a, assign, counts)
        cost = _cost(a, n_part, n_class, n, f)
        # local search: moves and swaps, accepted when they lower the cost
        for it in range(n_iter):
            if cost == 0:
                break
            g = int(rng.integers(n_groups))
            p = assign[g]
            if it % 2 == 0 or len(allowed) < 2:
                q = int(rng.choice(allowed[allowed != p])) if len(allowed) > 1 else p
                if q == p:
                    continue
                a2, n2 = a.copy(), n_part.copy()
                a2[p] -= counts[g]; a2[q] += counts[g]
                n2[p] -= sizes[g]; n2[q] += sizes[g]
                c2 = _cost(a2, n2, n_class, n, f)
                if c2 < cost:
                    assign[g], a, n_part, cost = q, a2, n2, c2
            else:
                h = int(rng.integers(n_groups))
                q = assign[h]
                if q == p:
                    continue
                a2, n2 = a.copy(), n_part.copy()
                delta_c, delta_s = counts[g] - counts[h], sizes[g] - sizes[h]
                a2[p] -= delta_c; a2[q] += delta_c
                n2[p] -= delta_s; n2[q] += delta_s
                c2 = _cost(a2, n2, n_class, n, f)
                if c2 < cost:
                    assign[g], assign[h], a, n_part, cost = q, p, a2, n2, c2
        if cost < best_cost:
            best_assign, best_cost = assign.copy(), cost
    out = pd.Series(np.asarray(names, dtype=object)[best_assign[g_codes]], index=df.index, name="split")
    out.attrs["cost"] = float(best_cost)
    return out


def split_indices(split: pd.Series | Sequence[str]) -> dict[str, np.ndarray]:
    """``{part name: row positions}`` (0-based positions, not index labels) of a split."""
    parts = np.asarray(split).astype(str)
    return {name: np.flatnonzero(parts == name) for name in pd.unique(parts)}


def check_no_leakage(split: pd.Series | Sequence[str], groups: Sequence) -> None:
    """Raise ``ValueError`` naming the first group found in two parts of ``split``."""
    frame = pd.DataFrame({"part": np.asarray(split).astype(str), "group": np.asarray(groups)})
    n_parts = frame.groupby("group", dropna=False)["part"].nunique()
    leaked = n_parts[n_parts > 1]
    if len(leaked):
        g = leaked.index[0]
        where = sorted(frame.loc[frame["group"] == g, "part"].unique())
        raise ValueError(f"group {g} is in parts {where} ({len(leaked)} leaking groups in all)")


def split_imbalance(split: pd.Series | Sequence[str], labels: Sequence) -> float:
    """Worst class-distribution mismatch of a split: max over parts of the total-variation distance.

    ``TV_p = 0.5 * sum_k |P(class k | part p) - P(class k)|``, in [0, 1]; 0 = every part has the overall class mix.
    Rows with a missing label are ignored.
    """
    frame = pd.DataFrame({"part": np.asarray(split).astype(str), "label": np.asarray(labels)}).dropna()
    overall = frame["label"].value_counts(normalize=True)
    worst = 0.0
    for _, sub in frame.groupby("part"):
        q = sub["label"].value_counts(normalize=True).reindex(overall.index, fill_value=0.0)
        worst = max(worst, 0.5 * float((q - overall).abs().sum()))
    return worst


def split_summary(df: pd.DataFrame, split: pd.Series | Sequence[str], label_col: str,
                  group_col: str | None = None) -> pd.DataFrame:
    """Rows per part and class (plus groups per part, and each part's fraction of all rows).

    Returns
    -------
    DataFrame indexed by part: one column per class (row counts), ``n_rows``, ``fraction``, and ``n_groups`` when
    ``group_col`` is given.
    """
    parts = pd.Series(np.asarray(split).astype(str), index=df.index, name="part")
    table = pd.crosstab(parts, df[label_col].astype(str))
    table["n_rows"] = parts.value_counts()
    table["fraction"] = table["n_rows"] / len(df)
    if group_col is not None:
        table["n_groups"] = df.groupby(parts)[group_col].nunique()
    return table
