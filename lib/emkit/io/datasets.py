"""Dataset descriptors (``data/*.yaml``): one name opens the volumes and tables of a dataset, with units.

A descriptor is YAML::

    name: snemi3d
    title: SNEMI3D AC4 training volume
    kind: local                  # synthetic | local | public
    voxel_size_nm: [6, 6, 30]    # (x, y, z) at mip 0
    params: {}                   # template parameters and their defaults (synthetic: size, seed)
    root: "{realdata}"           # optional; templates: {data_dir} {realdata} {root} {<param>}
    generator:                   # optional (synthetic): called when <root>/<marker> is missing
      function: emkit.synth:ensure_world
      marker: COMPLETE
    cave:                        # optional: the CAVE datastack behind cave_query tables
      datastack: minnie65_public
    layers:
      em: {uri: "h5://{realdata}/snemi3d_ac4_train.h5#raw", type: image}
    tables:
      synapses:
        path: "{root}/synapses.parquet"  # or `table:` for format cave_query
        format: cave                     # cave | cave_query | points | csv | parquet | <emkit.io.tables reader>
        position_units: voxels           # cave formats: voxels (at voxel_size_nm) or nm
        point: ctr_pt_position           # the cutout centre column
        label: neurotransmitter          # column copied to `label`
        options: {}                      # extra keyword arguments for the reader
    where_to_get: "..."          # public sources (real data is never copied into the project)
    citation: "..."

:func:`open_dataset` reads, validates and returns a :class:`Dataset`; :func:`validate_descriptor` checks a
descriptor without touching the network or the files.
"""

from __future__ import annotations

import importlib
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from emkit import paths
from emkit.io import points as _points
from emkit.io import tables as _tables
from emkit.io.volumes import Volume, open_volume, parse_uri

__all__ = ["Dataset", "open_dataset", "list_datasets", "load_descriptor", "validate_descriptor",
           "describe_dataset", "describe_all", "descriptor_path", "TABLE_FORMATS"]

KINDS = ("synthetic", "local", "public")
LAYER_TYPES = ("image", "segmentation")
_STORED_FORMATS = ("cave", "points", "csv", "parquet", "synister")
TABLE_FORMATS = _STORED_FORMATS + ("cave_query",) + tuple(_tables.POINT_READERS)


# ------------------------------------------------------------------------------------------------------------------
# loading and validation
# ------------------------------------------------------------------------------------------------------------------
def descriptor_path(name_or_path) -> Path:
    """The YAML file for a dataset name (``data/<name>.yaml``) or a path to one."""
    p = Path(str(name_or_path))
    if p.suffix in (".yaml", ".yml"):
        if not p.exists():
            raise FileNotFoundError(f"no dataset descriptor {p}")
        return p
    cand = paths.descriptors_dir() / f"{name_or_path}.yaml"
    if not cand.exists():
        known = ", ".join(list_datasets()) or "none"
        raise FileNotFoundError(f"no dataset descriptor named {name_or_path!r} (looked for {cand}); known: {known}")
    return cand


def list_datasets() -> list[str]:
    """Names of the descriptors in ``data/*.yaml`` (sorted)."""
    d = paths.descriptors_dir()
    return sorted(p.stem for p in d.glob("*.yaml")) if d.exists() else []


def load_descriptor(name_or_path) -> dict:
    """Read a descriptor (no templating, no validation)."""
    p = descriptor_path(name_or_path)
    with open(p) as fh:
        desc = yaml.safe_load(fh)
    if not isinstance(desc, dict):
        raise ValueError(f"{p}: a descriptor must be a YAML mapping, got {type(desc).__name__}")
    desc.setdefault("_path", str(p))
    return desc


