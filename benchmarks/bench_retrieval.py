"""How long does same-object retrieval take on a large embeddings table? Prints figures; not a test.

Times :func:`emkit.analysis.retrieval.same_object_retrieval` (each query's distances sorted, its same-object rows'
ranks found by binary search) against ranking every row with a full stable argsort of the rows (how it was written
until 2026-11-24), on random embeddings of N rows in objects of equal size, and checks that both give the same
numbers. Compare the two times of one run: the machine is shared.

    .venv/bin/python benchmarks/bench_retrieval.py --rows 100000 --objects 1000 --queries 2000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import pairwise_distances

from emkit.analysis.retrieval import same_object_retrieval


def by_full_sort(x: np.ndarray, obj: np.ndarray, queries: np.ndarray, k: int, batch_size: int = 512) -> tuple:
    """precision@k, top-1 and mAP with every row ranked by a stable argsort (the reference)."""
    prec, top1, ap = [], [], []
    n = len(x)
    for start in range(0, len(queries), batch_size):
        q = queries[start:start + batch_size]
        d = pairwise_distances(x[q], x)
        d[np.arange(len(q)), q] = np.inf
        same = obj[np.argsort(d, axis=1, kind="stable")[:, : n - 1]] == obj[q][:, None]
        prec.append(same[:, :k].mean(axis=1))
        top1.append(same[:, 0])
        ap.append((same * np.cumsum(same, axis=1) / np.arange(1, n)).sum(axis=1) / same.sum(axis=1))
    return tuple(float(np.concatenate(v).mean()) for v in (prec, top1, ap))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--objects", type=int, default=1_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    obj = np.repeat(np.arange(args.objects), args.rows // args.objects)
    centres = rng.normal(size=(args.objects, args.dim))
    x = centres[obj] + rng.normal(scale=1.5, size=(len(obj), args.dim))
    t0 = time.perf_counter()
    r = same_object_retrieval(x, obj, k=args.k, max_queries=args.queries, seed=0, progress=False)
    t_emkit = time.perf_counter() - t0
    queries = np.sort(np.random.default_rng(0).choice(len(x), size=args.queries, replace=False))
    t0 = time.perf_counter()
    reference = by_full_sort(x, obj, queries, args.k)
    t_sort = time.perf_counter() - t0
    ours = (r["precision_at_k"], r["top1"], r["mean_average_precision"])
    print(f"{len(x)} rows x {args.dim} dims, {args.objects} objects, {args.queries} queries, k={args.k}")
    print(f"sorted distances (emkit):     {t_emkit:6.1f} s   precision@k, top-1, mAP = "
          + ", ".join(f"{v:.6f}" for v in ours))
    print(f"full stable argsort:          {t_sort:6.1f} s   precision@k, top-1, mAP = "
          + ", ".join(f"{v:.6f}" for v in reference))
    print(f"ratio {t_sort / t_emkit:.2f}; the same numbers: {np.allclose(ours, reference, atol=1e-12)}")


if __name__ == "__main__":
    main()
