"""The synthetic ground-truth EM world: a seeded, procedural 3D neuropil + cell-body layer written in the formats
real datasets use (neuroglancer precomputed volumes via cloud-volume, CAVE-style parquet tables).

Public API
----------
generate_world(root, size="tiny", seed=0, difficulty=None, progress=True, **overrides) -> dict
ensure_world(root, size="tiny", seed=0, difficulty=None, progress=True, **overrides) -> pathlib.Path
world_params(size="tiny", seed=0, difficulty=None, **overrides) -> dict
baseline_accuracy(root, ...) / difficulty_sweep(...)   (in :mod:`emkit.synth.baseline`)
"""

from .params import DEFAULT_DIFFICULTY, LOOK, NT_CLASSES, CELL_TYPES, MITO_CLASSES, NUISANCE, SIZES, world_params
from .world import ensure_world, fingerprint, generate_world

__all__ = ["generate_world", "ensure_world", "world_params", "fingerprint", "DEFAULT_DIFFICULTY", "LOOK",
           "NT_CLASSES", "CELL_TYPES", "MITO_CLASSES", "NUISANCE", "SIZES"]
