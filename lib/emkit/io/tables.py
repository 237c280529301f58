"""Readers that turn every annotation table of the field into the one point schema (CONTRIBUTING.md).

Point schema (a pandas DataFrame):

- ``id`` int64, unique per table;
- ``x_nm``, ``y_nm``, ``z_nm`` float64: the point a cutout is centred on;
- optional ``pre_x_nm..pre_z_nm``, ``post_x_nm..post_z_nm``, ``pre_root_id``, ``post_root_id``, ``root_id``,
  ``label`` (str) and grouping columns (``neuron_id``, ``hemilineage``, ``region``, ``cell_type`` ...).

Readers here: CAVE-style frames (:func:`to_points`), parquet/CSV (:func:`read_table`), synister's FAFB JSON export
(:func:`read_synister`), neuroglancer annotation layers (:func:`read_neuroglancer_points`), Excel coordinate sheets
(:func:`read_excel_coords`), and the real tables in ``../shared/realdata/tables`` (hemibrain/MANC transmitter
synapses, Kasthuri 2015, navis DA1 connectors, MICrONS pinky100 somata, FlyWire annotations).
The schema itself, its checks (:func:`check_points` detects nm/voxel mix-ups against a volume) and conversions
(:func:`to_points`, :func:`centred_on`) are in :mod:`emkit.io.points` and re-exported here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from emkit.io.points import (  # re-exported: emkit.io.tables.to_points etc. keep working
    POINT_COLUMNS,
    XYZ,
    centred_on,
    check_points,
    position_array,
    synapse_axis,
    to_points,
    validate_points,
)

__all__ = [
    "POINT_COLUMNS",
    "to_points",
    "validate_points",
    "check_points",
    "centred_on",
    "synapse_axis",
    "read_table",
    "read_points",
    "read_cave_table",
    "read_nt_bbox_synapses",
    "read_kasthuri2015",
    "read_navis_connectors",
    "read_pinky100_somata",
    "read_pinky100_synapses",
    "read_flywire_hemibrain_meta",
    "read_flywire_non_neurons",
    "read_synister",
    "read_synister_skeletons",
    "read_neuroglancer_points",
    "read_excel_coords",
    "POINT_READERS",
]



# ------------------------------------------------------------------------------------------------------------------
# generic files
# ------------------------------------------------------------------------------------------------------------------
def read_table(path, **kw) -> pd.DataFrame:
    """Read a table as stored: ``.parquet``, ``.csv``, ``.tsv``, ``.feather``, ``.xlsx``/``.xls``, ``.json``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no table file {path}")
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix.lower() in (".gz", ".bz2") else path.suffix.lower()
    if suffix.startswith(".parquet") or path.suffix.lower() == ".parquet":
        return pd.read_parquet(path, **kw)
    if suffix.startswith(".csv"):
        return pd.read_csv(path, **kw)
    if suffix.startswith(".tsv"):
        return pd.read_csv(path, sep="\t", **kw)
    if suffix.startswith(".feather"):
        return pd.read_feather(path, **kw)
    if suffix in (".xlsx", ".xls", ".xlsm"):
        return pd.read_excel(path, **kw)
    if suffix == ".json":
        return pd.read_json(path, **kw)
    raise ValueError(f"{path}: unknown table format {suffix!r} (parquet, csv, tsv, feather, xlsx, xls, json)")


def read_cave_table(path, voxel_size_nm, position_col: str = "ctr_pt_position", label_col: str | None = None,
                    **kw) -> pd.DataFrame:
    """A stored CAVE-style table (parquet/CSV, positions int voxel triplets at mip 0) as points in nm."""
    df = read_table(path)
    return to_points(df, voxel_size_nm, position_col, label_col=label_col, name=Path(path).name, **kw)


# ------------------------------------------------------------------------------------------------------------------
# the real tables in ../shared/realdata/tables
# ------------------------------------------------------------------------------------------------------------------
_NT_NAMES = {"acetylcholine", "gaba", "glutamate", "dopamine", "octopamine", "serotonin", "glycine", "histamine",
             "tyramine"}


def _nt_from_filename(path: Path) -> str:
    stem = path.name.split("_bbox")[0].lower()
    m = re.match(r"[a-z]+", stem)
    if not m or m.group(0) not in _NT_NAMES:
        raise ValueError(f"{path}: cannot read a transmitter name from the file name (expected e.g. gaba_bbox.csv)")
    return m.group(0)


