"""Does a linear probe read the transmitter better from earlier stages of the trained encoders than from the last?

Self-supervised features are often more linearly useful a few layers before the end, where the contrastive
objective has not yet made them invariant to what the augmentations change (Bordes et al. 2022, "Guillotine
regularization"); grey-level statistics are among those, and they tell transmitters apart in the synthetic world.
This reads the encoders that ``label_efficiency_seeds.py`` trained and kept (``--dir``: ``ssl_s<k>.pt`` and
``sup_s<k>.pt``) and embeds the central views with the global average pool of each residual stage. It then prints
that benchmark's probes and ratios for four readouts, the same on both sides: the last stage (the exported
embedding), the third, the third and fourth concatenated, and all four. Prints figures; not a test.

    .venv/bin/python benchmarks/label_efficiency_seeds.py 5 --dir /tmp/seeds750 --ssl '{"steps": 750}' \\
        --supervised '{"steps": 750}'                               # trains and keeps the ten encoders
    .venv/bin/python benchmarks/stage_readouts.py 5 --dir /tmp/seeds750   # embeds them four ways, trains nothing
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import label_efficiency_seeds  # noqa: E402  (the sibling benchmark: probes, intervals and ratios)
import ssl_recipes  # noqa: E402

from emkit.analysis import evaluate  # noqa: E402
from emkit.learn.export import embed  # noqa: E402
from emkit.learn.models import build_encoder  # noqa: E402

READOUTS = {"last stage (exported)": (3,), "stage 3": (2,), "stages 3 + 4": (2, 3), "all four stages": (0, 1, 2, 3)}


class StagePools(nn.Module):
    """``(N, C, D, H, W)`` -> the global average pool of every residual stage of a :class:`ResNet3d`, concatenated:
    ``(N, sum of the stages' widths)``, stage 1 first."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.encoder.pool(self.encoder.stem(x))
        pooled = []
        for stage in self.encoder.stages:
            x = stage(x)
            pooled.append(torch.flatten(nn.functional.adaptive_avg_pool3d(x, 1), 1))
        return torch.cat(pooled, 1)


def stage_widths(encoder: nn.Module) -> list[int]:
    """Output channels of each residual stage."""
    return [stage[-1].conv2.out_channels * getattr(type(stage[-1]), "expansion", 1) for stage in encoder.stages]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seeds", type=int, help="training seeds 0 .. seeds-1 of each recipe, as trained")
    parser.add_argument("--dir", type=Path, required=True, help="label_efficiency_seeds.py's folder, with *.pt")
    parser.add_argument("--size", default="default")
    args = parser.parse_args(argv)
    recipes = json.loads((args.dir / "recipes.json").read_text())
    ssl = {**ssl_recipes.RECIPE, **recipes["ssl"]}
    world, synapses, train_idx, test_idx = ssl_recipes.world_and_split({"size": args.size})
    voxel = tuple(ssl["voxel_size_nm"])
    views = ssl_recipes.cutouts(world, synapses, ssl["view_shape_vox"], voxel, tuple(ssl["channels"]), False)
    pooled, widths = {}, None
    for kind, k in itertools.product(("ssl", "sup"), range(args.seeds)):
        encoder = build_encoder(ssl["encoder_name"], in_channels=len(ssl["channels"]), voxel_size_nm=voxel,
                                width_mult=ssl["width_mult"])
        encoder.load_state_dict(torch.load(args.dir / f"{kind}_s{k}.pt", map_location="cpu", weights_only=True))
        widths = stage_widths(encoder)
        pooled[kind, k] = evaluate.embedding_matrix(embed(StagePools(encoder), views, batch_size=64, progress=False))
        exported = np.load(args.dir / f"{kind}_s{k}.npy")  # the last stage must be the embedding as exported
        if not np.allclose(pooled[kind, k][:, -widths[-1]:], exported, atol=1e-4):
            raise SystemExit(f"{kind}_s{k}: the last stage's pool differs from {kind}_s{k}.npy: other views?")
    edges = np.concatenate([[0], np.cumsum(widths)])
    for name, stages in READOUTS.items():
        print(f"===== readout: {name} ({sum(widths[s] for s in stages)} features)")
        runs = {f"{kind}_s{k}": np.concatenate([x[:, edges[s]:edges[s + 1]] for s in stages], 1)
                for (kind, k), x in pooled.items()}
        label_efficiency_seeds.compare(runs, world, synapses, train_idx, test_idx)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
