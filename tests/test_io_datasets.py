"""emkit.io.datasets: descriptors parse and validate offline; the synthetic world opens through its descriptor."""

from __future__ import annotations

import sys
import types

import numpy as np
import pandas as pd
import pytest
import yaml

from emkit.io import datasets as D

LAYERS = ("em", "cells", "nuclei", "mitochondria", "vesicles", "clefts")
SIZE = (32, 24, 4)  # x, y, z voxels of 8 x 8 x 40 nm


def write_tiny_world(root, seed=0, resolution=(8, 8, 40)):
    """A world in the fixed synthetic layout (precomputed layers, CAVE-style parquet tables, COMPLETE)."""
    from cloudvolume import CloudVolume

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for layer in LAYERS:
        image = layer == "em"
        info = CloudVolume.create_new_info(
            num_channels=1, layer_type="image" if image else "segmentation",
            data_type="uint8" if image else "uint64", encoding="raw", resolution=resolution,
            voxel_offset=(0, 0, 0), chunk_size=(16, 16, 4), volume_size=SIZE)
        cv = CloudVolume(f"file://{root}/{layer}", info=info, compress=False, progress=False)
        cv.commit_info()
        data = rng.integers(0, 255 if image else 5, size=SIZE).astype(np.uint8 if image else np.uint64)
        cv[:, :, :] = data[..., None]
    n = 5
    pos = lambda dx: [[int(4 + i * 5 + dx), 10, 2] for i in range(n)]  # noqa: E731
    pd.DataFrame({"id": np.arange(1, n + 1), "pre_pt_root_id": np.arange(n) + 10, "post_pt_root_id": np.arange(n) + 20,
                  "pre_pt_position": pos(-1), "ctr_pt_position": pos(0), "post_pt_position": pos(1),
                  "neurotransmitter": ["gaba", "acetylcholine"] * 2 + ["glutamate"]}
                 ).to_parquet(root / "synapses.parquet")
    pd.DataFrame({"id": [1, 2], "pt_root_id": [10, 11], "pt_position": [[5, 5, 1], [20, 15, 3]],
                  "soma_pt_position": [[5, 5, 1], [20, 15, 3]], "cell_type": ["pyramidal", "basket"],
                  "ei_class": ["E", "I"]}).to_parquet(root / "cells.parquet")
    pd.DataFrame({"id": [1, 2, 3], "pt_root_id": [10, 10, 11], "pt_position": [[1, 1, 0], [2, 2, 1], [30, 20, 3]],
                  "mito_class": ["round", "elongated", "round"]}).to_parquet(root / "mitochondria.parquet")
    (root / "COMPLETE").write_text("ok\n")


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("EMKIT_DATA", str(tmp_path / "generated"))
    return tmp_path / "generated"


@pytest.mark.parametrize("name", D.list_datasets())
def test_every_descriptor_validates_offline(name):
    desc = D.load_descriptor(name)
    assert D.validate_descriptor(desc) == []
    assert desc["name"] == name
    if desc.get("kind") in ("local", "public"):
        assert len(desc["where_to_get"]) > 40


def test_expected_descriptors_present():
    names = set(D.list_datasets())
    assert {"synthetic", "snemi3d", "vnc_sstem", "microns_minnie65", "h01", "flywire_fafb"} <= names
    minnie = D.load_descriptor("microns_minnie65")
    assert minnie["cave"]["datastack"] == "minnie65_public"
    assert minnie["tables"]["synapses"]["table"] == "synapses_pni_2"
    assert minnie["tables"]["nuclei"]["table"] == "nucleus_detection_v0"
    assert D.load_descriptor("flywire_fafb")["cave"]["datastack"] == "flywire_fafb_public"


def test_validation_lists_problems(tmp_path):
    bad = {"name": "bad", "kind": "public", "voxel_size_nm": [8, 8],
           "layers": {"em": {"uri": "ftp://x", "type": "picture"}, "seg": {"uri": "h5://{nowhere}/a.h5"}},
           "tables": {"t": {"format": "cave_query"}, "u": {"format": "weird", "path": "x"}}}
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError) as err:
        D.validate_descriptor(D.load_descriptor(p))
    msg = str(err.value)
    for needle in ("voxel_size_nm must be 3", "where_to_get", "unknown volume scheme 'ftp'", "type must be one of",
                   "unknown template field(s) ['nowhere']", "cave_query needs cave.datastack", "format 'weird'"):
        assert needle in msg, needle


