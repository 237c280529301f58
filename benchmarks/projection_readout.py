"""Which SimCLR output clusters the transmitters better: the encoder's h (what emkit exports) or the head's z = g(h)?

SimCLR (Chen et al. 2020, Sec. 4.2) reads out h, before the projection head, because z is made invariant to the
augmentations and loses information a linear probe could use. Invariance could still help a *silhouette*, which
has no probe to pick the telling directions. This embeds the central views of the packed cubes with a trained
SimCLR checkpoint and prints the book's figures (10 % / all-label probe on the neuron split, silhouette by
transmitter, Hopkins) for h, z and z / |z|. Prints figures; not a test.

    # the book's SSL chapter leaves its checkpoint in <EMKIT_DATA>/runs/ssl-synapses-default-s0/checkpoints/
    .venv/bin/python benchmarks/gpu_full_ssl.py pack /tmp/cubes.npz
    .venv/bin/python benchmarks/projection_readout.py data/generated/runs/ssl-synapses-default-s0/checkpoints/last.pt \\
        /tmp/cubes.npz
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", help="a checkpoint of emkit.learn.train.train_ssl with objective simclr")
    ap.add_argument("cubes", help="packed cubes of the same world (gpu_full_ssl.py pack)")
    ap.add_argument("--encoder", default="resnet10", help="as trained (the book's CPU profile: resnet10)")
    ap.add_argument("--width-mult", type=float, default=0.25)
    args = ap.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import gpu_full_ssl

    from emkit.analysis import evaluate
    from emkit.learn.export import embed
    from emkit.learn.models import build_encoder
    from emkit.learn.train import SimCLRObjective

    ckpt = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    cfg = ckpt["config"]
    if cfg.get("objective", "simclr") != "simclr":
        raise SystemExit(f"{args.checkpoint}: objective {cfg.get('objective')!r}; this reads SimCLR heads only")
    npz = dict(np.load(args.cubes))
    encoder = build_encoder(args.encoder, in_channels=1, voxel_size_nm=gpu_full_ssl.VOXEL_NM,
                            width_mult=args.width_mult)
    objective = SimCLRObjective(encoder, cfg["proj_hidden"], cfg["proj_dim"], cfg["temperature"])
    objective.load_state_dict(ckpt["model"])
    objective.eval()
    views = gpu_full_ssl.PackedCubes(npz, view_vox=gpu_full_ssl.VIEW_VOX)
    h = evaluate.embedding_matrix(embed(encoder, views, batch_size=256, progress=False))
    with torch.no_grad():
        z = objective.head(torch.from_numpy(h).float()).numpy()
    print(f"checkpoint step {ckpt['step']}, {len(h)} synapses; h {h.shape[1]}-d, z {z.shape[1]}-d")
    for name, x in (("h (exported)", h), ("z = g(h)", z), ("z / |z|", z / np.linalg.norm(z, axis=1, keepdims=True))):
        print(f"{name:13s} {gpu_full_ssl._evaluate(x, npz)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