def read_nt_bbox_synapses(source, voxel_size_nm=(8, 8, 8), center: str = "mid") -> pd.DataFrame:
    """Transmitter-labelled synapses of the hemibrain / MANC ``*_bbox.csv`` exports as points.

    Parameters
    ----------
    source : folder or list of files
        ``*_bbox.csv`` files; the label is the transmitter in the file name (``serotonin0.99_bbox.csv`` ->
        ``serotonin``), checked against the ``gt_neurotransmitter``/``neurotransmitter`` column when present.
    voxel_size_nm : (3,)
        Both volumes are isotropic 8 nm (their SOURCE_README).
    center : {"mid", "pre", "post"}
        Point used as ``x_nm..z_nm``: the pre/post midpoint (≈ the cleft, default) or a partner site.

    Returns
    -------
    DataFrame
        Point schema with ``pre_/post_*_nm``, ``pre_root_id``, ``post_root_id``, ``label``, ``neuron_id`` (the
        presynaptic body), ``source_file``; ids 0..n-1 in file-name order.
    """
    files = sorted(Path(source).glob("*_bbox.csv")) if Path(str(source)).is_dir() else [Path(f) for f in source]
    if not files:
        raise FileNotFoundError(f"no *_bbox.csv files in {source}")
    vs = np.asarray(voxel_size_nm, dtype=float)
    frames = []
    for f in files:
        df = pd.read_csv(f)
        if len(df) == 0:
            raise ValueError(f"{f}: empty table")
        nt = _nt_from_filename(f)
        for col in ("gt_neurotransmitter", "neurotransmitter"):
            if col in df.columns and not (df[col].str.lower() == nt).all():
                i = int(np.flatnonzero((df[col].str.lower() != nt).to_numpy())[0])
                raise ValueError(f"{f} row {i}: {col}={df[col].iloc[i]!r} but the file name says {nt!r}")
        pre = df[["x_pre", "y_pre", "z_pre"]].to_numpy(float) * vs
        post = df[["x_post", "y_post", "z_post"]].to_numpy(float) * vs
        ctr = {"mid": (pre + post) / 2, "pre": pre, "post": post}[center]
        out = pd.DataFrame({"x_nm": ctr[:, 0], "y_nm": ctr[:, 1], "z_nm": ctr[:, 2]})
        for k, a in enumerate(XYZ):
            out[f"pre_{a}_nm"] = pre[:, k]
        for k, a in enumerate(XYZ):
            out[f"post_{a}_nm"] = post[:, k]
        out["pre_root_id"] = df["bodyId_pre"].astype(np.int64).to_numpy()
        out["post_root_id"] = df["bodyId_post"].astype(np.int64).to_numpy()
        out["neuron_id"] = out["pre_root_id"]
        out["label"] = nt
        if "neuron_class" in df.columns:
            out["neuron_class"] = df["neuron_class"].to_numpy()
        out["source_file"] = f.name
        frames.append(out)
    pts = pd.concat(frames, ignore_index=True)
    pts.insert(0, "id", np.arange(len(pts), dtype=np.int64))
    return validate_points(pts, str(source))


_KASTHURI_AXON = {0: "excitatory", 1: "inhibitory", 2: "myelinated", -1: "unknown"}


