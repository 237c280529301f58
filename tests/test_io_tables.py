"""emkit.io.tables: readers → point schema, validation errors that name the row, nm/voxel mix-up detection."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from emkit.io import tables as T
from emkit.io.volumes import ArrayVolume


def _cave_synapses(n=4):
    return pd.DataFrame({
        "id": np.arange(100, 100 + n),
        "pre_pt_root_id": np.arange(n) + 1000,
        "post_pt_root_id": np.arange(n) + 2000,
        "pre_pt_position": [[10 + i, 20, 3] for i in range(n)],
        "ctr_pt_position": [[11 + i, 21, 3] for i in range(n)],
        "post_pt_position": [[12 + i, 22, 3] for i in range(n)],
        "neurotransmitter": ["gaba", "glutamate", "gaba", "acetylcholine"][:n],
        "size": np.arange(n) * 10,
    })


def test_to_points_cave_list_columns():
    pts = T.to_points(_cave_synapses(), (8, 8, 40), "ctr_pt_position", label_col="neurotransmitter")
    assert list(pts.columns[:4]) == ["id", "x_nm", "y_nm", "z_nm"]
    assert pts["id"].dtype == np.int64 and pts["x_nm"].dtype == np.float64
    np.testing.assert_allclose(pts.loc[0, ["x_nm", "y_nm", "z_nm"]].to_numpy(float), [88, 168, 120])
    np.testing.assert_allclose(pts.loc[1, ["pre_x_nm", "pre_y_nm", "pre_z_nm"]].to_numpy(float), [88, 160, 120])
    np.testing.assert_allclose(pts["post_x_nm"], (12 + np.arange(4)) * 8.0)
    assert pts["pre_root_id"].tolist() == [1000, 1001, 1002, 1003]
    assert pts["label"].tolist() == ["gaba", "glutamate", "gaba", "acetylcholine"]
    assert "size" in pts.columns and "ctr_pt_position" not in pts.columns


def test_to_points_split_columns_and_nm_units():
    df = pd.DataFrame({"id": [1, 2], "pt_root_id": [7, 8], "pt_position_x": [1.5, 2], "pt_position_y": [3, 4],
                       "pt_position_z": [5, 6], "cell_type": ["a", "b"]})
    pts = T.to_points(df, None, "pt_position", position_units="nm", label_col="cell_type")
    assert pts["x_nm"].tolist() == [1.5, 2.0] and pts["root_id"].tolist() == [7, 8]
    with pytest.raises(ValueError, match="pass voxel_size_nm"):
        T.to_points(df, None, "pt_position")


def test_to_points_errors_name_the_row():
    df = _cave_synapses()
    df.at[2, "ctr_pt_position"] = [np.nan, 21, 3]
    with pytest.raises(ValueError, match=r"row 2 \(id=102\): x_nm is nan"):
        T.to_points(df, (8, 8, 40))
    with pytest.raises(ValueError, match="empty"):
        T.to_points(_cave_synapses().iloc[:0], (8, 8, 40))
    with pytest.raises(ValueError, match="no label column 'nt'"):
        T.to_points(_cave_synapses(), (8, 8, 40), label_col="nt")
    with pytest.raises(ValueError, match="no position column 'pt_position'"):
        T.to_points(_cave_synapses(), (8, 8, 40), "pt_position")
    dup = _cave_synapses()
    dup.loc[3, "id"] = 100
    with pytest.raises(ValueError, match="row 3: id 100 is not unique"):
        T.to_points(dup, (8, 8, 40))
    bad = _cave_synapses()
    bad.at[1, "ctr_pt_position"] = [1, 2]
    with pytest.raises(ValueError, match="row 1: ctr_pt_position has 2 values"):
        T.to_points(bad, (8, 8, 40))


def _volume():
    # 100 x 100 x 10 voxels of 8 x 8 x 40 nm starting at voxel (0, 0, 0): bounds [0, 800) x [0, 800) x [0, 400) nm
    return ArrayVolume(np.zeros((10, 100, 100), np.uint8), (8, 8, 40))


def test_check_points_inside_and_outside():
    pts = pd.DataFrame({"id": [1, 2, 3], "x_nm": [10.0, 700, 900], "y_nm": [10.0, 700, 10],
                        "z_nm": [10.0, 300, 10]})
    with pytest.warns(UserWarning, match=r"1 of 3 points lie outside.*row 2 \(id=3\)"):
        inside = T.check_points(pts, _volume())
    assert inside.tolist() == [True, True, False]
    with pytest.raises(ValueError, match="row 2 \\(id=3\\)"):
        T.check_points(pts, _volume(), on_outside="raise")


def test_check_points_detects_voxels_labelled_as_nm():
    rng = np.random.default_rng(0)
    vox = rng.uniform(0, [100, 100, 10], size=(50, 3))  # voxel coordinates...
    nm = vox * [8, 8, 40]  # ...in nm. z of voxel coordinates stays inside; x, y mostly outside when read as nm
    wrong = pd.DataFrame({"id": np.arange(50), "x_nm": nm[:, 0] * 8, "y_nm": nm[:, 1] * 8, "z_nm": nm[:, 2] * 40})
    with pytest.raises(ValueError, match="converted to nm twice"):
        T.check_points(wrong, _volume())
    # points in voxels but stored as nm: all inside a big volume when read as nm? build a case where not
    vol = ArrayVolume(np.zeros((10, 100, 100), np.uint8), (8, 8, 40), offset_vox=(50, 50, 5))
    vox = rng.uniform([50, 50, 5], [150, 150, 15], size=(50, 3))
    mixed = pd.DataFrame({"id": np.arange(50), "x_nm": vox[:, 0], "y_nm": vox[:, 1], "z_nm": vox[:, 2]})
    with pytest.raises(ValueError, match="look like voxel coordinates labelled as nm"):
        T.check_points(mixed, vol)
    ok = mixed.assign(x_nm=vox[:, 0] * 8, y_nm=vox[:, 1] * 8, z_nm=vox[:, 2] * 40)
    assert T.check_points(ok, vol).all()
    # a volume starting at voxel 0: voxel coordinates read as nm land inside, crowded in a corner
    vox0 = rng.uniform(0, [100, 100, 10], size=(5, 3))
    corner = pd.DataFrame({"id": np.arange(5), "x_nm": vox0[:, 0], "y_nm": vox0[:, 1], "z_nm": vox0[:, 2]})
    with pytest.raises(ValueError, match="corner of the volume.*voxel coordinates labelled as nm"):
        T.check_points(corner, _volume())
    spread = corner.assign(x_nm=vox0[:, 0] * 8, y_nm=vox0[:, 1] * 8, z_nm=vox0[:, 2] * 40)
    assert T.check_points(spread, _volume()).all()
    one = corner.iloc[:1]  # a single point can sit in the corner legitimately
    assert T.check_points(one, _volume()).all()


def test_check_points_names_the_first_row_outside_and_what_is_wrong():
    # rows 1 and 3 outside; row 1 (id=11) is outside in y only, and would be inside read as voxels
    pts = pd.DataFrame({"id": [10, 11, 12, 13], "x_nm": [10.0, 50.0, 700, 10], "y_nm": [10.0, 900, 700, 10],
                        "z_nm": [10.0, 5, 300, 1e5]})
    with pytest.raises(ValueError, match=r"2 of 4 points lie outside.*first row 1 \(id=11\).*"
                                         r"y_nm=900 is outside \[0, 800\)") as err:
        T.check_points(pts, _volume(), name="synapses", on_outside="raise")
    msg = str(err.value)
    assert msg.startswith("synapses: ") and "x_nm=" not in msg  # only the coordinate that is out of range
    assert "also row 3 (id=13)" in msg
    far = pts.assign(y_nm=[10.0, 9000, 700, 10], z_nm=[10.0, 300, 300, 10])  # row 1 as voxels still outside
    with pytest.raises(ValueError, match=r"row 1 \(id=11\)") as err:
        T.check_points(far, _volume(), on_outside="raise")
    assert "look like voxel coordinates" not in str(err.value)
    # a volume starting at voxel (50, 50, 5): bounds [400, 1200) x [400, 1200) x [200, 600) nm; row 1 holds
    # voxel coordinates (60, 70, 8), outside read as nm, inside times the voxel size
    shifted = ArrayVolume(np.zeros((10, 100, 100), np.uint8), (8, 8, 40), offset_vox=(50, 50, 5))
    near = pd.DataFrame({"id": [10, 11, 12], "x_nm": [500.0, 60, 900], "y_nm": [500.0, 70, 900],
                         "z_nm": [300.0, 8, 500]})
    with pytest.raises(ValueError, match=r"row 1 \(id=11\).*x_nm=60 is outside \[400, 1200\).*"
                                         r"look like voxel coordinates"):
        T.check_points(near, shifted, on_outside="raise")
    assert T.check_points(pts, _volume(), on_outside="ignore").tolist() == [True, False, True, False]
    with pytest.raises(ValueError, match="on_outside"):
        T.check_points(pts, _volume(), on_outside="skip")


def test_check_points_required_columns_and_without_volume():
    pts = pd.DataFrame({"id": [1, 2], "x_nm": [10.0, 20], "y_nm": [10.0, 20], "z_nm": [10.0, 20]})
    assert T.check_points(pts).tolist() == [True, True]  # no volume: the table checks only
    with pytest.raises(ValueError, match=r"cells: missing column\(s\) \['root_id'\]"):
        T.check_points(pts, _volume(), name="cells", required=("root_id",))
    assert T.check_points(pts.assign(root_id=[5, 6]), _volume(), required=("root_id",)).all()
    cave = pd.DataFrame({"id": [1], "ctr_pt_position": [[1, 2, 3]]})
    with pytest.raises(ValueError, match="missing column.*convert with emkit.io.points.to_points"):
        T.check_points(cave)
    with pytest.raises(ValueError, match=r"row 1 \(id=2\): z_nm is nan"):
        T.check_points(pts.assign(z_nm=[1.0, np.nan]))
    with pytest.raises(TypeError, match="DataFrame"):
        T.check_points(pts.to_numpy())


def test_read_table_formats(tmp_path):
    df = pd.DataFrame({"id": [1, 2], "x_nm": [1.0, 2.0], "y_nm": [1.0, 2.0], "z_nm": [1.0, 2.0]})
    df.to_parquet(tmp_path / "a.parquet")
    df.to_csv(tmp_path / "a.csv", index=False)
    df.to_csv(tmp_path / "a.tsv", index=False, sep="\t")
    for name in ("a.parquet", "a.csv", "a.tsv"):
        pd.testing.assert_frame_equal(T.read_table(tmp_path / name), df)
    with pytest.raises(ValueError, match="unknown table format"):
        (tmp_path / "a.foo").write_text("x")
        T.read_table(tmp_path / "a.foo")
    with pytest.raises(FileNotFoundError):
        T.read_table(tmp_path / "none.csv")


def _write_synister(tmp_path):
    synapses = {
        "1": {"x": 100.0, "y": 200.0, "z": 40.0, "skeleton_id": 16, "brain_region": ["MB_CA_R"],
              "splits": {"skeleton": "train", "hemi_lineage": "test"}},
        "2": {"x": 110.0, "y": 210.0, "z": 80.0, "skeleton_id": 430, "brain_region": ["LH_R"],
              "splits": {"skeleton": "test", "hemi_lineage": "train"}},
        "3": {"x": 120.0, "y": 220.0, "z": 120.0, "skeleton_id": 16, "brain_region": ["LH_R"],
              "splits": {"skeleton": "validation", "hemi_lineage": "train"}},
    }
    skeletons = {"16": {"hemi_lineage_id": 1, "nt_known": ["acetylcholine"]},
                 "430": {"hemi_lineage_id": 2, "nt_known": None}}
    hemis = {"1": {"nt_guess": ["acetylcholine"], "hemi_lineage_name": "ALad1"},
             "2": {"nt_guess": None, "hemi_lineage_name": "AOTUv1"}}
    paths = {}
    for name, doc in (("synapses", synapses), ("skeletons", skeletons), ("hemi_lineages", hemis)):
        paths[name] = tmp_path / f"{name}_v3.json"
        paths[name].write_text(json.dumps(doc))
    return paths


def test_synister_join(tmp_path):
    p = _write_synister(tmp_path)
    pts = T.read_synister(p["synapses"], p["skeletons"], p["hemi_lineages"])
    assert pts["id"].tolist() == [1, 2, 3]
    assert pts["label"].tolist() == ["acetylcholine", None, "acetylcholine"]
    assert pts["hemilineage"].tolist() == ["ALad1", "AOTUv1", "ALad1"]
    assert pts["neuron_id"].tolist() == [16, 430, 16]
    assert pts["region"].tolist() == ["MB_CA_R", "LH_R", "LH_R"]
    assert pts["split_skeleton"].tolist() == ["train", "test", "validation"]
    assert pts["z_nm"].tolist() == [40.0, 80.0, 120.0]
    assert len(T.read_synister(p["synapses"], p["skeletons"], labelled_only=True)) == 2
    # a synapse whose skeleton is unknown is named
    bad = json.loads(p["synapses"].read_text())
    bad["9"] = {"x": 1, "y": 1, "z": 1, "skeleton_id": 999}
    with pytest.raises(ValueError, match="synapse 9 .* skeleton 999"):
        T.read_synister(bad, p["skeletons"])
    # mongoexport style (one document per line) reads the same
    lines = "\n".join(json.dumps({"synapse_id": int(k), **v}) for k, v in json.loads(p["synapses"].read_text()).items())
    (tmp_path / "s.jsonl").write_text(lines)
    pd.testing.assert_frame_equal(T.read_synister(tmp_path / "s.jsonl", p["skeletons"], p["hemi_lineages"]), pts)


def test_neuroglancer_points(tmp_path):
    state = {
        "dimensions": {"x": [4e-9, "m"], "y": [4e-9, "m"], "z": [4e-8, "m"]},
        "layers": [
            {"type": "image", "name": "em", "source": "precomputed://gs://x"},
            {"type": "annotation", "name": "syn", "annotations": [
                {"point": [10, 20, 30], "type": "point", "id": "a1", "description": " excitatory "},
                {"point": [11, 21, 31], "type": "point", "id": "a2", "description": "inhibitory"},
                {"pointA": [0, 0, 0], "pointB": [1, 1, 1], "type": "line", "id": "l1"},
            ]},
        ],
    }
    (tmp_path / "state.json").write_text(json.dumps(state))
    pts = T.read_neuroglancer_points(tmp_path / "state.json")
    assert len(pts) == 2 and pts["label"].tolist() == ["excitatory", "inhibitory"]
    np.testing.assert_allclose(pts.loc[0, ["x_nm", "y_nm", "z_nm"]].to_numpy(float), [40, 80, 1200])
    assert pts["annotation_id"].tolist() == ["a1", "a2"]
    layer_only = {"type": "annotation", "annotations": state["layers"][1]["annotations"]}
    with pytest.raises(ValueError, match="pass voxel_size_nm"):
        T.read_neuroglancer_points(layer_only)
    pts2 = T.read_neuroglancer_points(layer_only, voxel_size_nm=(8, 8, 40), label="pn")
    assert pts2["label"].tolist() == ["pn", "pn"] and pts2["x_nm"].tolist() == [80.0, 88.0]


def test_excel_coords(tmp_path):
    df = pd.DataFrame({"Var1": ["syn_a", "syn_b"], "central_coord_1": [10, 20], "central_coord_2": [11, 21],
                       "central_coord_3": [1, 2], "side_1_coord_1": [9, 19], "side_1_coord_2": [11, 21],
                       "side_1_coord_3": [1, 2], "side_2_coord_1": [11, 21], "side_2_coord_2": [11, 21],
                       "side_2_coord_3": [1, 2]})
    df.to_excel(tmp_path / "bbox3.xlsx", index=False)
    pts = T.read_excel_coords(tmp_path / "bbox3.xlsx", (8, 8, 40))
    assert pts["name"].tolist() == ["syn_a", "syn_b"] and (pts["bbox"] == "bbox3").all()
    np.testing.assert_allclose(pts[["x_nm", "y_nm", "z_nm"]].to_numpy(), [[80, 88, 40], [160, 168, 80]])
    np.testing.assert_allclose(pts["side1_x_nm"], [72, 152])
    df.drop(columns=["side_2_coord_3"]).to_excel(tmp_path / "bad.xlsx", index=False)
    with pytest.raises(ValueError, match="side_2_coord_3"):
        T.read_excel_coords(tmp_path / "bad.xlsx", (8, 8, 40))


def test_nt_bbox_label_from_file_name(tmp_path):
    cols = "gt_neurotransmitter,bodyId_pre,bodyId_post,x_pre,y_pre,z_pre,x_post,y_post,z_post\n"
    (tmp_path / "gaba_bbox.csv").write_text(cols + "gaba,1,2,10,10,10,12,10,10\ngaba,1,3,20,20,20,20,22,20\n")
    (tmp_path / "serotonin0.99_bbox.csv").write_text(cols + "serotonin,5,6,0,0,0,2,2,2\n")
    pts = T.read_nt_bbox_synapses(tmp_path)
    assert pts["label"].tolist() == ["gaba", "gaba", "serotonin"]
    np.testing.assert_allclose(pts.loc[0, ["x_nm", "y_nm", "z_nm"]].to_numpy(float), [88, 80, 80])  # midpoint
    assert pts["pre_root_id"].tolist() == [1, 1, 5]
    (tmp_path / "gaba_bbox.csv").write_text(cols + "glutamate,1,2,10,10,10,12,10,10\n")
    with pytest.raises(ValueError, match="row 0: gt_neurotransmitter='glutamate' but the file name says 'gaba'"):
        T.read_nt_bbox_synapses(tmp_path)


def test_read_points_dispatch(tmp_path):
    _cave_synapses().to_parquet(tmp_path / "s.parquet")
    pts = T.read_points(tmp_path / "s.parquet", "cave", voxel_size_nm=(8, 8, 40), label_col="neurotransmitter")
    assert len(pts) == 4 and pts["label"].iloc[0] == "gaba"
    with pytest.raises(ValueError, match="unknown point format"):
        T.read_points(tmp_path / "s.parquet", "nope")


def test_centred_on_moves_the_centre_to_a_partner_and_names_bad_rows():
    syn = pd.DataFrame({"id": [1, 2], "x_nm": [10.0, 20.0], "y_nm": [0.0, 0.0], "z_nm": [40.0, 80.0],
                        "pre_x_nm": [100.0, 200.0], "pre_y_nm": [5.0, 6.0], "pre_z_nm": [120.0, 160.0],
                        "post_x_nm": [-1.0, -2.0], "post_y_nm": [0.0, 0.0], "post_z_nm": [0.0, 0.0]})
    pre = T.centred_on(syn, "pre")
    np.testing.assert_array_equal(pre[["x_nm", "y_nm", "z_nm"]].to_numpy(),
                                  syn[["pre_x_nm", "pre_y_nm", "pre_z_nm"]].to_numpy())
    assert syn["x_nm"].tolist() == [10.0, 20.0]  # the input is not modified
    assert T.centred_on(syn, "post")["x_nm"].tolist() == [-1.0, -2.0]
    assert T.centred_on(syn, "cleft").equals(syn)
    with pytest.raises(ValueError, match="missing column"):
        T.centred_on(syn.drop(columns=["pre_z_nm"]), "pre")
    bad = syn.copy()
    bad.loc[1, "pre_y_nm"] = np.nan
    with pytest.raises(ValueError, match=r"row 1 \(id=2\)"):
        T.centred_on(bad, "pre")
    with pytest.raises(ValueError, match="partner"):
        T.centred_on(syn, "soma")


def test_synapse_axis_is_the_unit_pre_to_post_vector_and_names_bad_rows():
    syn = pd.DataFrame({"id": [1, 2], "pre_x_nm": [0.0, 10.0], "pre_y_nm": [0.0, 10.0], "pre_z_nm": [0.0, 0.0],
                        "post_x_nm": [0.0, 13.0], "post_y_nm": [5.0, 14.0], "post_z_nm": [0.0, 0.0]})
    axis = T.synapse_axis(syn)
    assert np.allclose(axis[["axis_x", "axis_y", "axis_z"]].to_numpy(), [[0, 1, 0], [0.6, 0.8, 0]])
    assert axis["axis_angle_xy_deg"].iloc[0] == pytest.approx(90.0)
    syn.loc[1, "post_x_nm"], syn.loc[1, "post_y_nm"] = 10.0, 10.0
    with pytest.raises(ValueError, match=r"row 1 \(id=2\)"):
        T.synapse_axis(syn)
    with pytest.raises(ValueError, match="missing column"):
        T.synapse_axis(syn.drop(columns=["post_z_nm"]))


def test_tables_reexports_the_point_schema_from_emkit_io_points():
    from emkit.io import points, tables

    for name in points.__all__:
        if name in tables.__all__:
            assert getattr(tables, name) is getattr(points, name), f"tables.{name} is not points.{name}"
    assert {"to_points", "check_points", "centred_on", "validate_points"} <= set(tables.__all__)
