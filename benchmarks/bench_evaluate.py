"""How long does ``emkit evaluate`` take on a large table of node embeddings labelled per segment? Prints figures;
not a test.

Writes N random embeddings in S segments (SegCLR's layout: many nodes per segment, one label per segment, six
classes) as ``emb.parquet`` and ``cells.csv`` in a temporary folder, then runs the command a user would, with its
defaults, and prints its wall time and its metrics table. ``--cprofile`` adds the ten functions with the most
cumulative time, to see which part of the evaluation grows.

    .venv/bin/python benchmarks/bench_evaluate.py --rows 1000000 --segments 10000
    .venv/bin/python benchmarks/bench_evaluate.py --rows 1000000 --segments 10000 --cprofile
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from emkit.cli import main as emkit_main


def write_tables(folder: Path, rows: int, segments: int, dim: int, seed: int = 0) -> tuple[Path, Path]:
    """``emb.parquet`` (root_id, emb_0 ..) and ``cells.csv`` (root_id, cell_type): segments of equal size, each a
    blob around its class's centre."""
    rng = np.random.default_rng(seed)
    root = np.repeat(np.arange(segments, dtype=np.int64) + 10**17, rows // segments)
    cell_type = rng.integers(0, 6, segments)
    class_centres = rng.normal(scale=0.4, size=(6, dim))
    segment_centres = class_centres[cell_type] + rng.normal(scale=1.0, size=(segments, dim))
    x = segment_centres[root - 10**17] + rng.normal(scale=1.5, size=(len(root), dim))
    emb = pd.DataFrame(x.astype(np.float32), columns=[f"emb_{i}" for i in range(dim)])
    emb.insert(0, "root_id", root)
    emb_path, cells_path = folder / "emb.parquet", folder / "cells.csv"
    emb.to_parquet(emb_path, index=False)
    pd.DataFrame({"root_id": np.arange(segments, dtype=np.int64) + 10**17,
                  "cell_type": [f"type{c}" for c in cell_type]}).to_csv(cells_path, index=False)
    return emb_path, cells_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--segments", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--cprofile", action="store_true", help="also print where the time went")
    parser.add_argument("extra", nargs="*", help="more options for emkit evaluate, after --")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        emb_path, cells_path = write_tables(Path(tmp), args.rows, args.segments, args.dim)
        command = ["evaluate", str(emb_path), "--points", str(cells_path), "--join-on", "root_id",
                   "--label-col", "cell_type", "--quiet", *args.extra]
        print("emkit " + " ".join(command))
        t0 = time.perf_counter()
        if args.cprofile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(emkit_main, command)
            wall = time.perf_counter() - t0
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        else:
            emkit_main(command)
            wall = time.perf_counter() - t0
    print(f"{args.rows} rows x {args.dim} dims in {args.segments} segments: emkit evaluate took {wall:.1f} s")


if __name__ == "__main__":
    main()
