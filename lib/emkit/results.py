"""Headline numbers of a notebook, in a machine-readable file the book collects.

Every chapter records the numbers a reader should take away (accuracy, silhouette, throughput, ...) with a name, a
unit and, where the chapter states one, a target. The book runner gathers every chapter's file into the book's
results page (:func:`emkit.book.render_results`).

Example
-------
>>> rec = Recorder("ssl")                                      # doctest: +SKIP
>>> rec.metric("silhouette_by_class", 0.21, target=">0.15")   # doctest: +SKIP
>>> rec.metric("train_throughput", 48.0, unit="samples/s")     # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from emkit import paths

_TARGET = re.compile(r"^\s*(>=|<=|>|<|==)\s*(-?[0-9.eE+-]+)\s*$")


def results_dir() -> Path:
    """Where metrics and figures go: ``$EMKIT_RESULTS_DIR`` (set by the book runner) or ``book/_generated``."""
    env = os.environ.get("EMKIT_RESULTS_DIR")
    path = Path(env) if env else paths.project_root() / "book" / "_generated"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Metric:
    """One headline number.

    Parameters
    ----------
    name : str
        Identifier, snake_case (``linear_probe_acc_10pct``).
    value : float
        The measured value.
    unit : str
        Unit (``"samples/s"``, ``"s"``, ``""`` for dimensionless).
    target : str or None
        The chapter's stated target as a comparison, e.g. ``">0.15"`` or ``">=0.9"``.
    description : str
        One line a reader understands.
    interval : (float, float) or None
        A confidence interval of ``value`` (low, high), e.g. the 95 % cluster bootstrap of
        :mod:`emkit.analysis.confidence`; the description says which. ``passed`` still judges ``value`` alone.
    """

    name: str
    value: float
    unit: str = ""
    target: str | None = None
    description: str = ""
    interval: tuple[float, float] | None = None

    @property
    def passed(self) -> bool | None:
        """Whether ``value`` meets ``target`` (None when there is no target)."""
        return target_met(self.value, self.target)


def target_met(value: float, target: str | None) -> bool | None:
    """Evaluate a target such as ``">0.15"`` against ``value``; None if there is no target."""
    if target is None:
        return None
    match = _TARGET.match(target)
    if not match:
        raise ValueError(f"target {target!r} is not of the form '>0.15', '>=0.9', '<2'")
    op, bound = match.group(1), float(match.group(2))
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return {
        ">": value > bound,
        ">=": value >= bound,
        "<": value < bound,
        "<=": value <= bound,
        "==": value == bound,
    }[op]


class Recorder:
    """Collects a chapter's metrics and figures and writes them at once to ``<results_dir>/<chapter>.json``.

    Each call to :meth:`metric` rewrites the file, so a notebook that stops half way still leaves what it measured.
    """

    def __init__(self, chapter: str, directory: str | os.PathLike | None = None):
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", chapter):
            raise ValueError(f"chapter name {chapter!r} must be letters, digits, '_', '-', '.'")
        self.chapter = chapter
        self.directory = Path(directory) if directory else results_dir()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.metrics: dict[str, Metric] = {}
        self.figures: list[str] = []

    @property
    def path(self) -> Path:
        return self.directory / f"{self.chapter}.json"

    def metric(self, name: str, value: float, unit: str = "", target: str | None = None,
               description: str = "", interval: tuple[float, float] | None = None) -> Metric:
        """Record one number (replacing an earlier one of the same name) and write the file.

        ``interval`` is an optional (low, high) confidence interval of ``value`` (see :class:`Metric`).
        """
        value = float(value)
        target_met(value, target)  # validates the target's form early
        if interval is not None:
            low, high = (float(v) for v in interval)
            if not low <= high:
                raise ValueError(f"metric {name!r}: interval ({low}, {high}) has low > high or a NaN")
            interval = (low, high)
        metric = Metric(name, value, unit, target, description, interval)
        self.metrics[name] = metric
        self._write()
        return metric

    def table(self):
        """The recorded metrics as a DataFrame (name, value, unit, target, passed, description)."""
        import pandas as pd

        return pd.DataFrame([dict(asdict(m), passed=m.passed) for m in self.metrics.values()],
                            columns=["name", "value", "interval", "unit", "target", "passed", "description"])

    def savefig(self, fig, name: str, dpi: int = 110) -> Path:
        """Save a matplotlib figure as ``<results_dir>/figures/<chapter>-<name>.png`` and return the path."""
        out = self.directory / "figures" / f"{self.chapter}-{name}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=dpi, bbox_inches="tight")
        self.figures.append(out.name)
        self._write()
        return out

    def _write(self) -> None:
        doc = {
            "chapter": self.chapter,
            "metrics": [dict(asdict(m), passed=m.passed) for m in self.metrics.values()],
            "figures": self.figures,
        }
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(doc, indent=2))
        tmp.replace(self.path)


def load_results(directory: str | os.PathLike) -> list[dict]:
    """Read every chapter's metrics file in ``directory`` (sorted by chapter name)."""
    docs = []
    for path in sorted(Path(directory).glob("*.json")):
        if path.name == "manifest.json":
            continue
        try:
            docs.append(json.loads(path.read_text()))
        except json.JSONDecodeError as err:
            raise ValueError(f"metrics file {path} is not valid JSON: {err}") from err
    return docs
