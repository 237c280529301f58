"""Where things live: the project root, the data folder, generated data, the real samples.

Every other module asks this one for folders, so that a notebook opened in JupyterLab (cwd = ``notebooks/``),
a papermill run (cwd = repo root) and a test (``tmp_path``) all agree.
"""

from __future__ import annotations

import os
from pathlib import Path

_MARKERS = ("_toc.yml", "pyproject.toml")


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The repository root: the first parent of ``start`` (default: cwd, then this file) holding ``_toc.yml``.

    ``EMKIT_ROOT`` overrides the search.
    """
    env = os.environ.get("EMKIT_ROOT")
    if env:
        return Path(env).resolve()
    candidates = [Path(start or os.getcwd()).resolve(), Path(__file__).resolve()]
    for base in candidates:
        for parent in [base, *base.parents]:
            if all((parent / m).exists() for m in _MARKERS):
                return parent
    raise FileNotFoundError(
        "cannot find the emkit project root (a folder with _toc.yml and pyproject.toml) above "
        f"{candidates[0]}; set EMKIT_ROOT"
    )


def descriptors_dir() -> Path:
    """Folder of the dataset descriptors (``data/*.yaml``)."""
    return project_root() / "data"


def data_dir() -> Path:
    """Folder for generated data and caches: ``$EMKIT_DATA`` or ``<root>/data/generated``."""
    env = os.environ.get("EMKIT_DATA")
    path = Path(env) if env else project_root() / "data" / "generated"
    path.mkdir(parents=True, exist_ok=True)
    return path


def measured_dir() -> Path:
    """Recorded measurements the book shows but cannot rerun on every machine (e.g. GPU throughput):
    ``<root>/book/measured``, JSON files that name their device, date and commands."""
    return project_root() / "book" / "measured"


def realdata_dir() -> Path:
    """Folder with the real EM samples: ``$EMKIT_REALDATA`` or ``../shared/realdata`` beside the repository."""
    env = os.environ.get("EMKIT_REALDATA")
    if env:
        return Path(env)
    return project_root().parent / "shared" / "realdata"


def run_dir(name: str) -> Path:
    """Folder for one training run's checkpoints, logs and exported tables: ``<data_dir>/runs/<name>``.

    Chapters that build on each other (training → evaluation) meet here.
    """
    path = data_dir() / "runs" / name
    path.mkdir(parents=True, exist_ok=True)
    return path

