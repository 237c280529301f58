"""emkit.cutouts torch Dataset and loader (on the synthetic world, tiny, shared by the test session)."""

from __future__ import annotations

import numpy as np
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


def test_in_memory_items_equal_cached_and_on_the_fly(world, tmp_path):
    ds, syn = world
    spec = synapse_cube_spec((16, 16, 16), (16, 16, 16))
    syn = syn.assign(label=[None, *syn["label"].iloc[1:]])  # a row without a label reads as ""
    cached = CutoutDataset(ds, syn, spec, cache=CutoutCache(tmp_path / "c"), progress=False)
    held = CutoutDataset(ds, syn, spec, cache=CutoutCache(tmp_path / "c"), progress=False, in_memory=True)
    held_no_cache = CutoutDataset(ds, syn, spec, cache=None, progress=False, in_memory=True)
    fly = CutoutDataset(ds, syn, spec, cache=None)
    for i in range(len(syn)):
        items = [d[i] for d in (cached, held, held_no_cache, fly)]
        for other in items[1:]:
            assert torch.equal(items[0]["x"], other["x"]) and torch.equal(items[0]["valid"], other["valid"])
            assert (other["id"], other["label"], other["at_border"]) == \
                (items[0]["id"], items[0]["label"], items[0]["at_border"])
    assert held[0]["label"] == "" and held[1]["label"] == syn["label"].iloc[1] != ""
    item = held[2]
    item["x"].zero_()  # items are copies: changing one in place leaves the held set as it was
    assert torch.equal(held[2]["x"], cached[2]["x"]) and cached[2]["x"].abs().sum() > 0


def test_store_reads_rows_appended_after_a_read(world, tmp_path):
    ds, syn = world
    spec = synapse_cube_spec((16, 16, 16), (16, 16, 16))
    cache = CutoutCache(tmp_path / "c")
    from emkit.cutouts import extract_cutouts

    ref = extract_cutouts(ds, syn, spec, progress=False)
    store = cache.store(dataset_cache_name(ds), spec)
    store.append(ref.ids[:3], ref.x[:3], ref.valid[:3], ref.at_border[:3])
    x0, _, _ = store.read_one(ref.ids[0])  # opens the arrays, 3 rows long
    done = store.done()
    done.clear()  # done() hands out a copy
    assert len(store) == 3 and int(ref.ids[0]) in store
    store.append(ref.ids[3:], ref.x[3:], ref.valid[3:], ref.at_border[3:])  # the arrays grow
    x_last, valid_last, border_last = store.read_one(ref.ids[-1])
    np.testing.assert_array_equal(x0, ref.x[0])
    np.testing.assert_array_equal(x_last, ref.x[-1])
    np.testing.assert_array_equal(valid_last, ref.valid[-1])
    assert border_last == bool(ref.at_border[-1]) and len(store) == len(syn)
    x, v, b = store.read(ref.ids[::-1])
    np.testing.assert_array_equal(x, ref.x[::-1])
