"""The point schema every table reader returns (CONTRIBUTING.md), and the checks and conversions around it.

Point schema (a pandas DataFrame):

- ``id`` int64, unique per table;
- ``x_nm``, ``y_nm``, ``z_nm`` float64: the point a cutout is centred on;
- optional ``pre_x_nm..pre_z_nm``, ``post_x_nm..post_z_nm``, ``pre_root_id``, ``post_root_id``, ``root_id``,
  ``label`` (str) and grouping columns (``neuron_id``, ``hemilineage``, ``region``, ``cell_type`` ...).

Here: :func:`validate_points` (the schema, with the bad row named), :func:`to_points` (CAVE-style frames with voxel
positions to the schema in nm), :func:`check_points` (a point table against a volume, detecting nm/voxel mix-ups),
:func:`centred_on` (a synapse table recentred on its pre- or postsynaptic point) and :func:`synapse_axis`.
The readers of the field's table formats are in :mod:`emkit.io.tables`.
"""

from __future__ import annotations

import re
import warnings
from typing import Sequence

import numpy as np
import pandas as pd

__all__ = ["POINT_COLUMNS", "to_points", "validate_points", "check_points", "centred_on", "synapse_axis",
           "position_array"]

POINT_COLUMNS = ("id", "x_nm", "y_nm", "z_nm")
XYZ = ("x", "y", "z")


# ------------------------------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------------------------------
def validate_points(points: pd.DataFrame, name: str = "points") -> pd.DataFrame:
    """Check a point table and return it with canonical dtypes.

    Raises
    ------
    ValueError
        Empty table, missing columns, non-unique or non-integer ids, or NaN/inf coordinates — naming the
        table, the row and its id.
    """
    if not isinstance(points, pd.DataFrame):
        raise TypeError(f"{name}: expected a pandas DataFrame, got {type(points).__name__}")
    if len(points) == 0:
        raise ValueError(f"{name}: the table is empty (0 rows)")
    missing = [c for c in POINT_COLUMNS if c not in points.columns]
    if missing:
        raise ValueError(f"{name}: missing point-schema column(s) {missing}; has {list(points.columns)}")
    pts = points.reset_index(drop=True)
    ids = pd.to_numeric(pts["id"], errors="coerce")
    bad = ids.isna() | (ids != np.round(ids))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{name} row {i}: id {pts['id'].iloc[i]!r} is not an integer")
    pts["id"] = ids.astype(np.int64)
    dup = pts["id"].duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise ValueError(f"{name} row {i}: id {int(pts['id'].iloc[i])} is not unique")
    for col in [c for c in pts.columns if re.fullmatch(r"(pre_|post_|side\d_)?[xyz]_nm", c)]:
        vals = pd.to_numeric(pts[col], errors="coerce").astype(np.float64)
        bad = ~np.isfinite(vals.to_numpy())
        if col in ("x_nm", "y_nm", "z_nm") and bad.any():
            i = int(np.flatnonzero(bad)[0])
            raw = pts[col].iloc[i]
            stored = f" (stored {raw!r})" if isinstance(raw, str) else ""
            raise ValueError(f"{name} row {i} (id={int(pts['id'].iloc[i])}): {col} is {vals.iloc[i]}{stored}")
        pts[col] = vals
    if "label" in pts.columns:
        pts["label"] = pts["label"].astype("object").where(pts["label"].notna(), None)
        pts["label"] = pts["label"].map(lambda v: v if v is None else str(v))
    return pts


