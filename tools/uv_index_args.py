"""Print the package sources pip is configured with as `uv pip install` arguments.

`make env` installs the lock file with uv (https://docs.astral.sh/uv/) because it is about twice as fast as pip on
a fresh clone (measured 2026-11-23 on a 2-core machine, the same lock file into an empty venv: pip 2m04s-2m40s,
uv 49-61 s, bytecode compiled by both). uv does not read pip's configuration (pip.conf, PIP_* variables), so a
machine whose pip is pointed at a local index or wheel folder (ours hold torch's CPU wheel there) would send uv to
PyPI alone, where torch is the multi-GB CUDA build. This script reads pip's own view of its configuration
(`python -m pip config list`, which merges the files and the PIP_* variables) and prints the matching uv options,
one per line, for the Makefile to pass on:

- ``index-url`` -> ``--index-url``; ``extra-index-url`` -> ``--extra-index-url`` (each URL);
- ``find-links`` -> ``--find-links`` (each location); ``constraint`` -> ``--constraint`` (each file);
- always ``--index-strategy unsafe-best-match``: pip picks the best version across all its indexes, uv by default
  stops at the first index that has the package.

Run with the venv's python: ``.venv/bin/python tools/uv_index_args.py``. It uses only the standard library.
"""

from __future__ import annotations

import ast
import subprocess
import sys

#: pip option name -> uv option, for the options that say where packages come from.
PIP_TO_UV = {
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
}


def parse_pip_config(listing: str) -> dict[str, list[str]]:
    """Collect the package sources from the text that ``pip config list`` prints.

    Parameters
    ----------
    listing : str
        Lines such as ``global.find-links='/opt/wheels'`` or ``:env:.extra-index-url='URL1 URL2'``: a section
        (``global``, ``install``, ``:env:``, ...), a dot, the option, ``=``, and the value as a Python literal.
        pip's multi-valued options hold several values separated by white space.

    Returns
    -------
    dict of str to list of str
        For each option of `PIP_TO_UV` that is set, its values in order of appearance, without repeats (the same
        location often comes from both a file and a PIP_* variable). ``index-url`` holds one value, as in pip: a
        PIP_INDEX_URL variable (section ``:env:``) wins over the files, and among files the last line wins.

    Raises
    ------
    ValueError
        If a line is not ``section.option=value``; the message quotes the line.
    """
    sources: dict[str, list[str]] = {}
    env_index_url = False
    for line in listing.splitlines():
        if not line.strip():
            continue
        key, sep, raw_value = line.partition("=")
        if not sep or "." not in key:
            raise ValueError(f"cannot read this line of `pip config list`: {line!r}")
        section, option = key.rsplit(".", 1)
        if option not in PIP_TO_UV:
            continue
        try:
            value = ast.literal_eval(raw_value)
        except (ValueError, SyntaxError):
            value = raw_value
        items = str(value).split()
        if option == "index-url":
            if section == ":env:" or not env_index_url:
                sources[option] = items[-1:]
            env_index_url = env_index_url or section == ":env:"
            continue
        for item in items:
            if item not in sources.setdefault(option, []):
                sources[option].append(item)
    return sources


def uv_arguments(sources: dict[str, list[str]]) -> list[str]:
    """Turn pip's package sources (`parse_pip_config`) into `uv pip install` arguments.

    Parameters
    ----------
    sources : dict of str to list of str
        pip option name -> values.

    Returns
    -------
    list of str
        Alternating option and value, e.g. ``["--find-links", "/opt/wheels", ...]``, ending with
        ``--index-strategy unsafe-best-match``.
    """
    arguments: list[str] = []
    for option, uv_option in PIP_TO_UV.items():
        for value in sources.get(option, []):
            arguments += [uv_option, value]
    return arguments + ["--index-strategy", "unsafe-best-match"]


def main() -> int:
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], check=True, capture_output=True, text=True
    ).stdout
    print("\n".join(uv_arguments(parse_pip_config(listing))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
