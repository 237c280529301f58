import json
import os
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from emkit.learn.export import aggregate_embeddings, embed, read_embeddings, write_embeddings
from emkit.learn.models import build_encoder
from emkit.learn.train import RandomCutoutDataset


class _WithInvalid(RandomCutoutDataset):
    def __getitem__(self, i):
        s = super().__getitem__(i)
        s["valid"] = torch.full(self.shape[1:], i != 2)  # per-voxel, as emkit.cutouts yields it
        return s


def test_embed_shapes_ids_and_eval_mode():
    torch.manual_seed(0)
    enc = build_encoder("slim", 1, widths=(4, 8, 8, 16))
    ds = _WithInvalid(n=7, shape=(1, 8, 16, 16))
    df = embed(enc, ds, batch_size=3, progress=False)
    assert list(df.columns) == ["id"] + [f"emb_{i}" for i in range(16)]
    assert df["id"].tolist() == [1000, 1001, 1003, 1004, 1005, 1006]
    assert df.attrs["n_invalid"] == 1
    assert enc.training  # mode restored
    # eval mode: a sample's embedding does not depend on its batch mates
    one = embed(enc, torch.utils.data.Subset(ds, [4]), batch_size=1, progress=False)
    np.testing.assert_allclose(one.iloc[0, 1:].to_numpy(float), df[df.id == 1004].iloc[0, 1:].to_numpy(float),
                               rtol=1e-5, atol=1e-6)



def test_embed_channels_last_converts_the_encoder_and_agrees_with_contiguous():
    torch.manual_seed(0)
    enc = build_encoder("slim", 1, widths=(4, 8, 8, 16))
    ds = RandomCutoutDataset(n=5, shape=(1, 8, 16, 16))
    plain = embed(enc, ds, batch_size=2, progress=False)
    # a kernel with several input channels and a spatial extent: for (C_out, 1, ...) both layouts coincide
    conv = next(m for m in enc.modules() if isinstance(m, torch.nn.Conv3d) and m.in_channels > 1
                and m.kernel_size[-1] > 1)
    assert not conv.weight.is_contiguous(memory_format=torch.channels_last_3d)
    fast = embed(enc, ds, batch_size=2, progress=False, channels_last=True)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last_3d)  # the weights too, not only the batch
    assert fast["id"].tolist() == plain["id"].tolist()
    np.testing.assert_allclose(fast.iloc[:, 1:].to_numpy(float), plain.iloc[:, 1:].to_numpy(float),
                               rtol=1e-4, atol=1e-5)

def _emb_df(n=5, d=4, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, d)).astype(np.float32), columns=[f"emb_{i}" for i in range(d)])
    df.insert(0, "id", np.arange(n, dtype=np.int64)[::-1] + 10)
    return df


def test_write_is_keyed_idempotent_and_carries_model_and_spec(tmp_path):
    p = tmp_path / "emb.parquet"
    df = _emb_df()
    spec = {"shape_vox": [32, 32, 32], "voxel_size_nm": [8, 8, 40]}
    write_embeddings(df, p, model_id="simclr-slim-v1", spec=spec)
    first = p.read_bytes()
    mtime = os.stat(p).st_mtime_ns
    write_embeddings(df.sample(frac=1, random_state=1), p, model_id="simclr-slim-v1", spec=spec)  # same content
    assert p.read_bytes() == first and os.stat(p).st_mtime_ns == mtime
    back = read_embeddings(p)
    assert back["id"].tolist() == sorted(df["id"])  # keyed and sorted by point id
    assert (back["model_id"] == "simclr-slim-v1").all()
    assert json.loads(back["spec"].iloc[0]) == spec and back.attrs["model_id"] == "simclr-slim-v1"
    np.testing.assert_array_equal(back.set_index("id").loc[df["id"], "emb_0"].to_numpy(), df["emb_0"].to_numpy())


def test_upsert_and_errors(tmp_path):
    p = tmp_path / "emb.parquet"
    df = _emb_df()
    write_embeddings(df, p, "m", spec={"a": 1})
    new = _emb_df(n=2, seed=5)
    new["id"] = [10, 99]
    write_embeddings(new, p, "m", spec={"a": 1}, mode="upsert")
    back = read_embeddings(p)
    assert sorted(back["id"]) == sorted(set(df["id"]) | {99})
    assert back.set_index("id").loc[10, "emb_0"] == pytest.approx(new["emb_0"].iloc[0])
    with pytest.raises(ValueError, match="cannot upsert"):
        write_embeddings(new, p, "other", spec={"a": 1}, mode="upsert")
    dup = pd.concat([df, df.iloc[:1]])
    with pytest.raises(ValueError, match=r"duplicate point id.*id=14"):
        write_embeddings(dup, tmp_path / "x.parquet", "m")
    bad = df.copy()
    bad.loc[2, "emb_1"] = np.nan
    with pytest.raises(ValueError, match=r"row 2 \(id=12\)"):
        write_embeddings(bad, tmp_path / "y.parquet", "m")


