"""Run the SSL chapters with the `full` profile's models and shapes on the tiny world, for a few steps, on any machine.

The `full` profile (ResNet-18 on 64x64x8 views of 96x96x12 cubes, three supervised references, 128x128x16 context,
64^3 real-EM cutouts) is meant for a GPU, where a failure costs GPU time. This runs chapters 04-06 through the
book's own runner (``emkit.book.run_book`` with a derived plan: every `full` parameter, then the overrides below
that only shrink the world, the steps and the batch), so shape and plumbing errors show up first on a CPU
(about 3 minutes on 2 cores). A check that prints; not a test, and not a measurement of anything.

    .venv/bin/python benchmarks/full_profile_smoke.py [--book-dir /tmp/full-smoke]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

# what is shrunk, per chapter; every other parameter is the `full` profile's
SHRINK = {
    "04_ssl_training": {"size": "tiny", "steps": 4, "batch_size": 8},
    "05_embedding_evaluation": {"size": "tiny", "supervised_steps": 4, "batch_size": 8, "umap_neighbors": 5,
                                "projection": "pca"},
    "06_real_em_embeddings": {"n_objects": 4, "per_object": 6, "steps": 3, "batch_size": 8, "projection": "pca"},
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--book-dir", default=None, help="where the executed notebooks go (default: a temporary folder)")
    args = ap.parse_args(argv)

    from emkit import book, paths

    plan = yaml.safe_load((paths.project_root() / "book" / "plan.yaml").read_text())
    for nb in plan["notebooks"]:
        if nb["name"] in SHRINK:
            nb["parameters"]["full"] = {**nb["parameters"].get("full", {}), **SHRINK[nb["name"]]}
    work = Path(args.book_dir or tempfile.mkdtemp(prefix="full-smoke-"))
    work.mkdir(parents=True, exist_ok=True)
    derived = work / "plan-full-smoke.yaml"
    derived.write_text(yaml.safe_dump(plan, sort_keys=False))
    t0 = time.perf_counter()
    book.run_book("full", only=list(SHRINK), book_dir=work / "book", build=False, plan_path=derived)
    print(f"full-profile chapters {', '.join(SHRINK)} ran on the tiny world in {time.perf_counter() - t0:.0f} s; "
          f"executed notebooks in {work / 'book'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