def centred_on(points: pd.DataFrame, partner: str = "pre", name: str = "points") -> pd.DataFrame:
    """A copy of a synapse table whose centre (``x_nm, y_nm, z_nm``) is a partner point.

    Cutouts are always cut around ``x_nm, y_nm, z_nm``; synapse tables put the cleft there and the partners in
    ``pre_*_nm`` / ``post_*_nm`` (CAVE's ``pre_pt_position`` / ``post_pt_position``, synister's pre/post points).
    Centring on ``pre`` puts the presynaptic vesicle cloud in the middle of the cutout.

    Parameters
    ----------
    points : DataFrame in the point schema with ``{partner}_x_nm, {partner}_y_nm, {partner}_z_nm`` (nm).
    partner : {"pre", "post", "cleft"}
        ``cleft`` returns an unchanged copy.

    Raises
    ------
    ValueError
        Unknown partner, missing partner columns, or a row whose partner point is NaN (naming the row and id).
    """
    if partner == "cleft":
        return points.copy()
    if partner not in ("pre", "post"):
        raise ValueError(f"partner must be 'pre', 'post' or 'cleft', got {partner!r}")
    cols = [f"{partner}_{a}_nm" for a in XYZ]
    missing = [c for c in cols if c not in points.columns]
    if missing:
        raise ValueError(f"{name}: cannot centre on the {partner}synaptic point: missing column(s) {missing}")
    out = points.copy()
    xyz = out[cols].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(xyz).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        rid = out["id"].iloc[i] if "id" in out.columns else "?"
        raise ValueError(f"{name} row {i} (id={rid}): {partner}synaptic point is {xyz[i].tolist()}")
    for a, c in zip(XYZ, cols):
        out[f"{a}_nm"] = out[c].astype(np.float64)
    return out


