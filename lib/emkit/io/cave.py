"""CAVE annotation tables through caveclient, returned in the point schema (positions in nm).

CAVE (Connectome Annotation Versioning Engine; Dorkenwald et al. 2025, Nature Methods) serves annotation
tables (synapses, nuclei, cell types) whose bound points are stored as voxel triplets at the table's voxel
resolution (e.g. 4 × 4 × 40 nm on MICrONS and FlyWire). These wrappers call ``client.materialize`` with
``split_positions=True`` and convert every ``*_position`` column to nm with the resolution the service reports
for the returned frame (``df.attrs["dataframe_resolution"]``, which is the table's ``voxel_resolution`` unless a
``desired_resolution`` was asked for).

Materialization versions are frozen snapshots; a ``timestamp`` gives a live query (root ids as of that time).
Pass either, never both.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from emkit.io.points import to_points

__all__ = [
    "get_client",
    "client_for",
    "materialization_versions",
    "version_timestamp",
    "table_voxel_size_nm",
    "query_table",
    "synapse_query",
    "frame_resolution_nm",
]

DEFAULT_SERVER = "https://global.daf-apis.com"


def get_client(datastack: str, server_address: str | None = None, *, version: int | None = None, **kw):
    """A ``caveclient.CAVEclient`` for ``datastack`` (needs network and, for most datastacks, a token)."""
    from caveclient import CAVEclient

    return CAVEclient(datastack, server_address=server_address or DEFAULT_SERVER, version=version, **kw)


def client_for(cave_cfg: dict, table_spec: dict | None = None, client=None):
    """The client a descriptor's ``cave:`` section (or a table's own ``datastack:``) asks for."""
    if client is not None:
        return client
    spec = table_spec or {}
    datastack = spec.get("datastack") or (cave_cfg or {}).get("datastack")
    if not datastack:
        raise ValueError("no CAVE datastack named in the descriptor (cave.datastack)")
    server = spec.get("server_address") or (cave_cfg or {}).get("server_address")
    return get_client(datastack, server, version=(cave_cfg or {}).get("materialization_version"))


def materialization_versions(client, expired: bool = False) -> list[int]:
    """Available materialization versions, ascending."""
    return sorted(int(v) for v in client.materialize.get_versions(expired=expired))


def version_timestamp(client, version: int) -> datetime:
    """The snapshot time of a materialization version."""
    return client.materialize.get_timestamp(version)


def table_voxel_size_nm(client, table: str, materialization_version: int | None = None) -> np.ndarray:
    """The voxel resolution (x, y, z) nm of a table's stored positions (table metadata)."""
    md = client.materialize.get_table_metadata(table, version=materialization_version)
    res = md.get("voxel_resolution")
    if res is None or any(r is None for r in res):
        raise ValueError(f"CAVE table {table!r}: metadata has no voxel_resolution ({md})")
    return np.asarray(res, dtype=float)


def frame_resolution_nm(df: pd.DataFrame, client=None, table: str | None = None,
                        materialization_version: int | None = None) -> np.ndarray:
    """Resolution (x, y, z) nm of the positions in a frame caveclient returned."""
    res = df.attrs.get("dataframe_resolution") if hasattr(df, "attrs") else None
    if isinstance(res, str):
        res = [float(r) for r in res.replace(",", " ").split()]
    if res is not None and len(res) == 3 and all(r is not None for r in res):
        return np.asarray(res, dtype=float)
    if client is None or table is None:
        raise ValueError("the frame carries no dataframe_resolution; pass client and table to look it up")
    return table_voxel_size_nm(client, table, materialization_version)


def _frame_to_points(df: pd.DataFrame, resolution_nm, position_col: str, label_col: str | None, table: str,
                     id_col: str = "id") -> pd.DataFrame:
    if len(df) == 0:
        raise ValueError(f"CAVE table {table!r}: the query returned no rows")
    if id_col not in df.columns:
        raise ValueError(f"CAVE table {table!r}: no {id_col!r} column in {list(df.columns)}")
    out = to_points(df, resolution_nm, position_col, position_units="voxels", label_col=label_col, name=table)
    out.attrs.update({k: v for k, v in df.attrs.items() if isinstance(v, (str, int, float, bool, list))})
    out.attrs["position_resolution_nm"] = list(map(float, resolution_nm))
    return out


