"""What does scoring a sample of rows save in the grouped kNN vote of a large embeddings table? Prints figures; not
a test.

``emkit evaluate`` votes every labelled row by its ``k`` nearest rows of the other folds (grouped 5-fold,
:func:`emkit.analysis.probes.knn_predictions`): five searches of N/5 rows against 4N/5, O(N²). With
``--knn-queries M`` (``evaluate_embeddings(knn_queries=M)``) only M rows, drawn at random, are voted on, each
against every row of the other folds, so each gets the vote it gets in the full run and the accuracy is an
unbiased estimate of the full one. This times both on random embeddings of N rows, in segments (the groups) whose
class is drawn at random among six classes, and prints both accuracies with the sample's 95 % interval over
segments. Compare the times of one run: the machine is shared.

    .venv/bin/python benchmarks/bench_knn_sample.py --rows 200000 --segments 2000 --queries 20000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from emkit.analysis.confidence import accuracy_interval
from emkit.analysis.probes import knn_predictions, query_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--segments", type=int, default=2_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    segment = np.repeat(np.arange(args.segments), args.rows // args.segments)
    segment_class = rng.integers(0, 6, args.segments)
    class_centres = rng.normal(scale=0.4, size=(6, args.dim))
    segment_centres = class_centres[segment_class] + rng.normal(scale=1.0, size=(args.segments, args.dim))
    x = (segment_centres[segment] + rng.normal(scale=1.5, size=(len(segment), args.dim))).astype(np.float32)
    y = segment_class[segment].astype(str)
    rows = query_sample(len(x), args.queries, seed=0)
    print(f"{len(x)} rows x {args.dim} dims in {args.segments} segments of 6 classes, k={args.k}, grouped 5-fold")
    t0 = time.perf_counter()
    yt, yp = knn_predictions(x, y, args.k, None, None, segment, 5, "euclidean", query_rows=rows)
    t_sample = time.perf_counter() - t0
    hits = yt == yp
    ci = accuracy_interval(hits, segment[rows], seed=0)
    low, high = ci["low"], ci["high"]
    print(f"{len(rows)} rows scored:  {t_sample:7.1f} s   accuracy {hits.mean():.4f} (95 % interval over segments "
          f"{low:.4f}-{high:.4f})")
    t0 = time.perf_counter()
    yt_all, yp_all = knn_predictions(x, y, args.k, None, None, segment, 5, "euclidean")
    t_all = time.perf_counter() - t0
    print(f"every row scored:  {t_all:7.1f} s   accuracy {(yt_all == yp_all).mean():.4f}")
    print(f"ratio {t_all / t_sample:.1f}; the sampled rows' votes are the full run's: "
          f"{bool(np.array_equal(yp, yp_all[rows]))}")


if __name__ == "__main__":
    main()