def synapse_axis(points: pd.DataFrame, name: str = "points") -> pd.DataFrame:
    """Unit vector from the presynaptic to the postsynaptic point of each synapse, in physical space.

    The orientation of a synapse in the volume is a nuisance for a transmitter or type classifier; reading it off an
    embedding (:func:`emkit.analysis.evaluate.decodability`) shows how much of the embedding it takes up.

    Parameters
    ----------
    points : DataFrame with ``pre_x_nm .. pre_z_nm`` and ``post_x_nm .. post_z_nm`` (nm).

    Returns
    -------
    DataFrame (same index) with ``axis_x``, ``axis_y``, ``axis_z`` (unitless, norm 1) and ``axis_angle_xy_deg``, the
    in-plane angle of the axis from +x towards +y in degrees, in [-180, 180].

    Raises
    ------
    ValueError
        Missing partner columns, or a row whose partner points are NaN or coincide (naming the row and id).
    """
    cols = [f"{p}_{a}_nm" for p in ("pre", "post") for a in XYZ]
    missing = [c for c in cols if c not in points.columns]
    if missing:
        raise ValueError(f"{name}: no synapse axis without the partner points: missing column(s) {missing}")
    xyz = points[cols].to_numpy(dtype=np.float64)
    d = xyz[:, 3:] - xyz[:, :3]
    length = np.linalg.norm(d, axis=1)
    bad = ~np.isfinite(length) | (length == 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        rid = points["id"].iloc[i] if "id" in points.columns else "?"
        raise ValueError(f"{name} row {i} (id={rid}): pre {xyz[i, :3].tolist()} and post {xyz[i, 3:].tolist()} "
                         "give no direction")
    unit = d / length[:, None]
    out = pd.DataFrame(unit, columns=["axis_x", "axis_y", "axis_z"], index=points.index)
    out["axis_angle_xy_deg"] = np.degrees(np.arctan2(unit[:, 1], unit[:, 0]))
    return out


def position_array(df: pd.DataFrame, col: str, name: str) -> np.ndarray:
    """(n, 3) float array from a list column ``col`` ([x, y, z] per row) or split ``col_x/_y/_z`` columns.

    The values keep the table's unit (voxels in CAVE tables, nm elsewhere); ``name`` is the table's name for errors.
    """
    if col in df.columns:
        vals = df[col].to_numpy()
        out = np.full((len(df), 3), np.nan)
        for i, v in enumerate(vals):
            if v is None or (np.isscalar(v) and pd.isna(v)):
                continue
            if isinstance(v, str):  # "[1 2 3]" / "1,2,3" as written by CSV exports
                v = [float(t) for t in re.split(r"[\s,;\[\]()]+", v.strip()) if t]
            arr = np.asarray(v, dtype=float).reshape(-1)
            if arr.shape != (3,):
                raise ValueError(f"{name} row {i}: {col} has {arr.size} values, expected 3 (x, y, z): {v!r}")
            out[i] = arr
        return out
    split = [f"{col}_{a}" for a in XYZ]
    if all(c in df.columns for c in split):
        return df[split].to_numpy(dtype=float)
    raise ValueError(f"{name}: no position column {col!r} (nor {split}); columns are {list(df.columns)}")


def to_points(
    df: pd.DataFrame,
    voxel_size_nm=None,
    position_col: str = "ctr_pt_position",
    *,
    position_units: str = "voxels",
    id_col: str = "id",
    label_col: str | None = None,
    pre_col: str | None = "auto",
    post_col: str | None = "auto",
    root_col: str | None = "auto",
    keep: Sequence[str] | str = "all",
    name: str = "table",
) -> pd.DataFrame:
    """Convert a CAVE-style frame (positions as [x, y, z] lists or split ``_x/_y/_z`` columns) to the point schema.

    Parameters
    ----------
    df : DataFrame
        As stored / as ``caveclient`` returns it.
    voxel_size_nm : (3,) float, optional
        Voxel size (x, y, z) nm of the positions; required when ``position_units="voxels"``.
    position_col : str
        The column giving the cutout centre (``ctr_pt_position`` for synapses, ``pt_position`` for cells).
    position_units : {"voxels", "nm"}
    id_col : str
        Unique integer id column.
    label_col : str, optional
        Column copied to ``label`` (as str).
    pre_col, post_col : str or None
        Synapse partner positions; "auto" uses ``pre_pt_position`` / ``post_pt_position`` when present.
    root_col : str or None
        Column copied to ``root_id``; "auto" uses ``pt_root_id`` when present. ``pre_pt_root_id`` /
        ``post_pt_root_id`` always become ``pre_root_id`` / ``post_root_id``.
    keep : "all" or list of str
        Other columns to carry over unchanged ("all": every non-position column).
    name : str
        Table name used in error messages.

    Returns
    -------
    DataFrame
        Point schema, positions in nm.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name}: expected a DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        raise ValueError(f"{name}: the table is empty (0 rows)")
    if position_units not in ("voxels", "nm"):
        raise ValueError(f"{name}: position_units must be 'voxels' or 'nm', got {position_units!r}")
    if position_units == "voxels":
        if voxel_size_nm is None:
            raise ValueError(f"{name}: positions are in voxels; pass voxel_size_nm=(x, y, z)")
        scale = np.asarray(voxel_size_nm, dtype=float).reshape(3)
    else:
        scale = np.ones(3)
    df = df.reset_index(drop=True)
    if id_col not in df.columns:
        raise ValueError(f"{name}: no id column {id_col!r}; columns are {list(df.columns)}")
    out = pd.DataFrame({"id": df[id_col].to_numpy()})
    pos = position_array(df, position_col, name) * scale
    out["x_nm"], out["y_nm"], out["z_nm"] = pos[:, 0], pos[:, 1], pos[:, 2]
    used = {id_col, position_col, *[f"{position_col}_{a}" for a in XYZ]}
    for prefix, col, default in (("pre", pre_col, "pre_pt_position"), ("post", post_col, "post_pt_position")):
        if col == "auto":
            col = default if (default in df.columns or f"{default}_x" in df.columns) else None
        if col is not None and col != position_col:
            p = position_array(df, col, name) * scale
            for k, a in enumerate(XYZ):
                out[f"{prefix}_{a}_nm"] = p[:, k]
            used |= {col, *[f"{col}_{a}" for a in XYZ]}
    # any other bound point (soma_pt_position, bb_start_position, ...) -> <prefix>_x_nm/_y_nm/_z_nm
    others = {c for c in df.columns if c.endswith("_position")} | \
        {c[:-2] for c in df.columns if re.search(r"_position_[xyz]$", c)}
    for col in sorted(others - used):
        prefix = re.sub(r"(_pt)?_position$", "", col)
        if col in used or f"{prefix}_x_nm" in out.columns:
            continue
        p = position_array(df, col, name) * scale
        for k, a in enumerate(XYZ):
            out[f"{prefix}_{a}_nm"] = p[:, k]
        used |= {col, *[f"{col}_{a}" for a in XYZ]}
    for src, dst in (("pre_pt_root_id", "pre_root_id"), ("post_pt_root_id", "post_root_id")):
        if src in df.columns:
            out[dst] = df[src].to_numpy()
            used.add(src)
    if root_col == "auto":
        root_col = "pt_root_id" if "pt_root_id" in df.columns else None
    if root_col is not None:
        if root_col not in df.columns:
            raise ValueError(f"{name}: no root column {root_col!r}; columns are {list(df.columns)}")
        out["root_id"] = df[root_col].to_numpy()
        used.add(root_col)
    if label_col is not None:
        if label_col not in df.columns:
            raise ValueError(f"{name}: no label column {label_col!r}; columns are {list(df.columns)}")
        out["label"] = df[label_col].to_numpy()
    extra = [c for c in df.columns if c not in used and not c.endswith("_position") and
             not re.search(r"_position_[xyz]$", c)] if keep == "all" else list(keep)
    for c in extra:
        if c not in df.columns:
            raise ValueError(f"{name}: no column {c!r} to keep; columns are {list(df.columns)}")
        if c not in out.columns:
            out[c] = df[c].to_numpy()
    return validate_points(out, name)


_VOXEL_LIKE_COLUMNS = ("x", "x_vox", "pt_position", "ctr_pt_position", "pt_position_x", "ctr_pt_position_x")


def check_points(points: pd.DataFrame, volume=None, *, name: str = "points", on_outside: str = "warn",
                 min_inside: float = 0.5, required: Sequence[str] = ()) -> np.ndarray:
    """Check a point table (and, given a volume, its placement): errors name the bad row, nm/voxel mix-ups.

    The one point check of the project (``emkit.cutouts`` calls it with ``on_outside="raise"`` before cutting).

    Parameters
    ----------
    points : DataFrame
        Point schema (``id``, ``x_nm``, ``y_nm``, ``z_nm``); validated with :func:`validate_points`.
    volume : emkit.io.volumes.Volume or None
        Its ``bounds_nm()`` define inside (give the mip-0 volume). ``None``: check the table only.
    name : str
        Table name used in messages.
    on_outside : {"warn", "raise", "ignore"}
        What to do when some (but plausibly placed) points fall outside. The message names the first row
        outside (``row i (id=...)``), the coordinate that is out of range, how many rows are outside, and says
        so when that row would be inside read as voxels.
    min_inside : float
        If fewer than this fraction of points lie inside the bounds, but (nearly) all would when the
        coordinates are reinterpreted in the other unit (voxels <-> nm), raise a ValueError that says so.
    required : sequence of str
        Extra columns that must exist (e.g. ``("root_id",)`` for object masks).

    Returns
    -------
    np.ndarray of bool, shape (n,)
        True where the point lies inside ``[start_nm, stop_nm)`` (all True without a volume).

    Raises
    ------
    ValueError
        Empty table, missing columns (with a hint when voxel/CAVE position columns are present), bad or duplicate
        ids, NaN coordinates; voxel coordinates labelled as nm (all points crowded in the corner box
        ``bounds / voxel size``, or mostly outside but inside as voxels); positions converted to nm twice; points
        outside with ``on_outside="raise"``.
    """
    if on_outside not in ("warn", "raise", "ignore"):
        raise ValueError(f"on_outside must be 'warn', 'raise' or 'ignore', got {on_outside!r}")
    if not isinstance(points, pd.DataFrame):
        raise TypeError(f"{name}: expected a pandas DataFrame in the point schema, got {type(points).__name__}")
    missing = [c for c in (*POINT_COLUMNS, *required) if c not in points.columns]
    if missing and len(points):
        hint = ""
        if any(c in points.columns for c in _VOXEL_LIKE_COLUMNS):
            hint = " (voxel/CAVE position columns found: convert with emkit.io.points.to_points first)"
        raise ValueError(f"{name}: missing column(s) {missing}{hint}; has {list(points.columns)}")
    pts = validate_points(points, name)
    if volume is None:
        return np.ones(len(pts), dtype=bool)
    xyz = pts[["x_nm", "y_nm", "z_nm"]].to_numpy(float)
    lo, hi = volume.bounds_nm()
    vs = np.asarray(volume.mip_voxel_sizes_nm[0] if hasattr(volume, "mip_voxel_sizes_nm") else volume.voxel_size_nm)

    def frac(p):
        return float(np.mean(np.all((p >= lo) & (p < hi), axis=1)))

    inside = np.all((xyz >= lo) & (xyz < hi), axis=1)
    f_nm = float(inside.mean())
    if f_nm < min_inside:
        f_as_vox = frac(xyz * vs)  # the numbers were voxels, not nm
        f_twice = frac(xyz / vs)  # the numbers were multiplied by the voxel size twice
        bounds = f"[{lo.tolist()}, {hi.tolist()}) nm"
        if f_as_vox >= 0.9 and f_as_vox > f_nm:
            raise ValueError(
                f"{name}: only {f_nm:.0%} of points lie inside {volume.uri} {bounds}, but {f_as_vox:.0%} would if "
                f"x_nm/y_nm/z_nm were voxels (x {vs.tolist()} nm): the positions look like voxel coordinates "
                "labelled as nm — convert with to_points(..., voxel_size_nm=...)"
            )
        if f_twice >= 0.9 and f_twice > f_nm:
            raise ValueError(
                f"{name}: only {f_nm:.0%} of points lie inside {volume.uri} {bounds}, but {f_twice:.0%} would if "
                f"divided by the voxel size {vs.tolist()}: the positions look converted to nm twice"
            )
    else:
        # Voxel coordinates labelled nm can also land *inside* (e.g. a volume starting at voxel 0), crowded into
        # the corner box [start, stop) / voxel size. For genuine nm positions spread over the volume the chance
        # that all n points fall there is frac ** n, so a tiny value means a unit mix-up.
        lo_c, hi_c = np.maximum(lo / vs, lo), np.minimum(hi / vs, hi)
        frac = float(np.prod(np.clip(hi_c - lo_c, 0, None) / np.maximum(hi - lo, 1e-12)))
        in_corner = np.all((xyz >= lo / vs) & (xyz < hi / vs), axis=1)
        if len(xyz) >= 2 and in_corner.all() and frac ** len(xyz) < 1e-4:
            raise ValueError(
                f"{name}: all {len(xyz)} points lie in [{(lo / vs).tolist()}, {(hi / vs).tolist()}) nm, the bounds "
                f"of {volume.uri} divided by the voxel size {vs.tolist()} nm (a {frac:.2%} corner of the volume): "
                f"the positions look like voxel coordinates labelled as nm (row 0, id={int(pts['id'].iloc[0])}: "
                f"{xyz[0].tolist()}) — multiply by the voxel size"
            )
    if not inside.all() and on_outside != "ignore":
        msg = _outside_message(pts, xyz, ~inside, lo, hi, vs, name, volume.uri)
        if on_outside == "raise":
            raise ValueError(msg)
        warnings.warn(msg, stacklevel=2)
    return inside


def _outside_message(pts: pd.DataFrame, xyz: np.ndarray, outside: np.ndarray, lo, hi, vs, name: str,
                     uri: str) -> str:
    """``<name>: k of n points lie outside <uri> [lo, hi) nm; first row i (id=..): x_nm=.. is outside [..)``."""
    bad = np.flatnonzero(outside)
    i = int(bad[0])
    axes = [a for a in range(3) if not lo[a] <= xyz[i, a] < hi[a]]
    what = ", ".join(f"{XYZ[a]}_nm={xyz[i, a]:g} is outside [{lo[a]:g}, {hi[a]:g})" for a in axes)
    hint = ""
    as_nm = xyz[i] * vs
    if np.all((as_nm >= lo) & (as_nm < hi)):
        hint = (f"; the values look like voxel coordinates (× voxel size {vs.tolist()} nm they would be inside):"
                " convert voxels to nm")
    more = ", ".join(f"row {j} (id={int(pts['id'].iloc[j])})" for j in bad[1:3])
    more = f"; also {more}{', ...' if bad.size > 3 else ''}" if more else ""
    return (f"{name}: {bad.size} of {len(pts)} points lie outside {uri} [{lo.tolist()}, {hi.tolist()}) nm; "
            f"first row {i} (id={int(pts['id'].iloc[i])}) at {xyz[i].tolist()} nm: {what}{hint}{more}")


