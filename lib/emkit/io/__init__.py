"""One way to open any EM volume and annotation table, with explicit units.

- :func:`open_volume` (volumes.py): precomputed / graphene (cloud-volume), zarr / n5 (tensorstore), HDF5, TIFF
  → a :class:`Volume` with ``read`` (boxes in voxels) and ``cutout`` (centre in nm or voxels, zero-padded).
- :func:`open_dataset` (datasets.py): ``data/<name>.yaml`` descriptors → :class:`Dataset` (``volume``, ``table``,
  ``points``, ``describe``).
- points.py: the point schema (CONTRIBUTING.md); :func:`to_points`, :func:`check_points`, :func:`centred_on`.
- tables.py: readers of the field's table formats → the point schema.
- cave.py: caveclient queries → point schema in nm. store.py: parquet + DuckDB.
"""

from emkit.io.datasets import Dataset, list_datasets, open_dataset
from emkit.io.points import centred_on, check_points, synapse_axis, to_points, validate_points
from emkit.io.tables import read_points, read_table
from emkit.io.volumes import ArrayVolume, Volume, open_volume

__all__ = [
    "Volume", "ArrayVolume", "open_volume",
    "Dataset", "open_dataset", "list_datasets",
    "to_points", "validate_points", "check_points", "centred_on", "synapse_axis", "read_table", "read_points",
]
