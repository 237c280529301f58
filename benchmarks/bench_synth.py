"""Generation time and peak memory of the synthetic world (prints figures; not a test).

    .venv/bin/python benchmarks/bench_synth.py --sizes default large --out /tmp/emkit_bench

Each size runs in a fresh subprocess so that peak RSS (resource.getrusage ru_maxrss) is per size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time, shutil
from emkit.synth import generate_world
size, out = sys.argv[1], sys.argv[2]
t = time.time()
info = generate_world(out, size, seed=0, progress=False)
info["wall_s"] = round(time.time() - t, 1)
info["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
du = sum(f.stat().st_size for f in __import__("pathlib").Path(out).rglob("*") if f.is_file())
info["disk_mb"] = round(du / 2**20, 1)
print(json.dumps(info))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["default", "large"])
    ap.add_argument("--out", default="/tmp/emkit_bench")
    a = ap.parse_args(argv)
    print(f"{'size':8s} {'shape_vox (x,y,z)':22s} {'wall s':>7s} {'peak RSS MB':>11s} {'disk MB':>8s} "
          f"{'synapses':>8s} {'cells':>6s} {'mitos':>6s}")
    for size in a.sizes:
        r = subprocess.run([sys.executable, "-c", CHILD, size, f"{a.out}/{size}"], capture_output=True, text=True)
        if r.returncode:
            print(f"{size}: failed\n{r.stderr[-2000:]}")
            continue
        i = json.loads(r.stdout.strip().splitlines()[-1])
        print(f"{size:8s} {str(tuple(i['shape_vox'])):22s} {i['wall_s']:7.1f} {i['peak_rss_mb']:11.1f} "
              f"{i['disk_mb']:8.1f} {i['n_synapses']:8d} {i['n_cells']:6d} {i['n_mitochondria']:6d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
