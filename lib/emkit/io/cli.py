"""``emkit datasets`` (list the descriptors) and ``emkit describe NAME`` (a dataset's markdown summary)."""

from __future__ import annotations

import argparse


def parse_params(items: list[str] | None) -> dict:
    """``["size=tiny", "seed=3"]`` -> ``{"size": "tiny", "seed": 3}`` (integers converted), for ``--param``."""
    params = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"--param expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        params[key] = int(value) if value.lstrip("-").isdigit() else value
    return params


def cmd_datasets(args: argparse.Namespace) -> int:
    from emkit.io.datasets import list_datasets, load_descriptor, validate_descriptor

    rows = []
    for name in list_datasets():
        desc = load_descriptor(name)
        try:
            validate_descriptor(desc)
            status = ""
        except ValueError as err:
            status = f"  [INVALID: {str(err).splitlines()[1].strip('- ')}]"
        vs = "x".join(f"{v:g}" for v in desc.get("voxel_size_nm", []))
        rows.append(f"{name:<20} {desc.get('kind', 'local'):<10} {vs + ' nm':<14} {desc.get('title', '')}{status}")
    print(f"{'name':<20} {'kind':<10} {'voxel size':<14} title")
    print("\n".join(rows))
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    from emkit.io.datasets import describe_all, describe_dataset

    if args.name == "all":
        print(describe_all())
    else:
        print(describe_dataset(args.name, **parse_params(args.param)))
    return 0


def register_cli(subparsers) -> None:
    """Add ``datasets`` and ``describe`` to the ``emkit`` command line."""
    p = subparsers.add_parser("datasets", help="list the dataset descriptors (data/*.yaml)")
    p.set_defaults(func=cmd_datasets)
    p = subparsers.add_parser("describe", help="print a dataset's summary (layers, tables, units, sources)")
    p.add_argument("name", help="descriptor name (data/<name>.yaml), a path, or 'all' (opens nothing)")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="template parameter, e.g. size=tiny")
    p.set_defaults(func=cmd_describe)
