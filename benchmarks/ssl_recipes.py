"""Compare SSL and supervised recipes for synapse embeddings on a synthetic world: one recipe per run, one line of
figures per run (train seconds, loss, linear-probe accuracy at 10 % / 100 % of the training labels on a neuron
split, silhouette by transmitter, Hopkins). Prints figures; not a test. This is how the book's SSL recipe was chosen.

    # the book's default recipe: cubes on the presynaptic point, 40x40x6 views jittered inside 64x64x8 cubes
    # (RECIPE keeps the 1,500 steps the book trained until 2026-11-23, at which most recipe rows of
    # book/ssl_study.md were run; the book trains 750 since: "steps": 750)
    .venv/bin/python benchmarks/ssl_recipes.py '{"mode": "ssl", "steps": 1500, "batch_size": 64}'
    # the supervised reference of the same encoder, on the central views
    .venv/bin/python benchmarks/ssl_recipes.py '{"mode": "supervised", "steps": 1500, "batch_size": 64,
        "cube_shape_vox": [40, 40, 6], "view_shape_vox": null, "augment": {"preset": "geometric", "p_crop": 0.0}}'
    # seed 003's layout: three-channel cubes on the cleft, no jitter
    .venv/bin/python benchmarks/ssl_recipes.py '{"mode": "ssl", "center": "cleft", "channels": ["raw", "pre_mask",
        "cleft_mask"], "cube_shape_vox": [56, 56, 12], "voxel_size_nm": [10, 10, 40], "view_shape_vox": null}'
    # an untrained encoder: "mode": "untrained"

Keys (defaults in RECIPE): mode (ssl | supervised | untrained), size, seed (world, split and training),
train_seed (training only: initial weights, batch order, augmentation; default = seed), center (pre | cleft), channels,
cube_shape_vox and view_shape_vox (x, y, z voxels; view null = the whole cube), voxel_size_nm, encoder_name,
width_mult, steps, batch_size, optimizer (adamw | sgd, momentum 0.9), lr, temperature, decoupled (true: SimCLR's
NT-Xent without the positive in its denominator, Yeh et al. 2022), objective (simclr | simsiam),
augment, channels_last, symmetries (none | plane | plane_z: the embedding averaged over flips and quarter-turns,
emkit.learn.export.embed), align (true: every cube turned in the section plane so that its synapse axis, pre to
post point, points along +x; cut 1.42x wider, turned with scipy.ndimage.rotate, then cropped), save (a .npy path
for the (N, D) embedding; the encoder's weights go beside it as .pt).
probe10 is the mean over 5 draws of the 10 % labels; the probe's L2 strength is chosen by cross-validation grouped by
neuron (emkit.analysis.evaluate.linear_probe). The world must exist or is generated (default: ~1 min).
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
from scipy import ndimage
from torch.utils.data import Dataset

from emkit.analysis import evaluate, splits
from emkit.cutouts import CutoutDataset, synapse_cube_spec
from emkit.io.datasets import open_dataset
from emkit.io.points import centred_on, synapse_axis
from emkit.learn.augment import centre_crop, jitter_crop
from emkit.learn.export import embed
from emkit.learn.models import build_encoder
from emkit.learn.train import TrainConfig, train_ssl, train_supervised

RECIPE = dict(mode="ssl", size="default", seed=0, center="pre", channels=["raw"], cube_shape_vox=[64, 64, 8],
              view_shape_vox=[40, 40, 6], voxel_size_nm=[8.0, 8.0, 40.0], encoder_name="resnet10", width_mult=0.25,
              steps=1500, batch_size=64, optimizer="adamw", lr=1e-3, temperature=0.1, decoupled=False,
              objective="simclr", augment={"preset": "simclr_em", "p_crop": 0.0}, channels_last=True,
              train_seed=None, symmetries="none", align=False)


class AlignedCubes(Dataset):
    """Cutouts of ``base`` turned in the section plane by ``angles_deg`` (one per row) and cropped to ``shape_vox``.

    ``base`` must be cut at least sqrt(2) times wider in x and y than ``shape_vox`` so that no corner of the crop
    comes from outside the cutout. Raw is interpolated linearly, the valid mask by nearest neighbour. Items as
    :class:`emkit.cutouts.CutoutDataset`'s; all cubes are held in memory.
    """

    def __init__(self, base, angles_deg, shape_vox):
        self.points = base.points
        self.shape_vox = tuple(int(v) for v in shape_vox)
        self.items = []
        for i in range(len(base)):
            item = dict(base[i])
            # angle +a about z takes the direction at a from +x onto +x (axes (y, x) of (C, z, y, x))
            x = ndimage.rotate(item["x"].numpy(), angles_deg[i], axes=(2, 3), reshape=False, order=1, mode="nearest")
            valid = ndimage.rotate(item["valid"].numpy(), angles_deg[i], axes=(1, 2), reshape=False, order=0)
            item["x"] = torch.from_numpy(np.ascontiguousarray(centre_crop(x, self.shape_vox)))
            item["valid"] = torch.from_numpy(np.ascontiguousarray(centre_crop(valid, self.shape_vox)))
            item["at_border"] = not bool(item["valid"].all())
            self.items.append(item)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.items[int(index)]


def cutouts(world, synapses, shape_vox, voxel_size_nm, channels, align: bool):
    """The synapse cubes of a recipe, turned so that each synapse axis points along +x when ``align``."""
    if not align:
        return CutoutDataset(world, synapses, synapse_cube_spec(tuple(shape_vox), voxel_size_nm, channels=channels),
                             cache=True, progress=False)
    wide = (int(np.ceil(shape_vox[0] * 0.71)) * 2, int(np.ceil(shape_vox[1] * 0.71)) * 2, int(shape_vox[2]))
    base = CutoutDataset(world, synapses, synapse_cube_spec(wide, voxel_size_nm, channels=channels), cache=True,
                         progress=False)
    return AlignedCubes(base, synapse_axis(synapses)["axis_angle_xy_deg"].to_numpy(), shape_vox)


def world_and_split(recipe: dict):
    """The recipe's synthetic world, its synapses centred as the recipe says, and the 70/30 neuron split.

    Returns (world, synapses, train_idx, test_idx); the row positions index ``synapses``.
    """
    r = {**RECIPE, **recipe}
    world = open_dataset("synthetic", size=r["size"], seed=r["seed"])
    synapses = centred_on(world.points("synapses"), r["center"])
    split = splits.group_split(synapses, "pre_root_id", fractions=(0.7, 0.3), part_names=("train", "test"),
                               stratify_col="label", seed=r["seed"])
    return world, synapses, np.flatnonzero(split == "train"), np.flatnonzero(split == "test")


def run(recipe: dict) -> dict:
    r = {**RECIPE, **recipe}
    train_seed = r["seed"] if r["train_seed"] is None else int(r["train_seed"])
    torch.manual_seed(train_seed)
    world, synapses, train_idx, test_idx = world_and_split(r)
    channels, vox = tuple(r["channels"]), tuple(r["voxel_size_nm"])
    cubes = cutouts(world, synapses, r["cube_shape_vox"], vox, channels, r["align"])
    augment = dict(r["augment"])
    views = cubes
    if r["view_shape_vox"]:
        augment.update(jitter_crop(r["cube_shape_vox"], r["view_shape_vox"]))
        views = cutouts(world, synapses, r["view_shape_vox"], vox, channels, r["align"])
    encoder = build_encoder(r["encoder_name"], in_channels=len(channels), voxel_size_nm=vox,
                            width_mult=r["width_mult"])
    cfg = dict(max_steps=r["steps"], batch_size=r["batch_size"], optimizer=r["optimizer"], lr=r["lr"],
               warmup_steps=max(1, r["steps"] // 10), seed=train_seed, channels_last=r["channels_last"], progress=False)
    t0 = time.perf_counter()
    loss = (float("nan"), float("nan"))
    if r["mode"] in ("ssl", "supervised"):
        if r["mode"] == "ssl":
            hist = train_ssl(encoder, cubes, TrainConfig(**cfg, objective=r["objective"], temperature=r["temperature"],
                                                         decoupled=r["decoupled"], augment=augment))
        else:
            train_cubes = cutouts(world, synapses.iloc[train_idx], r["cube_shape_vox"], vox, channels, r["align"])
            hist = train_supervised(encoder, train_cubes, TrainConfig(**cfg, objective="supervised",
                                                                      augment_supervised=augment))
        loss = (float(hist["loss"].iloc[:10].mean()), float(hist["loss"].iloc[-10:].mean()))
    elif r["mode"] != "untrained":
        raise ValueError(f"mode must be ssl, supervised or untrained, got {r['mode']!r}")
    train_s = time.perf_counter() - t0
    X = evaluate.embedding_matrix(embed(encoder, views, batch_size=64, progress=False, symmetries=r["symmetries"]))
    y = synapses["label"].to_numpy()
    if r.get("save"):
        np.save(r["save"], X)
        torch.save(encoder.state_dict(), str(r["save"]).removesuffix(".npy") + ".pt")
    curve = evaluate.label_budget_curve(X, y, train_idx, test_idx, fractions=(0.1, 1.0), seed=r["seed"],
                                        n_repeats=5, groups=synapses["pre_root_id"].to_numpy(), progress=False)
    acc = curve.groupby("label_fraction")["accuracy"].mean()
    return dict(train_s=round(train_s, 1), loss_first10=round(loss[0], 3), loss_last10=round(loss[1], 3),
                probe10=round(float(acc[0.1]), 3), probe100=round(float(acc[1.0]), 3),
                silhouette=round(evaluate.silhouette(X, y), 3), hopkins=round(evaluate.hopkins(X), 3))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    recipe = json.loads(argv[0]) if argv else {}
    print(json.dumps(recipe), flush=True)
    print(json.dumps(run(recipe)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
