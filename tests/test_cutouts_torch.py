"""emkit.cutouts torch Dataset and loader (on the cutout tests' toy world)."""

from __future__ import annotations

import pytest
import torch

from emkit.cutouts import CutoutCache, LayerDataset, synapse_cube_spec
from emkit.cutouts.cli import make_toy_world
from emkit.cutouts.torch_dataset import CutoutDataset, make_loader


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    w = make_toy_world(tmp_path_factory.mktemp("toyworld_t"), shape_vox=(128, 128, 16), n_cells=6,
                       n_synapses=8, seed=1)
    return LayerDataset("toy1", w["layers"]), w["synapses"]


def test_dataset_reads_cache_and_matches_on_the_fly(toy, tmp_path):
    ds, syn = toy
    spec = synapse_cube_spec((16, 16, 16), (16, 16, 16))
    cached = CutoutDataset(ds, syn, spec, cache=CutoutCache(tmp_path / "c"), progress=False)
    fly = CutoutDataset(ds, syn, spec, cache=None)
    assert len(cached) == len(syn) == len(fly)
    store = CutoutCache(tmp_path / "c").store("toy1", spec)
    assert len(store) == len(syn)  # precomputed on construction
    for i in (0, len(syn) - 1):
        a, b = cached[i], fly[i]
        assert a["x"].shape == (3, 16, 16, 16) and a["x"].dtype == torch.float32
        assert a["id"] == int(syn["id"].iloc[i]) and a["label"] == "toy"
        assert a["valid"].dtype == torch.bool and a["valid"].shape == (16, 16, 16)
        torch.testing.assert_close(a["x"], b["x"])
    loader = make_loader(cached, batch_size=4, shuffle=True, seed=3)
    batch = next(iter(loader))
    assert batch["x"].shape == (4, 3, 16, 16, 16)
    assert batch["id"].shape == (4,)
    again = next(iter(make_loader(cached, batch_size=4, shuffle=True, seed=3)))
    assert torch.equal(batch["id"], again["id"])  # seeded shuffling


def test_on_the_fly_workers_without_cache(toy):
    ds, syn = toy
    spec = synapse_cube_spec((16, 16, 16), (16, 16, 16))
    dset = CutoutDataset(ds, syn.iloc[:4], spec)
    ids = []
    for batch in make_loader(dset, batch_size=2, num_workers=1, pin_memory=False):
        ids.extend(batch["id"].tolist())
    assert ids == syn["id"].iloc[:4].tolist()  # order kept, one worker process cutting on the fly
    direct = torch.stack([dset[i]["x"] for i in (2, 3)])
    torch.testing.assert_close(batch["x"], direct)
    assert batch["x"][:, 1].sum() > 0  # presynaptic masks present
