"""Checked inputs for every embedding metric: the vectors of an embeddings table, (N, D) arrays, per-row labels.

Each check names the first bad row, so a NaN from a broken cutout or an unlabelled point is found at once.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd


__all__ = ["embedding_matrix", "check_matrix", "check_labels"]


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


def check_matrix(emb: Any, name: str = "emb") -> np.ndarray:
    arr = np.asarray(emb, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, D) array, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        row = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise ValueError(f"{name} row {row} has a non-finite value")
    return arr


def check_labels(labels: Any, n: int, name: str = "labels") -> np.ndarray:
    lab = np.asarray(labels)
    if lab.ndim != 1 or len(lab) != n:
        raise ValueError(f"{name} must be 1-D with one entry per embedding row ({n}), got shape {lab.shape}")
    if pd.isna(lab).any():
        row = int(np.flatnonzero(pd.isna(lab))[0])
        raise ValueError(f"{name} row {row} is missing (NaN/None); drop unlabelled rows first")
    return lab