def read_kasthuri2015(path) -> pd.DataFrame:
    """Kasthuri et al. 2015 (Cell) Table S2 synapses (CSV export or the original ``.xls``) as points.

    Positions are the PSD centroid in µm from the volume origin (converted to nm). ``label`` is the axon type
    (excitatory / inhibitory / myelinated / unknown); ``pre_root_id`` = axon id, ``post_root_id`` = dendrite id.
    """
    path = Path(path)
    if path.suffix.lower() in (".xls", ".xlsx"):
        raw = pd.read_excel(path, header=None)
        first = next(i for i in range(len(raw)) if isinstance(raw.iloc[i, 0], (int, float, np.number))
                     and pd.notna(raw.iloc[i, 0]))
        body = raw.iloc[first:].reset_index(drop=True)
        body = body[pd.to_numeric(body[0], errors="coerce").notna()]
        df = pd.DataFrame({
            "synapse_id": body[0].astype(int), "psd_x_um": body[1].astype(float), "psd_y_um": body[2].astype(float),
            "psd_z_um": body[3].astype(float), "axon_id": body[8].astype(int), "dendrite_id": body[9].astype(int),
            "axon_type": body[10].astype(int),
        })
    else:
        df = pd.read_csv(path)
    missing = [c for c in ("synapse_id", "psd_x_um", "psd_y_um", "psd_z_um", "axon_type") if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    out = pd.DataFrame({
        "id": df["synapse_id"].astype(np.int64),
        "x_nm": df["psd_x_um"].astype(float) * 1000.0,
        "y_nm": df["psd_y_um"].astype(float) * 1000.0,
        "z_nm": df["psd_z_um"].astype(float) * 1000.0,
        "pre_root_id": df["axon_id"].astype(np.int64),
        "post_root_id": df["dendrite_id"].astype(np.int64),
        "label": df["axon_type"].astype(int).map(_KASTHURI_AXON),
    })
    for c in df.columns:
        if c not in ("synapse_id", "psd_x_um", "psd_y_um", "psd_z_um", "axon_id", "dendrite_id"):
            out[c] = df[c].to_numpy()
    return validate_points(out, path.name)


def read_navis_connectors(source, voxel_size_nm=(8, 8, 8)) -> pd.DataFrame:
    """navis' hemibrain DA1 example connectors (one ``<bodyId>.csv`` per neuron, x/y/z in 8 nm voxels).

    ``label`` is the connector type (``pre``/``post``); ``root_id`` and ``neuron_id`` the body id from the file
    name; ``cell_type`` from ``meta.json`` when present.
    """
    source = Path(source)
    files = sorted(source.glob("*.csv")) if source.is_dir() else [source]
    meta = {}
    if source.is_dir() and (source / "meta.json").exists():
        meta = json.loads((source / "meta.json").read_text())
    vs = np.asarray(voxel_size_nm, dtype=float)
    frames = []
    for f in files:
        df = pd.read_csv(f)
        body = int(f.stem)
        xyz = df[["x", "y", "z"]].to_numpy(float) * vs
        out = pd.DataFrame({"x_nm": xyz[:, 0], "y_nm": xyz[:, 1], "z_nm": xyz[:, 2]})
        out["root_id"] = body
        out["neuron_id"] = body
        out["label"] = df["type"].astype(str).to_numpy()
        for c in ("connector_id", "node_id", "roi", "confidence"):
            if c in df.columns:
                out[c] = df[c].to_numpy()
        if str(body) in meta:
            out["cell_type"] = meta[str(body)].get("type")
        frames.append(out)
    pts = pd.concat(frames, ignore_index=True)
    pts.insert(0, "id", np.arange(len(pts), dtype=np.int64))
    return validate_points(pts, str(source))


def read_pinky100_somata(path) -> pd.DataFrame:
    """MICrONS pinky100 ``soma.csv``: ``loc`` "[x y z]" in nm; id = ``segment_id`` (also ``root_id``)."""
    df = pd.read_csv(path)
    xyz = position_array(df, "loc", Path(path).name)
    out = pd.DataFrame({"id": df["segment_id"].astype(np.int64), "x_nm": xyz[:, 0], "y_nm": xyz[:, 1],
                        "z_nm": xyz[:, 2], "root_id": df["segment_id"].astype(np.int64)})
    for c in ("manual_id", "axon_len", "dendrite_len"):
        out[c] = df[c].to_numpy()
    return validate_points(out, Path(path).name)


def read_pinky100_synapses(path) -> pd.DataFrame:
    """MICrONS pinky100 ``synapses.csv``: pre → post segment pairs. It has no positions, so it is an *edge*
    table (``pre_root_id``, ``post_root_id``), not a point table."""
    df = pd.read_csv(path)
    if list(df.columns) != ["pre", "post"]:
        raise ValueError(f"{path}: expected columns ['pre', 'post'], got {list(df.columns)}")
    return pd.DataFrame({"pre_root_id": df["pre"].astype(np.int64), "post_root_id": df["post"].astype(np.int64)})


def read_flywire_hemibrain_meta(path, voxel_size_nm=(8, 8, 8), label_col: str = "cell_class",
                                missing: str = "drop") -> pd.DataFrame:
    """FlyWire's hemibrain neuron annotations: soma points (``somaLocation`` "x,y,z" in 8 nm hemibrain voxels).

    Parameters
    ----------
    label_col : str
        Column used as ``label`` (``cell_class``, ``type``, ``ito_lee_hemilineage``...).
    missing : {"drop", "raise"}
        Neurons without a soma location (cut off by the volume): dropped (default) or an error naming the row.
    """
    df = pd.read_csv(path)
    has = df["somaLocation"].notna()
    if missing == "raise" and not has.all():
        i = int(np.flatnonzero(~has.to_numpy())[0])
        raise ValueError(f"{Path(path).name} row {i} (bodyId={df['bodyId'].iloc[i]}): somaLocation is missing")
    df = df[has].reset_index(drop=True)
    xyz = position_array(df, "somaLocation", Path(path).name) * np.asarray(voxel_size_nm, float)
    out = pd.DataFrame({"id": df["bodyId"].astype(np.int64), "x_nm": xyz[:, 0], "y_nm": xyz[:, 1], "z_nm": xyz[:, 2],
                        "root_id": df["bodyId"].astype(np.int64), "label": df[label_col].to_numpy()})
    out["cell_type"] = df["type"].to_numpy()
    out["hemilineage"] = df["ito_lee_hemilineage"].to_numpy()
    for c in ("instance", "cell_class", "side", "pre", "post"):
        if c not in out.columns:
            out[c] = df[c].to_numpy()
    return validate_points(out, Path(path).name)


def read_flywire_non_neurons(path, voxel_size_nm=(4, 4, 40), label_col: str = "cell_class") -> pd.DataFrame:
    """FlyWire non-neuron annotations (TSV; ``pos_x/y/z`` in FlyWire 4×4×40 nm voxels); id = ``root_id``."""
    df = pd.read_csv(path, sep="\t" if str(path).endswith(".tsv") else ",")
    xyz = df[["pos_x", "pos_y", "pos_z"]].to_numpy(float) * np.asarray(voxel_size_nm, float)
    out = pd.DataFrame({"id": df["root_id"].astype(np.int64), "x_nm": xyz[:, 0], "y_nm": xyz[:, 1],
                        "z_nm": xyz[:, 2], "root_id": df["root_id"].astype(np.int64),
                        "label": df[label_col].to_numpy()})
    for c in ("super_class", "cell_class", "cell_type", "side", "nucleus_id"):
        if c in df.columns and c not in out.columns:
            out[c] = df[c].to_numpy()
    return validate_points(out, Path(path).name)


# ------------------------------------------------------------------------------------------------------------------
# synister FAFB export (Eckstein et al. 2024, Cell; github.com/funkelab/synister, data/fafb_v3)
# ------------------------------------------------------------------------------------------------------------------
def _load_documents(source, key_name: str) -> pd.DataFrame:
    """A synister/MongoDB export as a frame: a dict ``{id: {...}}``, a list of documents, or JSON lines."""
    if isinstance(source, (dict, list)):
        docs = source
    else:
        text = Path(source).read_text()
        try:
            docs = json.loads(text)
        except json.JSONDecodeError:  # mongoexport writes one document per line
            docs = [json.loads(line) for line in text.splitlines() if line.strip()]
    if isinstance(docs, dict):
        rows = []
        for k, v in docs.items():
            row = dict(v)
            row.setdefault(key_name, int(k) if str(k).lstrip("-").isdigit() else k)
            rows.append(row)
        docs = rows
    df = pd.DataFrame(docs)
    df = df.drop(columns=[c for c in ("_id",) if c in df.columns])
    if key_name not in df.columns:
        raise ValueError(f"{source}: documents lack {key_name!r}; fields are {list(df.columns)}")
    return df


def _nt_label(value) -> str | None:
    if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)):
        return None
    if isinstance(value, (list, tuple)):
        vals = sorted(str(v).lower() for v in value if v is not None)
        return "+".join(vals) if vals else None
    return str(value).lower()


