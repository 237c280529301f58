"""Cutouts/s: the batched, chunk-grouped engine vs the naive way (one cloud-volume read per point and layer).

Usage::

    .venv/bin/python benchmarks/bench_cutouts.py --n-points 300 --shape 32 --channels raw
    emkit bench-cutouts --n-points 300 --channels raw,pre_mask,cleft_mask

Runs on the ``emkit.synth`` world of ``--size``/``--seed`` (``emkit.io.datasets.open_dataset("synthetic", ...)``,
generated into ``$EMKIT_DATA`` the first time; ``--world`` names another folder). Prints JSON with both rates, the
speed-up, and the max difference between the two outputs (they must agree).
"""

from __future__ import annotations

import argparse
import json
import sys

from emkit.cutouts.cli import add_bench_arguments, run_benchmark


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_bench_arguments(parser)
    a = parser.parse_args(argv)
    res = run_benchmark(world=a.world, size=a.size, n_points=a.n_points, shape_vox=a.shape,
                        voxel_size_nm=a.voxel_size, channels=a.channels, seed=a.seed, progress=not a.quiet)
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