def query_table(
    client,
    table: str,
    *,
    points: bool = True,
    position_col: str = "pt_position",
    label_col: str | None = None,
    materialization_version: int | None = None,
    timestamp: datetime | None = None,
    filter_in_dict: dict | None = None,
    filter_out_dict: dict | None = None,
    filter_equal_dict: dict | None = None,
    filter_spatial_dict: dict | None = None,
    select_columns: Sequence[str] | None = None,
    limit: int | None = None,
    offset: int | None = None,
    **kw,
) -> pd.DataFrame:
    """Query a CAVE table and return points in nm (or the raw frame with ``points=False``).

    Parameters
    ----------
    client : caveclient.CAVEclient
    table : str
        Annotation table name (e.g. ``nucleus_detection_v0``).
    points : bool
        True: point schema (``x_nm..``; other ``*_position`` columns become ``pre_/post_*_nm`` for synapse
        tables); False: caveclient's frame with ``[x, y, z]`` voxel list columns, as stored.
    position_col : str
        Column giving the point (``pt_position``, ``ctr_pt_position``).
    label_col : str, optional
        Column copied to ``label``.
    materialization_version, timestamp
        A frozen version, or a time for a live query (root ids at that time). Not both.
    filter_*_dict, select_columns, limit, offset
        As in ``caveclient``'s ``materialize.query_table``; spatial boxes are in the table's voxels.

    Returns
    -------
    DataFrame
        ``attrs["position_resolution_nm"]`` records the voxel size the positions were converted from.
    """
    if timestamp is not None and materialization_version is not None:
        raise ValueError(f"CAVE table {table!r}: pass materialization_version or timestamp, not both")
    df = client.materialize.query_table(
        table,
        filter_in_dict=filter_in_dict,
        filter_out_dict=filter_out_dict,
        filter_equal_dict=filter_equal_dict,
        filter_spatial_dict=filter_spatial_dict,
        select_columns=list(select_columns) if select_columns is not None else None,
        limit=limit,
        offset=offset,
        materialization_version=materialization_version,
        timestamp=timestamp,
        split_positions=True,
        **kw,
    )
    if not points:
        return _join_positions(df)
    res = frame_resolution_nm(df, client, table, materialization_version)
    return _frame_to_points(df, res, position_col, label_col, table)


def synapse_query(
    client,
    pre_ids: int | Iterable[int] | None = None,
    post_ids: int | Iterable[int] | None = None,
    *,
    bounding_box=None,
    bounding_box_column: str = "post_pt_position",
    synapse_table: str | None = None,
    materialization_version: int | None = None,
    timestamp: datetime | None = None,
    remove_autapses: bool = True,
    limit: int | None = None,
    points: bool = True,
    label_col: str | None = None,
) -> pd.DataFrame:
    """Synapses by partner root ids / box (``client.materialize.synapse_query``) as points at the cleft centre.

    Returns the point schema with ``x_nm..`` = ``ctr_pt_position``, ``pre_/post_*_nm``, ``pre_root_id``,
    ``post_root_id`` (nm from the table's voxel resolution); ``points=False`` gives caveclient's frame.
    """
    if timestamp is not None and materialization_version is not None:
        raise ValueError("synapse_query: pass materialization_version or timestamp, not both")
    df = client.materialize.synapse_query(
        pre_ids=pre_ids, post_ids=post_ids, bounding_box=bounding_box, bounding_box_column=bounding_box_column,
        synapse_table=synapse_table, materialization_version=materialization_version, timestamp=timestamp,
        remove_autapses=remove_autapses, limit=limit, split_positions=True,
    )
    if not points:
        return _join_positions(df)
    table = synapse_table or client.info.get_datastack_info()["synapse_table"]
    res = frame_resolution_nm(df, client, table, materialization_version)
    return _frame_to_points(df, res, "ctr_pt_position", label_col, table)


def _join_positions(df: pd.DataFrame) -> pd.DataFrame:
    """Split ``*_position_x/_y/_z`` columns back into ``[x, y, z]`` list columns (CAVE's stored form)."""
    out = df.copy()
    bases = sorted({c[:-2] for c in df.columns if c.endswith(("_position_x", "_position_y", "_position_z"))})
    for base in bases:
        cols = [f"{base}_{a}" for a in "xyz"]
        if all(c in out.columns for c in cols):
            out[base] = list(out[cols].to_numpy())
            out = out.drop(columns=cols)
    return out