def _template_keys(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def validate_descriptor(desc: dict) -> list[str]:
    """Check a descriptor's structure, templates, URIs and table formats; touch no file and no network.

    Returns
    -------
    list of str
        Empty when valid.

    Raises
    ------
    ValueError
        Listing every problem found, prefixed by the descriptor's file.
    """
    where = desc.get("_path", desc.get("name", "<descriptor>"))
    problems: list[str] = []
    for key in ("name", "voxel_size_nm", "layers"):
        if key not in desc:
            problems.append(f"missing key {key!r}")
    kind = desc.get("kind", "local")
    if kind not in KINDS:
        problems.append(f"kind {kind!r} not in {KINDS}")
    vs = desc.get("voxel_size_nm")
    try:
        arr = np.asarray(vs, dtype=float)
        if arr.shape != (3,) or np.any(arr <= 0):
            problems.append(f"voxel_size_nm must be 3 positive numbers (x, y, z), got {vs!r}")
    except (TypeError, ValueError):
        problems.append(f"voxel_size_nm must be 3 positive numbers (x, y, z), got {vs!r}")
    params = desc.get("params") or {}
    if not isinstance(params, dict):
        problems.append("params must be a mapping of name -> default")
        params = {}
    allowed = {"data_dir", "realdata", "root", *params}
    if kind in ("local", "public") and not desc.get("where_to_get"):
        problems.append("local/public datasets need a where_to_get text naming the public source")

    def check_template(text, what):
        if not isinstance(text, str):
            problems.append(f"{what} must be a string, got {text!r}")
            return
        try:
            unknown = _template_keys(text) - allowed
        except ValueError as err:
            problems.append(f"{what}: bad template {text!r} ({err})")
            return
        if unknown:
            problems.append(f"{what}: unknown template field(s) {sorted(unknown)} in {text!r} "
                            f"(known: {sorted(allowed)})")

    if "root" in desc:
        check_template(desc["root"], "root")
        if "{root}" in desc["root"]:
            problems.append("root cannot refer to {root}")
    gen = desc.get("generator")
    if gen is not None:
        if not isinstance(gen, dict) or ":" not in str(gen.get("function", "")):
            problems.append("generator.function must be 'module:function'")
        if "root" not in desc:
            problems.append("a generator needs a root folder")
    layers = desc.get("layers") or {}
    if not isinstance(layers, dict) or not layers:
        problems.append("layers must be a non-empty mapping name -> {uri, type}")
        layers = {}
    fake = {k: "x" for k in allowed}
    for lname, spec in layers.items():
        if not isinstance(spec, dict) or "uri" not in spec:
            problems.append(f"layer {lname!r}: needs a uri")
            continue
        check_template(spec["uri"], f"layer {lname!r} uri")
        if spec.get("type") not in LAYER_TYPES:
            problems.append(f"layer {lname!r}: type must be one of {LAYER_TYPES}, got {spec.get('type')!r}")
        try:
            kind_, _, dataset = parse_uri(str(spec["uri"]).format_map(fake))
            if kind_ == "h5" and not dataset:
                problems.append(f"layer {lname!r}: an h5:// uri needs '#<dataset>'")
        except (ValueError, KeyError, IndexError) as err:
            problems.append(f"layer {lname!r}: {err}")
        if "voxel_size_nm" in spec and np.asarray(spec["voxel_size_nm"], float).shape != (3,):
            problems.append(f"layer {lname!r}: voxel_size_nm must have 3 values")
    cave = desc.get("cave")
    for tname, spec in (desc.get("tables") or {}).items():
        if not isinstance(spec, dict):
            problems.append(f"table {tname!r}: must be a mapping")
            continue
        fmt = spec.get("format")
        if fmt not in TABLE_FORMATS:
            problems.append(f"table {tname!r}: format {fmt!r} not in {sorted(TABLE_FORMATS)}")
            continue
        if fmt == "cave_query":
            if not (cave or {}).get("datastack") and not spec.get("datastack"):
                problems.append(f"table {tname!r}: cave_query needs cave.datastack")
            if not spec.get("table"):
                problems.append(f"table {tname!r}: cave_query needs the CAVE table name (table:)")
        else:
            if "path" not in spec:
                problems.append(f"table {tname!r}: needs a path")
            else:
                check_template(spec["path"], f"table {tname!r} path")
        if fmt in ("cave", "cave_query"):
            if spec.get("position_units", "voxels") not in ("voxels", "nm"):
                problems.append(f"table {tname!r}: position_units must be voxels or nm")
            if not spec.get("point"):
                problems.append(f"table {tname!r}: name the point column (point:)")
        opts = spec.get("options", {})
        if not isinstance(opts, dict):
            problems.append(f"table {tname!r}: options must be a mapping")
    if problems:
        raise ValueError(f"{where}: invalid dataset descriptor:\n  - " + "\n  - ".join(problems))
    return problems


# ------------------------------------------------------------------------------------------------------------------
# Dataset
# ------------------------------------------------------------------------------------------------------------------
@dataclass
class Dataset:
    """An opened dataset descriptor: its volumes (:meth:`volume`) and tables (:meth:`table`, :meth:`points`).

    Attributes
    ----------
    name : str
    voxel_size_nm : np.ndarray (3,)
        Mip-0 voxel size (x, y, z) nm; stored CAVE positions are voxels at this size unless a table says otherwise.
    layers : list of str
    table_names : list of str
    params : dict
        Template parameters in effect (e.g. size, seed).
    root : Path or None
    descriptor : dict
        The templated descriptor.
    """

    name: str
    voxel_size_nm: np.ndarray
    descriptor: dict
    params: dict = field(default_factory=dict)
    root: Path | None = None

    @property
    def layers(self) -> list[str]:
        return list(self.descriptor.get("layers", {}))

    @property
    def table_names(self) -> list[str]:
        return list(self.descriptor.get("tables") or {})

    @property
    def kind(self) -> str:
        return self.descriptor.get("kind", "local")

    def _layer(self, layer: str) -> dict:
        if layer not in self.descriptor["layers"]:
            raise KeyError(f"dataset {self.name!r} has no layer {layer!r}; layers: {self.layers}")
        return self.descriptor["layers"][layer]

    def _table(self, name: str) -> dict:
        tables = self.descriptor.get("tables") or {}
        if name not in tables:
            raise KeyError(f"dataset {self.name!r} has no table {name!r}; tables: {self.table_names}")
        return tables[name]

    def volume(self, layer: str, mip: int = 0, **kw) -> Volume:
        """Open a layer as a :class:`~emkit.io.volumes.Volume` (HDF5/TIFF layers get the descriptor's voxel size).

        Raises
        ------
        ValueError
            If a precomputed layer's info file disagrees with the descriptor's mip-0 voxel size.
        """
        spec = self._layer(layer)
        uri = spec["uri"]
        kind, _, _ = parse_uri(uri)
        opts = dict(spec.get("options") or {})
        opts.update(kw)
        if kind in ("h5", "tiff", "zarr", "n5"):
            opts.setdefault("voxel_size_nm", spec.get("voxel_size_nm", self.voxel_size_nm))
            opts.setdefault("layer_type", spec.get("type"))
            if "offset_vox" in spec:
                opts.setdefault("offset_vox", spec["offset_vox"])
        vol = open_volume(uri, mip=mip, **opts)
        if kind == "precomputed" and "voxel_size_nm" not in spec and not spec["uri"].startswith("graphene://"):
            if not np.allclose(vol.mip_voxel_sizes_nm[0], self.voxel_size_nm):
                raise ValueError(f"dataset {self.name!r} layer {layer!r}: the volume's mip-0 voxel size "
                                 f"{vol.mip_voxel_sizes_nm[0].tolist()} nm differs from the descriptor's "
                                 f"{self.voxel_size_nm.tolist()} nm")
        return vol

    def table(self, name: str, **kw) -> pd.DataFrame:
        """The table as stored (CAVE column names, voxel positions); ``cave_query`` tables query CAVE."""
        spec = self._table(name)
        fmt = spec["format"]
        if fmt == "cave_query":
            from emkit.io import cave

            client = cave.client_for(self.descriptor.get("cave", {}), spec)
            return cave.query_table(client, spec["table"], points=False, **{**(spec.get("options") or {}), **kw})
        path = Path(spec["path"])
        if fmt in ("cave", "points", "csv", "parquet"):
            return _tables.read_table(path)
        if fmt == "synister":
            return _tables._load_documents(path, "synapse_id")
        return _tables.read_table(path) if path.is_file() else _tables.read_points(path, fmt, **spec.get("options", {}))

    def points(self, name: str, **kw) -> pd.DataFrame:
        """The table in the point schema (positions in nm; CONTRIBUTING.md)."""
        spec = self._table(name)
        fmt = spec["format"]
        opts = {**(spec.get("options") or {}), **kw}
        vs = np.asarray(spec.get("voxel_size_nm", self.voxel_size_nm), dtype=float)
        if fmt == "cave":
            df = _tables.read_table(spec["path"])
            return _points.to_points(df, vs, spec["point"], position_units=spec.get("position_units", "voxels"),
                                     label_col=spec.get("label"), name=f"{self.name}.{name}", **opts)
        if fmt == "cave_query":
            from emkit.io import cave

            client = cave.client_for(self.descriptor.get("cave", {}), spec)
            return cave.query_table(client, spec["table"], points=True, position_col=spec["point"],
                                    label_col=spec.get("label"), **opts)
        if fmt in ("points", "csv", "parquet"):
            df = _tables.read_table(spec["path"])
            if spec.get("label") and "label" not in df.columns:
                df = df.assign(label=df[spec["label"]])
            return _points.validate_points(df, f"{self.name}.{name}")
        if fmt == "synister":
            return _tables.read_synister(spec["path"], **opts)
        if fmt in ("nt_bbox", "navis_connectors", "flywire_hemibrain_meta", "flywire_non_neurons") \
                and "voxel_size_nm" not in opts and "voxel_size_nm" in spec:
            opts["voxel_size_nm"] = spec["voxel_size_nm"]
        pts = _tables.read_points(spec["path"], fmt, **opts)
        if spec.get("label") and spec["label"] in pts.columns:
            pts = pts.assign(label=pts[spec["label"]].astype(str))
        return pts

    def describe(self) -> str:
        """A short markdown summary (layers, tables, units, sources) for the book's data chapter."""
        d = self.descriptor
        vs = " × ".join(f"{v:g}" for v in self.voxel_size_nm)
        lines = [f"### {d.get('title', self.name)} (`{self.name}`)", ""]
        if d.get("description"):
            lines += [str(d["description"]).strip(), ""]
        lines += [f"- kind: {self.kind}; voxel size (x, y, z): {vs} nm at mip 0"]
        if self.params:
            lines += ["- parameters: " + ", ".join(f"{k}={v}" for k, v in self.params.items())]
        if d.get("cave"):
            lines += [f"- CAVE datastack: `{d['cave'].get('datastack')}`"]
        lines += ["", "| layer | type | source |", "|---|---|---|"]
        for lname, spec in d["layers"].items():
            lines.append(f"| {lname} | {spec.get('type')} | `{spec['uri']}` |")
        if d.get("tables"):
            lines += ["", "| table | format | point | label |", "|---|---|---|---|"]
            for tname, spec in d["tables"].items():
                src = spec.get("table") or Path(str(spec.get("path", ""))).name
                lines.append(f"| {tname} ({src}) | {spec['format']} | {spec.get('point', '—')} | "
                             f"{spec.get('label', '—')} |")
        if d.get("where_to_get"):
            lines += ["", "**Where to get it:** " + " ".join(str(d["where_to_get"]).split())]
        if d.get("citation"):
            lines += ["", "**Cite:** " + " ".join(str(d["citation"]).split())]
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, voxel_size_nm={self.voxel_size_nm.tolist()}, layers={self.layers}, "
                f"tables={self.table_names})")


