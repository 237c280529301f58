"""``emkit train`` and ``emkit embed``: thin wrappers over :mod:`emkit.learn.train` and :mod:`emkit.learn.export`.

``emkit train --config cfg.yaml`` is the same entry point as ``python -m emkit.learn.train --config cfg.yaml``
(and works under ``torchrun``).
"""

from __future__ import annotations

import argparse


def _embed(args: argparse.Namespace) -> int:
    import torch
    import yaml

    from .export import embed, write_embeddings
    from .models import build_encoder
    from .train import build_dataset

    with open(args.config) as f:
        config = yaml.safe_load(f) or {}
    encoder = build_encoder(**(config.get("model") or {"name": "slim"}))
    encoder.load_state_dict(torch.load(args.encoder, map_location="cpu", weights_only=True))
    df = embed(encoder, build_dataset(config.get("data") or {}), batch_size=args.batch_size,
               symmetries=args.symmetries)
    spec = {"model": config.get("model"), "data": config.get("data"), "symmetries": args.symmetries}
    path = write_embeddings(df, args.out, model_id=args.model_id or str(args.encoder), spec=spec)
    print(f"wrote {len(df)} embeddings of dim {df.shape[1] - 1} to {path}")
    return 0


def register_cli(subparsers) -> None:
    """Add ``train`` and ``embed`` to the ``emkit`` command line."""
    from .train import add_arguments, run_from_args

    p = subparsers.add_parser("train", help="train an encoder (SimCLR / SimSiam / supervised) from a YAML config")
    add_arguments(p)
    p.set_defaults(func=run_from_args)

    e = subparsers.add_parser("embed", help="embed a config's dataset with a saved encoder, write parquet")
    e.add_argument("--config", required=True, help="YAML with model and data sections")
    e.add_argument("--encoder", required=True, help="encoder state_dict (.pt), e.g. the config's save_encoder")
    e.add_argument("--out", required=True, help="output parquet")
    e.add_argument("--model-id", default=None)
    e.add_argument("--batch-size", type=int, default=32)
    # no choices= here: emkit.learn.export.SYMMETRIES names them, and embed() rejects others by name
    e.add_argument("--symmetries", default="none",
                   help="none | plane | plane_z: average each embedding over flips and quarter-turns in the section "
                        "plane (plane), and z reversed (plane_z); see emkit.learn.export.embed")
    e.set_defaults(func=_embed)