def read_synister_skeletons(skeletons, hemi_lineages=None) -> pd.DataFrame:
    """synister ``skeletons_v3.json`` joined with ``hemi_lineages_v3.json``.

    Returns
    -------
    DataFrame
        ``skeleton_id``, ``hemi_lineage_id``, ``nt_known`` (str, "+"-joined if several, None if unknown),
        and with hemilineages: ``hemilineage`` (name), ``nt_guess``.
    """
    sk = _load_documents(skeletons, "skeleton_id")
    sk["nt_known"] = sk["nt_known"].map(_nt_label)
    if hemi_lineages is not None:
        hl = _load_documents(hemi_lineages, "hemi_lineage_id")
        hl = hl.rename(columns={"hemi_lineage_name": "hemilineage"})
        hl["nt_guess"] = hl["nt_guess"].map(_nt_label)
        sk = sk.merge(hl[["hemi_lineage_id", "hemilineage", "nt_guess"]], on="hemi_lineage_id", how="left")
    return sk


def read_synister(synapses, skeletons, hemi_lineages=None, *, labelled_only: bool = False) -> pd.DataFrame:
    """synister's FAFB synapse export joined synapse → skeleton → hemilineage, as points.

    Parameters
    ----------
    synapses, skeletons, hemi_lineages : path, dict or list
        The three documents (``synapses_v3.json``: ``{synapse_id: {x, y, z, skeleton_id, brain_region, splits}}``
        with x, y, z in nm; ``skeletons_v3.json``; ``hemi_lineages_v3.json``).
    labelled_only : bool
        Keep only synapses whose skeleton has a known transmitter.

    Returns
    -------
    DataFrame
        Point schema: ``id`` = synapse_id, ``label`` = the skeleton's known transmitter, ``neuron_id`` =
        skeleton_id, ``hemilineage``, ``hemi_lineage_id``, ``region`` (brain_region), and one ``split_<name>``
        column per split in ``splits``.

    Raises
    ------
    ValueError
        A synapse whose skeleton is not in the skeleton documents (named by synapse id).
    """
    syn = _load_documents(synapses, "synapse_id")
    sk = read_synister_skeletons(skeletons, hemi_lineages)
    known = set(sk["skeleton_id"].tolist())
    orphan = ~syn["skeleton_id"].isin(known)
    if orphan.any():
        i = int(np.flatnonzero(orphan.to_numpy())[0])
        raise ValueError(f"synister synapse {syn['synapse_id'].iloc[i]} (row {i}): skeleton "
                         f"{syn['skeleton_id'].iloc[i]} not in the skeleton documents")
    df = syn.merge(sk, on="skeleton_id", how="left", validate="many_to_one")
    out = pd.DataFrame({"id": df["synapse_id"], "x_nm": df["x"], "y_nm": df["y"], "z_nm": df["z"],
                        "label": df["nt_known"], "neuron_id": df["skeleton_id"],
                        "hemi_lineage_id": df["hemi_lineage_id"]})
    if "hemilineage" in df.columns:
        out["hemilineage"] = df["hemilineage"]
    if "brain_region" in df.columns:
        out["region"] = df["brain_region"].map(lambda v: "+".join(v) if isinstance(v, list) else v)
    if "splits" in df.columns:
        splits = pd.json_normalize(df["splits"].map(lambda v: v if isinstance(v, dict) else {}))
        for c in splits.columns:
            out[f"split_{c}"] = splits[c].to_numpy()
    if labelled_only:
        out = out[out["label"].notna()]
    return validate_points(out, "synister synapses")


