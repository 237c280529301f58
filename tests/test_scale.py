"""Dask scale-out gives the same embeddings as one process."""

import numpy as np
import pandas as pd
import pytest
import torch

from emkit.scale import embed_points, map_points, partition_points


def _double_x(part: pd.DataFrame, factor: float) -> pd.DataFrame:
    return pd.DataFrame({"id": part["id"].to_numpy(), "value": part["x_nm"].to_numpy() * factor})


def _points(n=20):
    rng = np.random.default_rng(0)
    return pd.DataFrame({"id": np.arange(n), "x_nm": rng.uniform(0, 1e4, n), "y_nm": rng.uniform(0, 1e4, n),
                         "z_nm": rng.uniform(0, 1e3, n)})


def test_partition_points_covers_every_row_once():
    pts = _points(23)
    parts = partition_points(pts, 5)
    assert len(parts) == 5
    assert sorted(np.concatenate([p["id"].to_numpy() for p in parts])) == list(range(23))
    with pytest.raises(ValueError, match="empty"):
        partition_points(pts.iloc[:0], 2)


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def test_map_points_runs_on_workers(client):
    pts = _points(20)
    out = map_points(_double_x, pts, npartitions=4, client=client, progress=False, factor=2.0)
    assert len(out) == 20
    merged = out.merge(pts, on="id")
    assert np.allclose(merged["value"], 2 * merged["x_nm"])


def test_embed_points_matches_single_process(client, tmp_path):
    from emkit.cutouts import CutoutDataset, synapse_cube_spec
    from emkit.io.datasets import open_dataset
    from emkit.learn.export import embed
    from emkit.learn.models import build_encoder

    world = open_dataset("synthetic", size="tiny", seed=0)
    pts = world.points("synapses").iloc[:24]
    spec = synapse_cube_spec((16, 16, 16), (16.0, 16.0, 16.0))
    torch.manual_seed(0)
    enc = build_encoder("slim", in_channels=3, voxel_size_nm=(16, 16, 16))
    torch.save(enc.state_dict(), tmp_path / "enc.pt")
    local = embed(enc, CutoutDataset(world, pts, spec, cache=None, progress=False), progress=False)
    distributed = embed_points(pts, dataset="synthetic", dataset_params={"size": "tiny", "seed": 0}, spec=spec,
                               encoder_name="slim", encoder_kwargs={"in_channels": 3, "voxel_size_nm": (16, 16, 16)},
                               state_dict_path=tmp_path / "enc.pt", npartitions=3, client=client, progress=False)
    assert distributed["id"].tolist() == pts["id"].tolist()
    assert np.allclose(distributed.filter(like="emb_").to_numpy(), local.filter(like="emb_").to_numpy(), atol=1e-5)
