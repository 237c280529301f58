"""Reader for the published SegCLR embedding releases (Dorkenwald et al. 2023, Nature Methods).

Format (google-research/connectomics, ``connectomics/segclr/reader.py`` ``EmbeddingReader`` and
``connectomics/common/sharding.py`` ``md5_shard``; wiki page "SegCLR"): the embeddings of one segment (root id) are a
header-less CSV ``{segment_id}.csv`` whose rows are ``node_id,x,y,z,emb_0,...,emb_{d-1}`` (d = 64 for the h01 and
MICrONS models). The CSVs are packed into ZIP shards ``{shard}.zip`` where ``shard = md5_shard(segment_id)``: the MD5
of ``segment_id`` as ``bytewidth`` little-endian bytes, read as a little-endian integer, modulo ``num_shards``. The
2022 releases (h01 c3, MICrONS v117/v343) were written with bytewidth 64 and 10,000 shards; later releases use
bytewidth 8. The ``*_nm_coord*`` releases hold x, y, z in nm; the others in voxels of the dataset's base resolution
(pass ``voxel_size_nm`` to convert). The ``aggregated_10um``/``_25um`` releases hold the radius-aggregated means.

Written here (not ``pip install connectomics``) because that package pulls TensorFlow-era dependencies; the format
is small. Reading ``gs://`` paths needs ``fsspec`` + ``gcsfs`` (not pinned by emkit); local folders need nothing.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["md5_shard", "parse_segclr_csv", "read_segclr_zip", "SegCLRReader", "RELEASES", "write_segclr_shard"]

#: Public releases: key -> (url, num_shards, bytewidth, coordinate unit). From connectomics/segclr/reader.py
#: (DATA_URL_FROM_KEY_BYTEWIDTH64, get_reader's default num_shards=10_000).
RELEASES: dict[str, tuple[str, int, int, str]] = {
    "h01": ("gs://h01-release/data/20220326/c3/embeddings/segclr_csvzips", 10_000, 64, "vox"),
    "h01_nm_coord": ("gs://h01-release/data/20220326/c3/embeddings/segclr_nm_coord_csvzips", 10_000, 64, "nm"),
    "h01_agg10um": ("gs://h01-release/data/20220326/c3/embeddings/segclr_aggregated_10um_csvzips", 10_000, 64,
                    "vox"),
    "microns_v343": ("gs://iarpa_microns/minnie/minnie65/embeddings_m343/segclr_csvzips", 10_000, 64, "vox"),
    "microns_nm_coord_public_offset_v343": (
        "gs://iarpa_microns/minnie/minnie65/embeddings_m343/segclr_nm_coord_public_offset_csvzips", 10_000, 64, "nm"),
    "microns_v343_agg25um": (
        "gs://iarpa_microns/minnie/minnie65/embeddings_m343/segclr_aggregated_25um_csvzips", 10_000, 64, "vox"),
    "microns_v117": ("gs://iarpa_microns/minnie/minnie65/embeddings/segclr_csvzips", 10_000, 64, "vox"),
}


def md5_shard(segment_id: int, num_shards: int, bytewidth: int = 8, byteorder: str = "little") -> int:
    """Shard number of a segment: ``int.from_bytes(md5(segment_id.to_bytes(bytewidth)), byteorder) % num_shards``."""
    digest = hashlib.md5(int(segment_id).to_bytes(bytewidth, byteorder)).digest()
    return int.from_bytes(digest, byteorder) % int(num_shards)


def parse_segclr_csv(data: str | bytes, segment_id: int | None = None, *, coord_unit: str = "nm",
                     voxel_size_nm: Sequence[float] | None = None, source: str = "") -> pd.DataFrame:
    """Parse one ``{segment_id}.csv`` of a release into a DataFrame.

    Parameters
    ----------
    data : the CSV text (rows ``node_id,x,y,z,emb...``, no header).
    segment_id : the root id (stored in a ``root_id`` column when given).
    coord_unit : "nm" or "vox": the unit of x, y, z in the file.
    voxel_size_nm : (x, y, z) nm per voxel; with ``coord_unit="vox"`` converts positions to nm.
    source : a name for error messages (file / member).

    Returns
    -------
    DataFrame: ``root_id`` (if given), ``node_id`` int64, ``x_nm, y_nm, z_nm`` float64 (or ``x_vox..`` when the
    file is in voxels and no voxel size is given), ``emb_0 .. emb_{d-1}`` float32.
    """
    if isinstance(data, bytes):
        data = data.decode("utf-8")
    rows = [ln for ln in data.splitlines() if ln.strip()]
    if not rows:
        return pd.DataFrame(columns=["node_id", "x_nm", "y_nm", "z_nm"])
    if not rows[0].split(",")[0].strip().lstrip("-").isdigit():  # tolerate a header line
        rows = rows[1:]
    try:
        arr = np.loadtxt(io.StringIO("\n".join(rows)), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as err:
        raise ValueError(f"SegCLR CSV {source or segment_id}: cannot parse rows as numbers ({err})") from err
    if arr.shape[1] < 5:
        raise ValueError(f"SegCLR CSV {source or segment_id}: rows have {arr.shape[1]} fields; expected "
                         "node_id,x,y,z,emb...")
    # node ids fit in float64 exactly only below 2**53: re-read the first column as integers
    node_id = np.array([int(r.split(",", 1)[0]) for r in rows], dtype=np.int64)
    xyz = arr[:, 1:4]
    if coord_unit == "vox" and voxel_size_nm is not None:
        xyz = xyz * np.asarray(voxel_size_nm, np.float64)[None]
        unit = "nm"
    elif coord_unit in ("nm", "vox"):
        unit = coord_unit
    else:
        raise ValueError(f"coord_unit must be 'nm' or 'vox', got {coord_unit!r}")
    df = pd.DataFrame({"node_id": node_id, f"x_{unit}": xyz[:, 0], f"y_{unit}": xyz[:, 1], f"z_{unit}": xyz[:, 2]})
    emb = pd.DataFrame(arr[:, 4:].astype(np.float32), columns=[f"emb_{i}" for i in range(arr.shape[1] - 4)])
    df = pd.concat([df, emb], axis=1)
    if segment_id is not None:
        df.insert(0, "root_id", np.int64(segment_id))
    dup = df.duplicated(subset=[f"x_{unit}", f"y_{unit}", f"z_{unit}"])
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(f"SegCLR CSV {source or segment_id}: row {i} (node_id={node_id[i]}) repeats a position")
    return df


def _check_missing(missing: str) -> None:
    if missing not in ("raise", "skip"):
        raise ValueError(f"missing must be 'raise' or 'skip', got {missing!r}")


def read_segclr_zip(path_or_file, segment_ids: Iterable[int] | None = None, *, coord_unit: str = "nm",
                    voxel_size_nm: Sequence[float] | None = None, missing: str = "raise") -> pd.DataFrame:
    """Read a whole shard ``{shard}.zip`` (or only ``segment_ids`` in it) into one DataFrame with ``root_id``.

    ``missing="skip"`` leaves out segments the shard does not hold instead of raising ``KeyError`` (releases
    embed only some segments); their ids are then in ``df.attrs["missing"]``.
    """
    _check_missing(missing)
    name = str(getattr(path_or_file, "name", path_or_file))
    frames, absent = [], []
    with zipfile.ZipFile(path_or_file) as z:
        members = {Path(m).stem: m for m in z.namelist() if m.endswith(".csv")}
        wanted = [str(int(s)) for s in segment_ids] if segment_ids is not None else sorted(members, key=int)
        for sid in wanted:
            if sid not in members:
                if missing == "skip":
                    absent.append(int(sid))
                    continue
                raise KeyError(f"{name}: no {sid}.csv in this shard")
            with z.open(members[sid]) as f:
                frames.append(parse_segclr_csv(f.read(), int(sid), coord_unit=coord_unit,
                                               voxel_size_nm=voxel_size_nm, source=f"{name}:{members[sid]}"))
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["root_id", "node_id"])
    df.attrs["missing"] = absent
    return df


class SegCLRReader:
    """Read per-segment embeddings from a sharded CSV-in-ZIP release (local folder or ``gs://`` via fsspec).

    Parameters
    ----------
    root : folder (or URL) holding ``{shard}.zip`` files, or a key of :data:`RELEASES`.
    num_shards, bytewidth : sharding parameters (see :func:`md5_shard`); taken from RELEASES for a key.
    coord_unit : "nm" or "vox"; voxel_size_nm converts voxel positions to nm.

    Examples
    --------
    >>> reader = SegCLRReader("/data/segclr_csvzips", num_shards=10_000, bytewidth=64)  # doctest: +SKIP
    >>> df = reader.read([864691135591041291])  # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike, num_shards: int = 10_000, bytewidth: int = 8, *,
                 coord_unit: str = "nm", voxel_size_nm: Sequence[float] | None = None):
        if str(root) in RELEASES:
            root, num_shards, bytewidth, coord_unit = RELEASES[str(root)]
        self.root, self.num_shards, self.bytewidth = str(root), int(num_shards), int(bytewidth)
        self.coord_unit, self.voxel_size_nm = coord_unit, voxel_size_nm

    def shard_path(self, segment_id: int) -> str:
        return f"{self.root.rstrip('/')}/{md5_shard(segment_id, self.num_shards, self.bytewidth)}.zip"

    def _open(self, path: str):
        if "://" in path:
            import fsspec  # optional: only for remote releases

            return fsspec.open(path, "rb").open()
        return open(path, "rb")

    def read(self, segment_ids: int | Iterable[int], missing: str = "raise") -> pd.DataFrame:
        """Embeddings of one or more segments: ``root_id, node_id, x_nm, y_nm, z_nm, emb_*``.

        ``missing="skip"``: segments without embeddings (no shard file in a local folder, or not in their shard)
        are left out instead of raising; their ids are in ``df.attrs["missing"]``.
        """
        _check_missing(missing)
        if isinstance(segment_ids, (int, np.integer)):
            segment_ids = [int(segment_ids)]
        by_shard: dict[str, list[int]] = {}
        for s in segment_ids:
            by_shard.setdefault(self.shard_path(int(s)), []).append(int(s))
        frames, absent = [], []
        for path, ids in by_shard.items():
            try:
                f = self._open(path)
            except FileNotFoundError:  # a local folder or bucket without this shard: none of its segments embedded
                if missing == "skip":
                    absent.extend(ids)
                    continue
                raise FileNotFoundError(f"SegCLR shard {path} (for segment(s) {ids}) does not exist") from None
            with f:
                part = read_segclr_zip(f, ids, coord_unit=self.coord_unit, voxel_size_nm=self.voxel_size_nm,
                                       missing=missing)
            absent.extend(part.attrs.get("missing", []))
            if len(part):
                frames.append(part)
        df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        df.attrs["missing"] = sorted(absent)
        return df

    __getitem__ = read


def write_segclr_shard(folder: str | os.PathLike, embeddings: dict[int, np.ndarray], positions: dict[int, np.ndarray],
                       node_ids: dict[int, np.ndarray] | None = None, num_shards: int = 10_000,
                       bytewidth: int = 8) -> list[Path]:
    """Write segments in the release layout (for tests and for exporting our own embeddings SegCLR-style).

    ``embeddings[sid]`` is ``(n, d)``, ``positions[sid]`` ``(n, 3)`` (x, y, z), ``node_ids[sid]`` ``(n,)``.
    Returns the zip files written (appending to existing shards).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for sid, E in embeddings.items():
        P = np.asarray(positions[sid])
        ids = np.asarray(node_ids[sid]) if node_ids is not None else np.arange(len(E))
        lines = [",".join([str(int(n)), *(repr(float(v)) for v in p), *(repr(float(v)) for v in e)])
                 for n, p, e in zip(ids, P, np.asarray(E))]
        path = folder / f"{md5_shard(sid, num_shards, bytewidth)}.zip"
        with zipfile.ZipFile(path, "a") as z:
            z.writestr(f"{int(sid)}.csv", "\n".join(lines) + "\n")
        written.append(path)
    return written
