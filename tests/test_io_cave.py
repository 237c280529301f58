"""emkit.io.cave OFFLINE: caveclient's own CAVEclientMock + `responses` callbacks that answer the query endpoints
from local DataFrames as Arrow IPC (ecosystem notes). No home-made client: the real CAVEclient code runs."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import responses
from caveclient import endpoints
from caveclient.tools.testing import (CAVEclientMock, DEFAULT_MATERIALIZATION_VERSION_METADATA, TEST_DATASTACK,
                                      TEST_LOCAL_SERVER)

from emkit.io import cave

SYN_TABLE = "test_synapse_table"  # caveclient's default test info names this the datastack's synapse table
NUC_TABLE = "nucleus_detection_v0"
E = endpoints.materialization_endpoints_v3
V1_TIME = DEFAULT_MATERIALIZATION_VERSION_METADATA["time_stamp"]


def _split(df: pd.DataFrame) -> pd.DataFrame:
    """CAVE list positions -> the split _x/_y/_z columns the service sends with split_positions=True."""
    out = df.copy()
    for col in [c for c in df.columns if c.endswith("_position")]:
        vals = out.pop(col).to_numpy()
        arr = np.stack(vals) if len(vals) else np.zeros((0, 3), dtype=np.int64)
        for k, a in enumerate("xyz"):
            out[f"{col}_{a}"] = arr[:, k]
    return out


def synapses_v1():
    n = 6
    return pd.DataFrame({
        "id": np.arange(1, n + 1), "valid": True, "size": np.arange(n) * 10 + 5,
        "pre_pt_supervoxel_id": np.arange(n) + 500, "pre_pt_root_id": [10, 10, 11, 12, 10, 13],
        "post_pt_supervoxel_id": np.arange(n) + 600, "post_pt_root_id": [20, 21, 20, 20, 22, 13],
        "pre_pt_position": [[100 + 10 * i, 200, 10 + i] for i in range(n)],
        "ctr_pt_position": [[102 + 10 * i, 201, 10 + i] for i in range(n)],
        "post_pt_position": [[104 + 10 * i, 202, 10 + i] for i in range(n)],
    })


def nuclei_v1():
    return pd.DataFrame({
        "id": [7, 8, 9], "valid": True, "volume": [250.0, 300.0, 12.0],
        "pt_supervoxel_id": [1, 2, 3], "pt_root_id": [10, 20, 0],
        "pt_position": [[1000, 2000, 100], [1500, 2500, 110], [3000, 100, 5]],
        "bb_start_position": [[990, 1990, 95]] * 3, "bb_end_position": [[1010, 2010, 105]] * 3,
    })


def _filtered(df: pd.DataFrame, body: dict, table: str) -> pd.DataFrame:
    """Apply the request body's filters the way the materialization service does (the subset we use)."""
    keep = np.ones(len(df), dtype=bool)
    for col, vals in (body.get("filter_in_dict") or {}).get(table, {}).items():
        keep &= df[col].isin(vals).to_numpy()
    for col, vals in (body.get("filter_notin_dict") or {}).get(table, {}).items():
        keep &= ~df[col].isin(vals).to_numpy()
    for col, val in (body.get("filter_equal_dict") or {}).get(table, {}).items():
        keep &= (df[col] == val).to_numpy()
    for col, (lo, hi) in (body.get("filter_spatial_dict") or {}).get(table, {}).items():
        pos = np.stack(df[col].to_numpy()) if len(df) else np.zeros((0, 3))
        keep &= np.all((pos >= lo) & (pos < hi), axis=1)
    out = df[keep]
    offset = body.get("offset") or 0
    limit = body.get("limit")
    out = out.iloc[offset: offset + limit if limit else None]
    return out


def _arrow_callback(df: pd.DataFrame, table: str, seen: list):
    def callback(request):
        body = json.loads(request.body)
        seen.append(body)
        out = _split(_filtered(df, body, table)).reset_index(drop=True)
        sink = pa.BufferOutputStream()
        arrow = pa.Table.from_pandas(out, preserve_index=False)
        with pa.ipc.new_stream(sink, arrow.schema) as writer:
            writer.write_table(arrow)
        return 200, {"Content-Type": "data.arrow"}, sink.getvalue().to_pybytes()
    return callback


