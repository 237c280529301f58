"""The ``emkit`` command line: thin wrappers over the same functions the notebooks call.

Each subpackage that offers commands exposes ``register_cli(subparsers)``; this module only collects them.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that contribute subcommands; each defines register_cli(subparsers) and sets `func` on its parsers.
_PROVIDERS = (
    "emkit.book",
    "emkit.synth.cli",
    "emkit.io.cli",
    "emkit.cutouts.cli",
    "emkit.learn.cli",
    "emkit.analysis.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emkit", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in _PROVIDERS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:  # a provider not written yet must not break the others
            if err.name and err.name.startswith("emkit"):
                continue
            raise
        module.register_cli(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