def test_segclr_radius_aggregation():
    # object 1: three nodes on a line 6 um apart; object 2 sits on top of object 1's first node
    df = pd.DataFrame({
        "id": [1, 2, 3, 4],
        "root_id": [1, 1, 1, 2],
        "x_nm": [0.0, 6000.0, 12000.0, 0.0], "y_nm": 0.0, "z_nm": 0.0,
        "emb_0": [0.0, 3.0, 6.0, 100.0], "emb_1": [1.0, 1.0, 1.0, -1.0],
    })
    out = aggregate_embeddings(df, radius_nm=10_000, progress=False)
    # node 1 sees nodes 1,2 (12 um is too far); node 2 sees all three of its object; object 2 only itself
    assert out["emb_0"].tolist() == pytest.approx([1.5, 3.0, 4.5, 100.0])
    assert out["n_aggregated"].tolist() == [2, 3, 2, 1]
    assert out["emb_1"].tolist() == pytest.approx([1, 1, 1, -1])
    big = aggregate_embeddings(df, radius_nm=25_000, progress=False)
    assert big["emb_0"].tolist() == pytest.approx([3.0, 3.0, 3.0, 100.0])
    bad = df.copy()
    bad.loc[2, "x_nm"] = np.nan
    with pytest.raises(ValueError, match=r"row 2 \(id=3\)"):
        aggregate_embeddings(bad, progress=False)


def test_aggregate_wide_table_keeps_columns_and_does_not_fragment():
    rng = np.random.default_rng(0)
    n, d = 50, 128  # the book's embeddings are 128-d
    df = pd.DataFrame({"id": np.arange(n), "root_id": rng.integers(0, 5, n), "x_nm": rng.uniform(0, 5e4, n),
                       "y_nm": 0.0, "z_nm": 0.0})
    df = df.join(pd.DataFrame(rng.normal(size=(n, d)).astype(np.float32), columns=[f"emb_{i}" for i in range(d)]))
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.PerformanceWarning)
        out = aggregate_embeddings(df, radius_nm=1e9, progress=False)
    assert list(out.columns) == [*df.columns, "n_aggregated"]
    assert (out.dtypes[[f"emb_{i}" for i in range(d)]] == np.float32).all()
    means = df.groupby("root_id")[[f"emb_{i}" for i in range(d)]].transform("mean")
    np.testing.assert_allclose(out[means.columns].to_numpy(), means.to_numpy(), rtol=1e-5, atol=1e-6)


class _Fixed(torch.utils.data.Dataset):
    def __init__(self, x):
        self.x = x

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "id": i}


def test_embed_averaged_over_symmetries_is_invariant_to_them():
    from emkit.learn.export import _transformed

    torch.manual_seed(0)
    enc = build_encoder("slim", 2, widths=(4, 8, 8, 16))
    x = torch.randn(3, 2, 6, 12, 12)
    turned = torch.stack([_transformed(x[i:i + 1], i + 1, i == 1, i != 0)[0] for i in range(3)])

    def emb(data, symmetries):
        return embed(enc, _Fixed(data), batch_size=2, progress=False, symmetries=symmetries).iloc[:, 1:].to_numpy()

    plain, plain_turned = emb(x, "none"), emb(turned, "none")
    assert np.abs(plain - plain_turned).max() > 1e-3  # a random encoder is not invariant by itself
    np.testing.assert_allclose(emb(x, "plane_z"), emb(turned, "plane_z"), rtol=1e-4, atol=1e-5)
    # "plane" covers the quarter-turns and mirrorings: row 0 (a quarter-turn, no z reversal) agrees
    np.testing.assert_allclose(emb(x, "plane")[0], emb(turned, "plane")[0], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="symmetries must be"):
        emb(x, "cube")
    with pytest.raises(ValueError, match="square"):
        emb(torch.randn(2, 2, 6, 12, 10), "plane")