# ------------------------------------------------------------------------------------------------------------------
# neuroglancer annotation layers (seed 000) and Excel coordinate sheets (seed 003)
# ------------------------------------------------------------------------------------------------------------------
_UNIT_NM = {"m": 1e9, "mm": 1e6, "um": 1e3, "µm": 1e3, "nm": 1.0}


def _dims_to_nm(dims: dict) -> np.ndarray:
    try:
        return np.array([float(dims[a][0]) * _UNIT_NM[dims[a][1]] for a in XYZ])
    except KeyError as err:
        raise ValueError(f"neuroglancer dimensions {dims} lack x/y/z or use an unknown unit ({err})") from None


def read_neuroglancer_points(source, voxel_size_nm=None, *, layer: str | None = None, label: str | None = None,
                             label_from: str = "description") -> pd.DataFrame:
    """Point annotations of a neuroglancer state or annotation layer (JSON) as points in nm.

    Parameters
    ----------
    source : path or dict
        A full state (``{"dimensions": ..., "layers": [...]}``), one layer (``{"type": "annotation",
        "annotations": [...]}``) or a bare list of annotations.
    voxel_size_nm : (3,), optional
        Unit of the ``point`` coordinates; default: the layer's or the state's ``dimensions``.
    layer : str, optional
        Name of the annotation layer in a state (default: every annotation layer).
    label : str, optional
        A label for every point (seed 000 gives one file per class); otherwise ``label_from`` (the
        annotation's ``description``, stripped) is used.

    Returns
    -------
    DataFrame
        Point schema; ``annotation_id`` (neuroglancer's string id) and ``layer`` kept; ids 0..n-1.
    """
    state = json.loads(Path(source).read_text()) if not isinstance(source, (dict, list)) else source
    state_dims = state.get("dimensions") if isinstance(state, dict) else None
    if isinstance(state, list):
        layers = [{"name": layer or "annotations", "annotations": state}]
    elif "layers" in state:
        layers = state["layers"]
        layers = layers if isinstance(layers, list) else [dict(v, name=k) for k, v in layers.items()]
        layers = [ly for ly in layers if "annotations" in ly and (layer is None or ly.get("name") == layer)]
        if not layers:
            raise ValueError(f"{source}: no annotation layer{f' named {layer!r}' if layer else ''}")
    else:
        layers = [state]
    rows = []
    for ly in layers:
        if voxel_size_nm is not None:
            scale = np.asarray(voxel_size_nm, float).reshape(3)
        elif ly.get("dimensions") or state_dims:
            scale = _dims_to_nm(ly.get("dimensions") or state_dims)
        else:
            raise ValueError(f"{source}: layer {ly.get('name')!r} has no dimensions; pass voxel_size_nm=")
        for j, ann in enumerate(ly["annotations"]):
            if ann.get("type", "point") != "point":
                continue
            pt = ann.get("point")
            if pt is None or len(pt) < 3:
                raise ValueError(f"{source}: layer {ly.get('name')!r} annotation {j} has no 3D point: {ann}")
            xyz = np.asarray(pt[:3], float) * scale
            desc = ann.get(label_from)
            rows.append({"x_nm": xyz[0], "y_nm": xyz[1], "z_nm": xyz[2],
                         "label": label if label is not None else (desc.strip() if isinstance(desc, str) else None),
                         "annotation_id": ann.get("id"), "layer": ly.get("name")})
    if not rows:
        raise ValueError(f"{source}: no point annotations")
    out = pd.DataFrame(rows)
    out.insert(0, "id", np.arange(len(out), dtype=np.int64))
    return validate_points(out, str(source))


