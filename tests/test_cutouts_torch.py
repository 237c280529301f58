"""emkit.cutouts torch Dataset and loader (on the synthetic world, tiny, shared by the test session)."""

from __future__ import annotations

import pytest
import torch

from emkit.cutouts import CutoutCache, synapse_cube_spec
from emkit.cutouts.cache import dataset_cache_name
from emkit.cutouts.torch_dataset import CutoutDataset, make_loader
from emkit.io.datasets import open_dataset


@pytest.fixture(scope="module")
def world():
    ds = open_dataset("synthetic", size="tiny", seed=0)
    # 8 synapses spread over the world (every 13th), not only the first bouton's
    return ds, ds.points("synapses").iloc[::13].head(8).reset_index(drop=True)


def test_dataset_reads_cache_and_matches_on_the_fly(world, tmp_path):
    ds, syn = world
    spec = synapse_cube_spec((16, 16, 16), (16, 16, 16))
    cached = CutoutDataset(ds, syn, spec, cache=CutoutCache(tmp_path / "c"), progress=False)
    fly = CutoutDataset(ds, syn, spec, cache=None)
    assert len(cached) == len(syn) == len(fly)
    store = CutoutCache(tmp_path / "c").store(dataset_cache_name(ds), spec)
    assert len(store) == len(syn)  # precomputed on construction
    for i in (0, len(syn) - 1):
        a, b = cached[i], fly[i]
        assert a["x"].shape == (3, 16, 16, 16) and a["x"].dtype == torch.float32
        assert a["id"] == int(syn["id"].iloc[i]) and a["label"] == syn["label"].iloc[i] != ""
        assert a["valid"].dtype == torch.bool and a["valid"].shape == (16, 16, 16)
        torch.testing.assert_close(a["x"], b["x"])
    loader = make_loader(cached, batch_size=4, shuffle=True, seed=3)
    batch = next(iter(loader))
    assert batch["x"].shape == (4, 3, 16, 16, 16)
    assert batch["id"].shape == (4,)
    again = next(iter(make_loader(cached, batch_size=4, shuffle=True, seed=3)))
    assert torch.equal(batch["id"], again["id"])  # seeded shuffling


def test_on_the_fly_workers_without_cache(world):
    ds, syn = world
    spec = synapse_cube_spec((16, 16, 16), (16, 16, 16))
    dset = CutoutDataset(ds, syn.iloc[:4], spec)
    ids = []
    for batch in make_loader(dset, batch_size=2, num_workers=1, pin_memory=False):
        ids.extend(batch["id"].tolist())
    assert ids == syn["id"].iloc[:4].tolist()  # order kept, one worker process cutting on the fly
    direct = torch.stack([dset[i]["x"] for i in (2, 3)])
    torch.testing.assert_close(batch["x"], direct)
    assert batch["x"][:, 1].sum() > 0  # presynaptic masks present