def _apply_templates(obj, values: dict, where: str):
    if isinstance(obj, str):
        try:
            return obj.format_map(values)
        except KeyError as err:
            raise ValueError(f"{where}: unknown template field {err} in {obj!r}") from None
    if isinstance(obj, dict):
        return {k: (v if k in ("_path", "where_to_get", "citation", "description") else
                    _apply_templates(v, values, where)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_apply_templates(v, values, where) for v in obj]
    return obj


def _resolve(name_or_path, root, params) -> tuple[dict, dict, dict, Path | None]:
    """Load, validate and template a descriptor: (descriptor, resolved, parameter values, root)."""
    desc = load_descriptor(name_or_path)
    validate_descriptor(desc)
    where = desc["_path"]
    defaults = dict(desc.get("params") or {})
    unknown = set(params) - set(defaults)
    if unknown:
        raise TypeError(f"{where}: unknown parameter(s) {sorted(unknown)}; this dataset takes {sorted(defaults)}")
    values = {**defaults, **params}
    tmpl: dict[str, Any] = dict(values)
    tmpl["data_dir"] = str(paths.data_dir())
    tmpl["realdata"] = str(paths.realdata_dir())
    if root is not None:
        tmpl["root"] = str(root)
    elif "root" in desc:
        tmpl["root"] = desc["root"].format_map(tmpl)
    resolved = _apply_templates({k: v for k, v in desc.items() if k not in ("root", "params")}, tmpl, where)
    return desc, resolved, values, (Path(tmpl["root"]) if "root" in tmpl else None)


def describe_dataset(name_or_path, *, root=None, **params) -> str:
    """:meth:`Dataset.describe` without opening anything (the synthetic world is not generated)."""
    desc, resolved, values, root_path = _resolve(name_or_path, root, params)
    return Dataset(name=desc["name"], voxel_size_nm=np.asarray(desc["voxel_size_nm"], dtype=float),
                   descriptor=resolved, params=values, root=root_path).describe()


def describe_all() -> str:
    """Markdown summaries of every descriptor in ``data/`` (for the book's data chapter)."""
    return "\n".join(describe_dataset(name) for name in list_datasets())


def open_dataset(name_or_path="synthetic", *, generate: bool = True, root=None, **params) -> Dataset:
    """Open a dataset by descriptor name (``data/<name>.yaml``) or path.

    Parameters
    ----------
    name_or_path : str or path
        Default ``"synthetic"``.
    generate : bool
        For descriptors with a ``generator`` (the synthetic world): when ``<root>/<marker>`` is missing, call the
        generator (``emkit.synth.ensure_world(root, size=..., seed=...)``). With False, raise instead.
    root : path, optional
        Override the descriptor's ``root`` folder.
    **params
        Template parameters (e.g. ``size="tiny", seed=0``); unknown names raise.

    Returns
    -------
    Dataset
    """
    desc, resolved, values, root_path = _resolve(name_or_path, root, params)
    gen = desc.get("generator")
    if gen is not None and root_path is not None:
        marker = root_path / gen.get("marker", "COMPLETE")
        if not marker.exists():
            if not generate:
                raise FileNotFoundError(f"dataset {desc['name']!r}: {marker} missing and generate=False")
            module_name, func_name = gen["function"].split(":")
            func = getattr(importlib.import_module(module_name), func_name)  # lazy: synth is heavy
            func(root_path, **values)
            if not marker.exists():
                raise RuntimeError(f"dataset {desc['name']!r}: {gen['function']} returned but {marker} is missing")
    return Dataset(name=desc["name"], voxel_size_nm=np.asarray(desc["voxel_size_nm"], dtype=float),
                   descriptor=resolved, params=values, root=root_path)