def read_excel_coords(path, voxel_size_nm, *, sheet=0, label: str | None = None,
                      offset_vox=(0, 0, 0)) -> pd.DataFrame:
    """Synapse coordinate sheets of seed 003 (``Var1``, ``central_coord_1..3``, ``side_1_coord_1..3``,
    ``side_2_coord_1..3``; voxel (x, y, z) in the bbox volume) as points.

    ``x_nm..`` is the cleft centre; ``side1_*_nm``/``side2_*_nm`` the two partners (which one is presynaptic is
    not recorded in the sheet). ``name`` keeps ``Var1``; ``bbox`` the file stem (``bbox1``); ``label`` is
    ``label`` or missing. Ids are 0..n-1 (``Var1`` is a free-form name).
    """
    path = Path(path)
    df = pd.read_excel(path, sheet_name=sheet)
    need = ["Var1"] + [f"{p}_coord_{k}" for p in ("central", "side_1", "side_2") for k in (1, 2, 3)]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; has {list(df.columns)}")
    vs = np.asarray(voxel_size_nm, float)
    off = np.asarray(offset_vox, float)
    out = pd.DataFrame({"id": np.arange(len(df), dtype=np.int64)})
    for prefix, src in (("", "central"), ("side1_", "side_1"), ("side2_", "side_2")):
        xyz = (df[[f"{src}_coord_{k}" for k in (1, 2, 3)]].to_numpy(float) + off) * vs
        for k, a in enumerate(XYZ):
            out[f"{prefix}{a}_nm"] = xyz[:, k]
    out["name"] = df["Var1"].astype(str).to_numpy()
    out["bbox"] = path.stem
    if label is not None:
        out["label"] = label
    return validate_points(out, path.name)


# name -> reader, used by dataset descriptors (``format:`` of a table)
POINT_READERS = {
    "nt_bbox": read_nt_bbox_synapses,
    "kasthuri2015": read_kasthuri2015,
    "navis_connectors": read_navis_connectors,
    "pinky100_soma": read_pinky100_somata,
    "flywire_hemibrain_meta": read_flywire_hemibrain_meta,
    "flywire_non_neurons": read_flywire_non_neurons,
    "neuroglancer": read_neuroglancer_points,
    "excel_coords": read_excel_coords,
}


def read_points(path, format: str, **kw) -> pd.DataFrame:
    """Read ``path`` with the reader named ``format`` (see :data:`POINT_READERS`; ``cave`` uses
    :func:`read_cave_table`; ``synister`` takes ``skeletons=``/``hemi_lineages=``)."""
    if format == "cave":
        return read_cave_table(path, **kw)
    if format == "synister":
        return read_synister(path, **kw)
    if format not in POINT_READERS:
        raise ValueError(f"unknown point format {format!r}; known: {sorted(POINT_READERS) + ['cave', 'synister']}")
    return POINT_READERS[format](path, **kw)
