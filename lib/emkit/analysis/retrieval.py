"""Neighbours in an embedding: same-object retrieval (do cutouts of the same neuron land together? Dorkenwald et
al. 2023, SegCLR) and the nearest rows to a few queries, for galleries.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm


from emkit.analysis.inputs import check_labels, check_matrix

__all__ = ["nearest_neighbours", "same_object_retrieval"]


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

    x = check_matrix(emb)
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


def _rows_by_object(codes: np.ndarray) -> list[np.ndarray]:
    """Row positions of each object code, ascending."""
    order = np.argsort(codes, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)


def _same_object_ranks(sorted_distances: np.ndarray, same_distances: np.ndarray) -> np.ndarray | None:
    """Ranks (1-based) of a query's same-object rows among all other rows, nearest first, from the sorted
    distances of every row to the query (the query's own inf last) and the distances of its same-object rows.

    The rank of a same-object row at distance s is one more than the number of rows nearer than s: a binary search
    in the sorted distances. Sorting the distances alone, with nothing gathered by index, made the whole retrieval
    5.9 times faster than the stable argsort of all rows it replaced, with the same numbers (100,000 rows of 1,000
    objects, 2,000 queries: 6.1 s against 35.9 s; ``benchmarks/bench_retrieval.py``). Returns None when a
    same-object distance is not unique (a tie, ranked by row order instead: the caller falls back).
    """
    s = np.sort(same_distances)
    nearer = np.searchsorted(sorted_distances, s, side="left")
    if np.any(np.searchsorted(sorted_distances, s, side="right") - nearer != 1):
        return None
    return (nearer + 1).astype(np.float64)


def _stable_ranks(distances: np.ndarray, same_rows: np.ndarray) -> np.ndarray:
    """The same ranks by a stable argsort of all rows (ties broken by row order), ascending."""
    position = np.empty(len(distances), dtype=np.int64)
    position[np.argsort(distances, kind="stable")] = np.arange(1, len(distances) + 1)
    return np.sort(position[same_rows]).astype(np.float64)


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

    x = check_matrix(emb)
    obj = check_labels(object_ids, len(x), "object_ids")
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
    members = _rows_by_object(codes)
    prec, top1, ap = [], [], []
    blocks = range(0, len(queries), batch_size)
    for start in tqdm(blocks, desc="retrieval", disable=not progress or len(blocks) < 4):
        q = queries[start:start + batch_size]
        d = pairwise_distances(x[q], x, metric=metric)
        d[np.arange(len(q)), q] = np.inf  # exclude the query itself
        for row, query in zip(d, q):
            rows = members[codes[query]]
            rows = rows[rows != query]
            ranks = _same_object_ranks(np.sort(row), row[rows])  # 1-based, nearest same-object row first
            if ranks is None:  # a tie: rank by row order
                ranks = _stable_ranks(row, rows)
            prec.append(np.count_nonzero(ranks <= kk) / kk)
            top1.append(float(ranks[0] == 1))
            ap.append(float(np.mean(np.arange(1, len(ranks) + 1) / ranks)))
    return {
        "precision_at_k": float(np.mean(prec)),
        "top1": float(np.mean(top1)),
        "mean_average_precision": float(np.mean(ap)),
        "k": int(kk),
        "n_queries": int(len(queries)),
        "n_objects": int((counts >= 2).sum()),
    }
