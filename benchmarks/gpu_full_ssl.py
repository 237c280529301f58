"""Does a full-size encoder, trained longer on a GPU, cluster the synapse cubes better than the book's CPU recipe?

The book's default profile trains a ResNet-10 at width 1/4 for 1500 steps on CPU. This trains the full ResNet-18
(width 1, 33 M parameters) with the same data, views and augmentation, for many more steps and larger batches,
with bf16 autocast and channels-last on a GPU; then the same evaluation (linear probe at 10 % / 100 % labels on
the neuron split, silhouette by transmitter, Hopkins) and the supervised reference of the same encoder. Prints
figures; not a test.

A GPU machine often cannot read the world (no network, no cloud-volume), so the cubes travel as one file:

    # here (CPU): cut the default world's 64x64x8 raw cubes once, store them as uint8 (40 MiB for the default world)
    .venv/bin/python benchmarks/gpu_full_ssl.py pack /tmp/cubes.npz
    # on the GPU machine: train, embed, evaluate; embeddings and history go to --out
    python benchmarks/gpu_full_ssl.py run /tmp/cubes.npz --steps 3000 --batch-size 256 --out /tmp/res
    # SegCLR-style positives (two synapses of one presynaptic neuron, emkit.learn.pairs) instead of two views of a cube
    python benchmarks/gpu_full_ssl.py run /tmp/cubes.npz --pairs neuron --modes ssl --out /tmp/res_pairs
    # SwAV (prototypes and Sinkhorn codes, emkit.learn.losses.swav_loss) instead of SimCLR
    python benchmarks/gpu_full_ssl.py run /tmp/cubes.npz --objective swav --modes ssl --out /tmp/res_swav
    # for scale: the same encoder untrained (its seed-0 initial weights)
    python benchmarks/gpu_full_ssl.py run /tmp/cubes.npz --modes untrained --out /tmp/res_untrained
    # back here: intervals over test neurons, the paired ratio, and what the embeddings hold
    .venv/bin/python benchmarks/gpu_full_ssl.py judge --ssl /tmp/res/ssl.npy --sup /tmp/res/supervised.npy --holds

Only ``run`` is needed on the GPU machine, and it imports emkit.learn and emkit.analysis only (torch, numpy,
pandas, scipy, scikit-learn), never the volume readers. ``pack`` checks that the central 40x40x6 crop of each packed
cube equals the 40x40x6 cutout the book embeds (the engine centres both on the same point).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from emkit.learn.augment import centre_crop

CUBE_VOX = (64, 64, 8)  # x, y, z: the book's SSL cubes (lib/emkit/learn/configs/ssl_synapses.yaml)
VIEW_VOX = (40, 40, 6)  # the views cut out of them, and the central crop that is embedded
VOXEL_NM = (8.0, 8.0, 40.0)


def pack(path: str, size: str = "default", seed: int = 0) -> None:
    """Cut the world's raw synapse cubes (as the book's SSL chapter does) and save them as uint8 with the labels,
    neuron ids and the 70/30 neuron split of ``ssl_recipes.world_and_split``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import ssl_recipes
    from emkit.cutouts import CutoutDataset, synapse_cube_spec

    world, synapses, train_idx, test_idx = ssl_recipes.world_and_split({"size": size, "seed": seed})
    cubes = CutoutDataset(world, synapses, synapse_cube_spec(CUBE_VOX, VOXEL_NM, channels=("raw",)), cache=True,
                          progress=True)
    views = CutoutDataset(world, synapses, synapse_cube_spec(VIEW_VOX, VOXEL_NM, channels=("raw",)), cache=True,
                          progress=True)
    x = np.stack([cubes[i]["x"].numpy() for i in range(len(cubes))])  # (N, 1, 8, 64, 64), normalised float
    valid = np.stack([cubes[i]["valid"].numpy() for i in range(len(cubes))])
    check = np.stack([views[i]["x"].numpy() for i in range(len(views))])
    if not np.array_equal(centre_crop(x, VIEW_VOX), check):
        raise RuntimeError("the central crop of the packed cubes differs from the book's view cutouts")
    lo, hi = (float(v) for v in np.percentile(x[valid[:, None]], [0.05, 99.95]))
    q = np.clip(np.round((x - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)
    err = np.abs(q.astype(np.float32) / 255.0 * (hi - lo) + lo - x)[valid[:, None]]
    np.savez_compressed(path, raw_u8=q, lo=lo, hi=hi, valid=np.packbits(valid, axis=-1),
                        ids=synapses["id"].to_numpy(), labels=np.asarray(synapses["label"].astype(str), dtype=str),
                        groups=synapses["pre_root_id"].to_numpy(), train_idx=train_idx, test_idx=test_idx,
                        voxel_size_nm=np.array(VOXEL_NM), world=np.array(f"synthetic size={size} seed={seed}"))
    print(f"packed {len(q)} cubes {q.shape[1:]} to {path} ({Path(path).stat().st_size / 2**20:.1f} MiB); "
          f"uint8 step {(hi - lo) / 255:.4f}, mean |error| {err.mean():.4f} (values clipped to [{lo:.2f}, {hi:.2f}])")


class PackedCubes(Dataset):
    """The packed cubes as the cutout items emkit.learn trains on: ``x`` (1, D, H, W) float32, ``id``, ``label``,
    ``valid`` (D, H, W); ``view_vox`` (x, y, z) gives the central crop instead of the whole cube."""

    def __init__(self, npz, rows=None, view_vox=None):
        raw = npz["raw_u8"].astype(np.float32) / 255.0 * (float(npz["hi"]) - float(npz["lo"])) + float(npz["lo"])
        valid = np.unpackbits(npz["valid"], axis=-1, count=raw.shape[-1]).astype(bool)
        rows = np.arange(len(raw)) if rows is None else np.asarray(rows)
        if view_vox is not None:
            raw, valid = centre_crop(raw, view_vox), centre_crop(valid, view_vox)
        self.x = torch.from_numpy(np.ascontiguousarray(raw[rows]))
        self.valid = torch.from_numpy(np.ascontiguousarray(valid[rows]))
        self.ids = npz["ids"][rows]
        self.labels = npz["labels"][rows]

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict:
        return {"x": self.x[i], "id": int(self.ids[i]), "label": str(self.labels[i]), "valid": self.valid[i],
                "at_border": not bool(self.valid[i].all())}


def _evaluate(X, npz) -> dict:
    """The chapter's figures; the label draws use seed 0 whatever the training seed, as label_efficiency_seeds."""
    from emkit.analysis import evaluate

    y, groups = npz["labels"], npz["groups"]
    curve = evaluate.label_budget_curve(X, y, npz["train_idx"], npz["test_idx"], fractions=(0.1, 1.0), seed=0,
                                        n_repeats=5, groups=groups, progress=False)
    acc = curve.groupby("label_fraction")["accuracy"].mean()
    return dict(probe10=round(float(acc[0.1]), 3), probe100=round(float(acc[1.0]), 3),
                silhouette=round(evaluate.silhouette(X, y), 3), hopkins=round(evaluate.hopkins(X), 3))


def run(args) -> None:
    from emkit.analysis import evaluate
    from emkit.learn.augment import jitter_crop
    from emkit.learn.export import embed
    from emkit.learn.models import build_encoder
    from emkit.learn.train import TrainConfig, train_ssl, train_supervised

    npz = dict(np.load(args.cubes))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cubes, views = PackedCubes(npz), PackedCubes(npz, view_vox=VIEW_VOX)
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"{len(cubes)} cubes {tuple(cubes.x.shape[1:])}, device {dev} "
          f"({torch.cuda.get_device_name() if dev == 'cuda' else 'no GPU'}), torch {torch.__version__}", flush=True)
    common = dict(max_steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup_steps=max(1, args.steps // 10),
                  channels_last=True, amp=args.amp, progress=False, device=dev)
    results = {}
    for mode in args.modes:
        torch.manual_seed(args.seed)
        enc = build_encoder(args.encoder, in_channels=1, voxel_size_nm=VOXEL_NM, width_mult=args.width_mult)
        t0 = time.perf_counter()
        if mode == "ssl":
            aug = {"preset": "simclr_em", "p_crop": 0.0, **jitter_crop(CUBE_VOX, VIEW_VOX)}
            data = cubes
            if args.pairs == "neuron":  # SegCLR-style positives: another synapse of the same presynaptic neuron
                from emkit.learn.pairs import SameObjectPairs

                data = SameObjectPairs(cubes, npz["groups"], seed=args.seed)
                print(data, flush=True)
            hist = train_ssl(enc, data, TrainConfig(**common, seed=args.seed, temperature=args.temperature,
                                                    augment=aug, objective=args.objective,
                                                    n_prototypes=args.prototypes, swav_epsilon=args.swav_epsilon,
                                                    freeze_prototypes_steps=args.freeze_prototypes))
        elif mode == "untrained":  # for scale: the same encoder with its initial weights (seed --seed), no steps
            hist = pd.DataFrame({"loss": [], "samples_per_s": []})
        else:  # the supervised reference: the same encoder on the central views of the training neurons
            train_views = PackedCubes(npz, rows=npz["train_idx"], view_vox=VIEW_VOX)
            sup = {**common, "max_steps": args.sup_steps or args.steps, "batch_size": args.sup_batch_size or
                   args.batch_size, "warmup_steps": max(1, (args.sup_steps or args.steps) // 10)}
            hist = train_supervised(enc, train_views, TrainConfig(
                **sup, seed=args.seed, objective="supervised",
                augment_supervised={"preset": "geometric", "p_crop": 0.0}))
        if dev == "cuda":
            torch.cuda.synchronize()
        train_s = time.perf_counter() - t0
        hist.to_csv(out / f"{mode}_history.csv", index=False)
        t1 = time.perf_counter()
        X = evaluate.embedding_matrix(embed(enc, views, batch_size=256, progress=False, amp=False))
        embed_s = time.perf_counter() - t1
        np.save(out / f"{mode}.npy", X)
        sps = hist["samples_per_s"].iloc[len(hist) // 10:].median()  # past warm-up and cuDNN autotuning
        r = dict(mode=mode, encoder=f"{args.encoder} x{args.width_mult}", steps=len(hist),
                 batch=args.batch_size if mode == "ssl" else (args.sup_batch_size or args.batch_size),
                 amp=args.amp, train_s=round(train_s, 1), samples_per_s=round(float(sps), 1),
                 embed_s=round(embed_s, 1), loss_first10=round(float(hist["loss"].iloc[:10].mean()), 3),
                 loss_last10=round(float(hist["loss"].iloc[-10:].mean()), 3), **_evaluate(X, npz),
                 seed=args.seed, lr=args.lr)
        if mode == "ssl":  # what was trained, so that a results.json names its own recipe
            r.update(objective=args.objective, pairs=args.pairs)
            r.update({"simclr": dict(temperature=args.temperature), "simsiam": {},
                      "swav": dict(prototypes=args.prototypes, swav_epsilon=args.swav_epsilon,
                                   freeze_prototypes=args.freeze_prototypes)}[args.objective])
        results[mode] = r
        print(json.dumps(r), flush=True)
    if {"ssl", "supervised"} <= set(results):
        ratio = results["ssl"]["probe10"] / results["supervised"]["probe100"]
        print(f"label efficiency: SSL probe10 / supervised probe100 = {ratio:.3f} (target >= 0.9)")
    (out / "results.json").write_text(json.dumps(results, indent=1))


def judge(args) -> None:
    """Judge saved embeddings (rows in the order of the world's synapse table, as ``run`` writes them) with
    label_efficiency_seeds.compare: probe intervals over test neurons and paired SSL / supervised ratios."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import label_efficiency_seeds
    import ssl_recipes

    world, synapses, train_idx, test_idx = ssl_recipes.world_and_split({"size": args.size})
    runs = {}
    for kind, paths in (("ssl", args.ssl), ("sup", args.sup)):
        for k, path in enumerate(paths):
            x = np.load(path)
            if len(x) != len(synapses):
                raise SystemExit(f"{path}: {len(x)} rows, but the {args.size} world has {len(synapses)} synapses")
            runs[f"{kind}{k} ({Path(path).parent.name}/{Path(path).name})"] = x
    result = label_efficiency_seeds.compare(runs, world, synapses, train_idx, test_idx,
                                            aggregate_um=args.aggregate_um, holds=args.holds)
    if args.json:
        Path(args.json).write_text(json.dumps({"world": args.size, "aggregate_um": args.aggregate_um, **result},
                                              indent=1))
        print(f"wrote {args.json}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack", help="cut and save the cubes (needs the world; CPU)")
    p.add_argument("path")
    p.add_argument("--size", default="default")
    p.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("run", help="train, embed and evaluate from a packed file")
    r.add_argument("cubes")
    r.add_argument("--out", required=True)
    r.add_argument("--modes", nargs="+", default=["ssl", "supervised"], choices=["ssl", "supervised", "untrained"])
    r.add_argument("--encoder", default="resnet18")
    r.add_argument("--width-mult", type=float, default=1.0)
    r.add_argument("--steps", type=int, default=3000)
    r.add_argument("--batch-size", type=int, default=256)
    r.add_argument("--sup-steps", type=int, default=None, help="supervised reference steps (default: --steps)")
    r.add_argument("--sup-batch-size", type=int, default=None, help="(default: --batch-size)")
    r.add_argument("--lr", type=float, default=1e-3)
    r.add_argument("--temperature", type=float, default=0.1)
    r.add_argument("--amp", default="bf16")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--objective", default="simclr", choices=["simclr", "simsiam", "swav"], help="SSL objective")
    r.add_argument("--prototypes", type=int, default=32, help="SwAV: number of prototypes")
    r.add_argument("--swav-epsilon", type=float, default=0.05, help="SwAV: Sinkhorn entropy regularisation")
    r.add_argument("--freeze-prototypes", type=int, default=0, help="SwAV: steps with the prototypes fixed")
    r.add_argument("--pairs", default="view", choices=["view", "neuron"],
                   help="SSL positives: two views of one cube (SimCLR) or two synapses of one neuron (SegCLR-style)")
    j = sub.add_parser("judge", help="intervals and paired ratios of saved embeddings (needs the world; CPU)")
    j.add_argument("--ssl", nargs="+", default=[], help="SSL embeddings (.npy)")
    j.add_argument("--sup", nargs="+", default=[], help="supervised reference embeddings (.npy)")
    j.add_argument("--size", default="default")
    j.add_argument("--aggregate-um", type=float, default=None)
    j.add_argument("--holds", action="store_true")
    j.add_argument("--json", default=None, help="also write the printed figures to this JSON file")
    args = ap.parse_args(argv)
    if args.cmd == "pack":
        pack(args.path, args.size, args.seed)
    elif args.cmd == "judge":
        judge(args)
    else:
        run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
