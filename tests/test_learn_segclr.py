import hashlib
import zipfile

import numpy as np
import pytest

from emkit.learn.segclr import SegCLRReader, md5_shard, parse_segclr_csv, read_segclr_zip, write_segclr_shard


def test_md5_shard_matches_the_release_definition():
    sid = 864691135591041291
    # connectomics/common/sharding.py: md5 of the id as little-endian bytes, digest read little-endian, mod shards
    for width, shards in ((8, 50_000), (64, 10_000)):
        expect = int.from_bytes(hashlib.md5(sid.to_bytes(width, "little")).digest(), "little") % shards
        assert md5_shard(sid, shards, width) == expect
    assert md5_shard(sid, 10_000, 64) != md5_shard(sid, 10_000, 8)  # the bytewidth matters


def test_read_a_shard_written_in_release_layout(tmp_path):
    rng = np.random.default_rng(0)
    sids = [864691135591041291, 864691134928303015, 17]
    E = {s: rng.normal(size=(3 + i, 64)).astype(np.float32) for i, s in enumerate(sids)}
    P = {s: rng.integers(0, 10**6, size=(3 + i, 3)).astype(float) for i, s in enumerate(sids)}
    N = {s: np.arange(3 + i) + 2**60 for i, s in enumerate(sids)}  # node ids beyond float64 precision
    write_segclr_shard(tmp_path, E, P, N, num_shards=4, bytewidth=64)
    # raw format check: header-less node_id,x,y,z,emb... rows in {segment_id}.csv inside {shard}.zip
    zpath = tmp_path / f"{md5_shard(sids[0], 4, 64)}.zip"
    with zipfile.ZipFile(zpath) as z:
        first = z.read(f"{sids[0]}.csv").decode().splitlines()[0].split(",")
    assert len(first) == 4 + 64 and int(first[0]) == 2**60

    reader = SegCLRReader(tmp_path, num_shards=4, bytewidth=64)
    df = reader.read(sids)
    assert set(df["root_id"]) == set(sids)
    for s in sids:
        part = df[df.root_id == s]
        np.testing.assert_array_equal(part[[f"emb_{i}" for i in range(64)]].to_numpy(), E[s])
        np.testing.assert_array_equal(part[["x_nm", "y_nm", "z_nm"]].to_numpy(), P[s])
        assert part["node_id"].tolist() == N[s].tolist()
    whole = read_segclr_zip(zpath)
    assert sids[0] in set(whole["root_id"])
    with pytest.raises(KeyError, match="no 5.csv"):
        read_segclr_zip(zpath, [5])
    # releases embed only some segments: skip the absent ones (not in their shard, or no shard file) and name them
    skipped = read_segclr_zip(zpath, [5, sids[0]], missing="skip")
    assert set(skipped["root_id"]) == {sids[0]} and skipped.attrs["missing"] == [5]
    absent = next(s for s in range(1000, 2000) if md5_shard(s, 4, 64) not in {md5_shard(t, 4, 64) for t in sids})
    partial = reader.read([sids[1], absent, 5], missing="skip")
    assert set(partial["root_id"]) == {sids[1]} and partial.attrs["missing"] == sorted([absent, 5])
    with pytest.raises(FileNotFoundError, match=f"segment\\(s\\) \\[{absent}\\]"):
        reader.read([absent])
    with pytest.raises(ValueError, match="missing must be"):
        reader.read(sids, missing="ignore")


def test_voxel_coordinates_convert_to_nm_and_bad_rows():
    text = "1,10,20,3,0.5,0.25\n2,11,20,3,0.1,0.2\n"
    df = parse_segclr_csv(text, 7, coord_unit="vox", voxel_size_nm=(8, 8, 33))
    assert df[["x_nm", "y_nm", "z_nm"]].iloc[0].tolist() == [80.0, 160.0, 99.0]
    assert list(df.columns[-2:]) == ["emb_0", "emb_1"] and (df["root_id"] == 7).all()
    assert "x_vox" in parse_segclr_csv(text, coord_unit="vox").columns
    with pytest.raises(ValueError, match=r"shard.zip:7.csv"):
        parse_segclr_csv("1,2,3,x,5\n", 7, source="shard.zip:7.csv")
    with pytest.raises(ValueError, match="node_id=2"):
        parse_segclr_csv("1,1,1,1,0.5\n2,1,1,1,0.7\n")