def test_synthetic_opens_existing_world(data_dir):
    write_tiny_world(data_dir / "synthetic-tiny-s0")
    ds = D.open_dataset("synthetic", size="tiny", seed=0, generate=False)
    assert ds.name == "synthetic" and ds.layers == list(LAYERS)
    assert ds.table_names == ["synapses", "cells", "mitochondria"]
    np.testing.assert_allclose(ds.voxel_size_nm, (8, 8, 40))
    vol = ds.volume("em")
    np.testing.assert_array_equal(vol.shape_vox, SIZE)
    assert ds.volume("clefts").layer_type == "segmentation"
    syn = ds.points("synapses")
    assert syn["label"].tolist() == ["gaba", "acetylcholine", "gaba", "acetylcholine", "glutamate"]
    np.testing.assert_allclose(syn.loc[0, ["x_nm", "y_nm", "z_nm"]].to_numpy(float), [32, 80, 80])
    np.testing.assert_allclose(syn["pre_x_nm"], syn["x_nm"] - 8)
    assert syn["post_root_id"].tolist() == [20, 21, 22, 23, 24]
    cells = ds.points("cells")
    assert cells["label"].tolist() == ["pyramidal", "basket"] and cells["root_id"].tolist() == [10, 11]
    assert cells["soma_x_nm"].tolist() == [40.0, 160.0] and cells["soma_z_nm"].tolist() == [40.0, 120.0]
    assert ds.points("mitochondria")["label"].tolist() == ["round", "elongated", "round"]
    raw = ds.table("synapses")
    assert list(raw["ctr_pt_position"].iloc[0]) == [4, 10, 2]
    from emkit.io.points import check_points

    assert check_points(syn, vol).all()
    text = ds.describe()
    assert "synthetic" in text and "8 × 8 × 40 nm" in text and "| clefts | segmentation |" in text


def test_synthetic_calls_ensure_world_when_incomplete(data_dir, monkeypatch):
    calls = []

    def ensure_world(root, size, seed):
        calls.append((str(root), size, seed))
        write_tiny_world(root, seed=seed)
        return root

    fake = types.ModuleType("emkit.synth")
    fake.ensure_world = ensure_world
    monkeypatch.setitem(sys.modules, "emkit.synth", fake)
    with pytest.raises(FileNotFoundError, match="COMPLETE missing and generate=False"):
        D.open_dataset("synthetic", size="tiny", seed=3, generate=False)
    ds = D.open_dataset("synthetic", size="tiny", seed=3)
    assert calls == [(str(data_dir / "synthetic-tiny-s3"), "tiny", 3)]
    assert ds.root == data_dir / "synthetic-tiny-s3"
    D.open_dataset("synthetic", size="tiny", seed=3)  # complete now: not called again
    assert len(calls) == 1
    with pytest.raises(TypeError, match="unknown parameter"):
        D.open_dataset("synthetic", colour="red")


def test_unknown_names(data_dir):
    with pytest.raises(FileNotFoundError, match="known: "):
        D.open_dataset("no_such_dataset")
    write_tiny_world(data_dir / "synthetic-tiny-s0")
    ds = D.open_dataset("synthetic", generate=False)
    with pytest.raises(KeyError, match="no layer 'axons'"):
        ds.volume("axons")
    with pytest.raises(KeyError, match="no table 'spines'"):
        ds.points("spines")


def test_volume_voxel_size_must_match_descriptor(data_dir):
    write_tiny_world(data_dir / "synthetic-tiny-s0", resolution=(4, 4, 40))
    ds = D.open_dataset("synthetic", generate=False)
    with pytest.raises(ValueError, match=r"mip-0 voxel size \[4.0, 4.0, 40.0\] nm differs from the descriptor's"):
        ds.volume("em")


def test_local_descriptors_resolve_realdata_paths(monkeypatch, tmp_path, data_dir):
    monkeypatch.setenv("EMKIT_REALDATA", str(tmp_path / "rd"))
    ds = D.open_dataset("snemi3d")
    assert ds.descriptor["layers"]["em"]["uri"] == f"h5://{tmp_path}/rd/snemi3d_ac4_train.h5#raw"
    with pytest.raises(FileNotFoundError, match="snemi3d_ac4_train.h5"):
        ds.volume("em")
    pub = D.open_dataset("microns_minnie65")
    assert "minnie65_public" in pub.describe() and pub.volume  # no network touched


def test_cli_lists_and_describes(capsys, data_dir):
    from emkit.cli import main

    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "snemi3d" in out and "microns_minnie65" in out and "INVALID" not in out
    assert main(["describe", "synthetic", "--param", "seed=1"]) == 0  # describing generates nothing
    out = capsys.readouterr().out
    assert "synthetic-tiny-s1" in out and "| synapses (synapses.parquet) | cave | ctr_pt_position |" in out
    assert not (data_dir / "synthetic-tiny-s1").exists()
    assert main(["describe", "all"]) == 0
    out = capsys.readouterr().out
    assert out.count("### ") == len(D.list_datasets()) and "**Where to get it:**" in out
