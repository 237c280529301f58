"""How much does the label-efficiency ratio of the evaluation chapter move with the training seed?

Trains the book's SSL recipe and its supervised reference (``ssl_recipes.py``'s defaults and its documented
supervised recipe) with ``train_seed`` 0 .. n-1 on one world and one neuron split, then prints, for every run, the
linear-probe accuracy (10 % labels: mean of 5 draws; 100 %) with its 95 % cluster-bootstrap interval over test
neurons, and for every (SSL, supervised) pair the ratio 10 %-label SSL probe / supervised 100 % probe with its paired
interval (emkit.analysis.confidence). Prints figures; not a test. About 7 minutes per seed pair on 2 CPU cores.
The defaults train 1,500 steps, the book's budget until 2026-11-23 (750 since); ``--ssl '{"steps": 750}'
--supervised '{"steps": 750}'`` trains the current one.

    .venv/bin/python benchmarks/label_efficiency_seeds.py 3 --dir /tmp/seeds   # trains 6 encoders, keeps embeddings
    .venv/bin/python benchmarks/label_efficiency_seeds.py 3 --dir /tmp/seeds   # again: re-reads them, trains nothing
    .venv/bin/python benchmarks/label_efficiency_seeds.py 2 --size large --dir /tmp/seeds-large   # 150 neurons
    # judge a changed SSL recipe (any ssl_recipes.py keys) against the same supervised reference:
    .venv/bin/python benchmarks/label_efficiency_seeds.py 2 --size large --dir /tmp/t02 --ssl '{"temperature": 0.2}'
    # read both out after SegCLR aggregation (mean over the neuron's synapses within 10 um); trains nothing new
    .venv/bin/python benchmarks/label_efficiency_seeds.py 3 --dir /tmp/seeds --aggregate-um 10
    # what each embedding holds (evaluation chapter): silhouette, R² of the class-telling parameters and the axis
    .venv/bin/python benchmarks/label_efficiency_seeds.py 3 --dir /tmp/seeds --holds

Embeddings are saved in ``--dir`` as ``ssl_s<k>.npy`` / ``sup_s<k>.npy`` (rows in the order of the world's synapse
table); an existing file is read instead of trained. ``--dir`` remembers the recipes it was filled with
(``recipes.json``) and refuses other ones, so embeddings of two recipes never mix.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ssl_recipes  # noqa: E402  (the sibling benchmark: recipes and the world/split they share)

from emkit.analysis import confidence, evaluate  # noqa: E402
from emkit.learn.export import aggregate_embeddings  # noqa: E402
from emkit.synth.baseline import known_quantities, telling_parameters  # noqa: E402

SUPERVISED = {"mode": "supervised", "cube_shape_vox": [40, 40, 6], "view_shape_vox": None,
              "augment": {"preset": "geometric", "p_crop": 0.0}}


def recipes(size: str, ssl_changes: dict, supervised_changes: dict) -> dict:
    """The two recipes ("ssl", "sup") as ssl_recipes.run takes them, less the seed and the save path."""
    fixed = sorted({"size", "seed", "train_seed", "save"} & (set(ssl_changes) | set(supervised_changes)))
    if fixed:
        raise SystemExit(f"{fixed} are set by this benchmark (--size, the seeds, --dir), not by recipe changes")
    return {"ssl": {"mode": "ssl", **ssl_changes, "size": size},
            "sup": {**SUPERVISED, **supervised_changes, "size": size}}


def check_directory(directory: Path, chosen: dict) -> None:
    """Record ``chosen`` in ``directory/recipes.json``, or raise if the folder holds embeddings of other recipes."""
    record = directory / "recipes.json"
    if record.exists():
        before = json.loads(record.read_text())
        if before != json.loads(json.dumps(chosen)):
            raise SystemExit(f"{directory} holds embeddings of other recipes ({record}: {before}); "
                             f"choose another --dir for {chosen}")
    elif any(directory.glob("*_s*.npy")):
        raise SystemExit(f"{directory} holds embeddings but no recipes.json: choose another --dir")
    else:
        record.write_text(json.dumps(chosen, indent=1))


def embeddings(kind: str, train_seed: int, directory: Path, recipe: dict) -> np.ndarray:
    """(N, D) embedding of ``recipe`` (kind "ssl" | "sup") trained with ``train_seed``: read or trained."""
    path = directory / f"{kind}_s{train_seed}.npy"
    if not path.exists():
        figures = ssl_recipes.run({**recipe, "train_seed": train_seed, "save": str(path)})
        print(f"trained {kind} seed {train_seed}: {figures}", flush=True)
    return np.load(path)


def aggregated(x: np.ndarray, synapses, radius_um: float) -> np.ndarray:
    """SegCLR aggregation of ``x`` (rows = ``synapses``): mean over the same presynaptic neuron within the radius."""
    table = synapses[["pre_root_id", "x_nm", "y_nm", "z_nm"]].reset_index(drop=True)
    table = table.join(pd.DataFrame(x, columns=[f"emb_{i}" for i in range(x.shape[1])]))
    out = aggregate_embeddings(table, radius_um * 1000.0, root_col="pre_root_id", progress=False)
    return out[[f"emb_{i}" for i in range(x.shape[1])]].to_numpy()


def compare(runs: dict, world, synapses, train_idx, test_idx, *, aggregate_um: float | None = None,
            holds: bool = False) -> dict:
    """Print the linear probes (10 % and 100 % labels) of every run, with 95 % cluster-bootstrap intervals over
    test neurons, and the ratio 10 %-label probe / 100 %-label probe for every (SSL, supervised) pair.

    ``runs`` maps names starting with "ssl" or "sup" to (N, D) embeddings whose rows follow ``synapses``;
    ``holds`` adds each run's silhouette by class and by presynaptic neuron, and the R² of the class-telling
    parameters and of the in-plane axis.
    Returns what was printed: ``{"runs": {name: {...}}, "paired_ratios": [{ssl, supervised, ratio, interval}]}``.
    """
    out: dict = {"runs": {name: {} for name in runs}, "paired_ratios": []}
    labels, neurons = synapses["label"].to_numpy(), synapses["pre_root_id"].to_numpy()
    if holds:
        known = known_quantities(world.root, synapses)
        telling = telling_parameters(evaluate.class_variance_share(known, labels), n=4)
        print(f"the four most class-telling parameters: {telling}")
    print(f"test split: {len(test_idx)} synapses of {len(np.unique(neurons[test_idx]))} neurons")
    correct = {}  # (run name, label fraction) -> (draws, test rows) bool
    for name, x in runs.items():
        if aggregate_um is not None:  # a readout: the saved embeddings stay as trained
            x = aggregated(x, synapses, aggregate_um)
        if holds:
            r2 = evaluate.decodability(x, known[telling + ["axis x", "axis y"]], groups=neurons)["r2"]
            standardised = (x - x.mean(0)) / (x.std(0) + 1e-12)
            silhouette = evaluate.silhouette(standardised, labels)
            # by presynaptic neuron: does the embedding cluster the neuron (its idiosyncrasy) rather than its class?
            by_neuron = evaluate.silhouette(standardised, neurons)
            print(f"{name}  silhouette (standardised) by class {silhouette:.3f}, by neuron {by_neuron:.3f}  "
                  f"R² telling parameters {r2[telling].mean():.3f}  R² in-plane axis "
                  f"{r2[['axis x', 'axis y']].mean():.3f}")
            out["runs"][name].update(silhouette_standardised=round(float(silhouette), 3),
                                     silhouette_by_neuron_standardised=round(float(by_neuron), 3),
                                     r2_telling=round(float(r2[telling].mean()), 3),
                                     r2_axis=round(float(r2[["axis x", "axis y"]].mean()), 3))
        curve = evaluate.label_budget_curve(x, labels, train_idx, test_idx, fractions=(0.1, 1.0), seed=0,
                                            n_repeats=5, groups=neurons, progress=False, return_predictions=True)
        for fraction, draws in curve.groupby("label_fraction"):
            correct[name, fraction] = evaluate.draw_hits(draws)
            ci = confidence.accuracy_interval(correct[name, fraction], neurons[test_idx])
            print(f"{name}  probe {fraction:>4.0%}  {ci['value']:.3f}  ({ci['low']:.3f}-{ci['high']:.3f})")
            key = f"probe{round(fraction * 100)}"
            out["runs"][name][key] = round(float(ci["value"]), 3)
            out["runs"][name][f"{key}_interval"] = [round(float(ci["low"]), 3), round(float(ci["high"]), 3)]
    ssl_runs = [n for n in runs if n.startswith("ssl")]
    sup_runs = [n for n in runs if n.startswith("sup")]
    for a, b in itertools.product(ssl_runs, sup_runs):
        r = confidence.accuracy_ratio_interval(correct[a, 0.1], correct[b, 1.0], neurons[test_idx])
        print(f"ratio {a} / {b}  {r['value']:.3f}  ({r['low']:.3f}-{r['high']:.3f})")
        out["paired_ratios"].append(dict(ssl=a, supervised=b, ratio=round(float(r["value"]), 3),
                                         interval=[round(float(r["low"]), 3), round(float(r["high"]), 3)]))
    ratios = [p["ratio"] for p in out["paired_ratios"]]
    if not ratios:  # only one kind of run: no ratio to give
        return out
    ssl10 = np.mean([correct[n, 0.1].mean() for n in ssl_runs])
    sup = np.mean([correct[n, 1.0].mean() for n in sup_runs])
    print(f"means over runs: SSL 10 % probe {ssl10:.3f}, supervised {sup:.3f}, ratio of means {ssl10 / sup:.3f}; "
          f"pairwise ratios {min(ratios):.3f}-{max(ratios):.3f}")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", type=int, help="training seeds 0 .. seeds-1 of each recipe")
    parser.add_argument("--dir", type=Path, required=True, help="where embeddings are kept (one folder per size)")
    parser.add_argument("--size", default="default", help="synthetic world: default (72 neurons) | large (150)")
    parser.add_argument("--ssl", type=json.loads, default={}, help="changes to the book's SSL recipe (JSON)")
    parser.add_argument("--supervised", type=json.loads, default={},
                        help="changes to the supervised reference's recipe (JSON)")
    parser.add_argument("--aggregate-um", type=float, default=None,
                        help="read both out after SegCLR aggregation within this radius (um) of the same neuron")
    parser.add_argument("--holds", action="store_true",
                        help="also print each run's silhouette (by class and by neuron) and the cross-validated "
                             "R² of the four most class-telling drawn parameters and of the in-plane synapse axis")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    chosen = recipes(args.size, args.ssl, args.supervised)
    check_directory(args.dir, chosen)
    world, synapses, train_idx, test_idx = ssl_recipes.world_and_split({"size": args.size})
    runs = {f"{kind}_s{k}": embeddings(kind, k, args.dir, chosen[kind])
            for kind, k in itertools.product(("ssl", "sup"), range(args.seeds))}
    compare(runs, world, synapses, train_idx, test_idx, aggregate_um=args.aggregate_um, holds=args.holds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
