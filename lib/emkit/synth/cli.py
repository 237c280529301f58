"""``emkit synth``: generate the synthetic EM world from the command line (collected by :mod:`emkit.cli`)."""

from __future__ import annotations

import json


def _run(args) -> int:
    from .world import ensure_world, generate_world

    kw = dict(size=args.size, seed=args.seed, difficulty=args.difficulty, progress=not args.quiet)
    if args.force:
        info = generate_world(args.out, **kw)
        print(json.dumps(info, indent=1))
    else:
        root = ensure_world(args.out, **kw)
        print(f"world ready: {root}")
    return 0


def _run_baseline(args) -> int:
    from .baseline import baseline_accuracy

    print(json.dumps(baseline_accuracy(args.world), indent=1))
    return 0


def register_cli(subparsers) -> None:
    """Add ``emkit synth`` and ``emkit synth-baseline`` to an ``argparse`` subparsers object."""
    p = subparsers.add_parser("synth", help="generate the synthetic ground-truth EM world")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--size", default="tiny", choices=["tiny", "default", "large"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--difficulty", type=float, default=None, help="0 (easiest) .. 1 (no class signal)")
    p.add_argument("--force", action="store_true", help="regenerate even if COMPLETE matches")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)
    b = subparsers.add_parser("synth-baseline", help="baseline transmitter accuracy (neuron split) of a world")
    b.add_argument("world", help="world folder")
    b.set_defaults(func=_run_baseline)