@pytest.fixture
def cave_world():
    """A mocked CAVEclient (versions 1 and 2) whose query endpoints answer from local frames."""
    client = CAVEclientMock(materialization=True, set_version=1, available_materialization_versions=[1, 2])
    syn2 = pd.concat([synapses_v1(), synapses_v1().iloc[[0]].assign(id=99, pre_pt_root_id=14)], ignore_index=True)
    frames = {(1, SYN_TABLE): synapses_v1(), (2, SYN_TABLE): syn2, (1, NUC_TABLE): nuclei_v1(),
              (2, NUC_TABLE): nuclei_v1()}
    seen: list = []
    t1 = datetime.fromisoformat(V1_TIME).replace(tzinfo=timezone.utc)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rs:
        for (version, table), df in frames.items():
            m = dict(me_server_address=TEST_LOCAL_SERVER, datastack_name=TEST_DATASTACK, version=version,
                     table_name=table)
            res = (4.0, 4.0, 40.0)
            rs.add(responses.GET, E["metadata"].format_map(m),
                   json={"table_name": table, "reference_table": None, "voxel_resolution_x": res[0],
                         "voxel_resolution_y": res[1], "voxel_resolution_z": res[2], "schema": "synapse"})
            rs.add_callback(responses.POST, E["simple_query"].format_map(m),
                            callback=_arrow_callback(df, table, seen))
        m = dict(me_server_address=TEST_LOCAL_SERVER, datastack_name=TEST_DATASTACK)
        rs.add(responses.GET, E["versions"].format_map(m), json=[1, 2])
        rs.add(responses.GET, E["versions_metadata"].format_map(m), json=[
            {"version": v, "id": v, "valid": True, "status": "AVAILABLE", "datastack": TEST_DATASTACK,
             "time_stamp": (t1 + timedelta(days=7 * (v - 1))).replace(tzinfo=None).isoformat(),
             "expires_on": DEFAULT_MATERIALIZATION_VERSION_METADATA["expires_on"]} for v in (1, 2)])
        yield client, seen, t1


def test_query_table_returns_points_in_nm(cave_world):
    client, seen, _ = cave_world
    pts = cave.query_table(client, NUC_TABLE, position_col="pt_position")
    assert pts["id"].tolist() == [7, 8, 9]
    np.testing.assert_allclose(pts.loc[0, ["x_nm", "y_nm", "z_nm"]].to_numpy(float), [4000, 8000, 4000])
    assert pts["root_id"].tolist() == [10, 20, 0]
    assert pts.attrs["position_resolution_nm"] == [4.0, 4.0, 40.0]
    assert "volume" in pts.columns and "bb_start_position" not in pts.columns
    np.testing.assert_allclose(pts.loc[0, ["bb_start_x_nm", "bb_end_z_nm"]].to_numpy(float), [3960, 4200])
    raw = cave.query_table(client, NUC_TABLE, points=False)
    assert list(raw["pt_position"].iloc[1]) == [1500, 2500, 110]  # as stored: voxels


def test_filters_reach_the_service(cave_world):
    client, seen, _ = cave_world
    pts = cave.query_table(client, NUC_TABLE, filter_in_dict={"pt_root_id": [10, 20]}, limit=1)
    assert pts["id"].tolist() == [7]
    assert seen[-1]["filter_in_dict"] == {NUC_TABLE: {"pt_root_id": [10, 20]}} and seen[-1]["limit"] == 1
    box = [[900, 1900, 90], [1600, 2600, 120]]
    pts = cave.query_table(client, NUC_TABLE, filter_spatial_dict={"pt_position": box})
    assert pts["id"].tolist() == [7, 8]


def test_synapse_query_partner_and_points(cave_world):
    client, seen, _ = cave_world
    syn = cave.synapse_query(client, pre_ids=10)
    assert syn["id"].tolist() == [1, 2, 5]  # all pre root 10
    assert seen[-1]["filter_equal_dict"][SYN_TABLE] == {"pre_pt_root_id": 10}
    np.testing.assert_allclose(syn.loc[0, ["x_nm", "y_nm", "z_nm"]].to_numpy(float), [408, 804, 400])
    np.testing.assert_allclose(syn.loc[0, ["pre_x_nm", "post_x_nm"]].to_numpy(float), [400, 416])
    assert syn["post_root_id"].tolist() == [20, 21, 22]
    allsyn = cave.synapse_query(client)
    assert 6 not in allsyn["id"].tolist()  # autapse (13 -> 13) removed by caveclient
    assert len(allsyn) == 5


def test_materialization_versions_and_live_timestamp(cave_world):
    client, seen, t1 = cave_world
    assert cave.materialization_versions(client) == [1, 2]
    v2 = cave.query_table(client, SYN_TABLE, position_col="ctr_pt_position", materialization_version=2)
    v1 = cave.query_table(client, SYN_TABLE, position_col="ctr_pt_position", materialization_version=1)
    assert len(v2) == len(v1) + 1 and 99 in v2["id"].tolist()
    # a live query at the exact snapshot time of version 1 answers as version 1
    live = cave.query_table(client, SYN_TABLE, position_col="ctr_pt_position", timestamp=t1)
    pd.testing.assert_frame_equal(live.reset_index(drop=True), v1.reset_index(drop=True), check_like=True)
    with pytest.raises(ValueError, match="not both"):
        cave.query_table(client, SYN_TABLE, timestamp=t1, materialization_version=1)


def test_empty_result_is_an_error(cave_world):
    client, _, _ = cave_world
    with pytest.raises(ValueError, match="nucleus_detection_v0.*no rows"):
        cave.query_table(client, NUC_TABLE, filter_in_dict={"pt_root_id": [12345]})
