"""Scaling out with Dask: the same per-point work, split into partitions of a points table, run on many workers.

Training on several GPUs uses ``torchrun`` (see :mod:`emkit.learn.train`); this module covers the embarrassingly
parallel half — cutouts, features and prediction over millions of points — with ``dask.distributed``. A task
receives only a partition of the points table and small, picklable arguments (the dataset's *name and parameters*,
a checkpoint *path*), opens what it needs itself, and returns a DataFrame; the results are concatenated in the
order of the input.

Locally ``client=None`` starts a ``LocalCluster`` (processes); on a cluster pass a ``distributed.Client`` connected
to its scheduler (dask-jobqueue, dask-kubernetes, ...).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd


def partition_points(points: pd.DataFrame, npartitions: int, *, spatial: bool = True) -> list[pd.DataFrame]:
    """Split a points table into ``npartitions`` parts, spatially sorted so that each part reads few chunks.

    Parameters
    ----------
    points : DataFrame in the point schema (``x_nm``, ``y_nm``, ``z_nm``).
    npartitions : int
        Number of parts (at most ``len(points)``).
    spatial : bool
        Sort by (z, y, x) position first (neighbouring points share storage chunks).
    """
    if points.empty:
        raise ValueError("partition_points: the points table is empty")
    if npartitions < 1:
        raise ValueError(f"npartitions must be >= 1, got {npartitions}")
    order = np.lexsort((points["x_nm"], points["y_nm"], points["z_nm"])) if spatial else np.arange(len(points))
    return [points.iloc[idx] for idx in np.array_split(order, min(npartitions, len(points))) if len(idx)]


def map_points(func: Callable[..., pd.DataFrame], points: pd.DataFrame, *, npartitions: int = 8, client=None,
               n_workers: int = 2, progress: bool = True, **kwargs) -> pd.DataFrame:
    """Run ``func(partition, **kwargs) -> DataFrame`` on every partition of ``points`` with Dask; concatenate.

    Parameters
    ----------
    func : callable
        Importable (module-level) function; it must open datasets/models itself from ``kwargs``.
    points : DataFrame
        The work list.
    npartitions : int
        Tasks to create.
    client : distributed.Client, optional
        Where to run; None starts (and closes) a local cluster of ``n_workers`` processes.
    n_workers : int
        Workers of the local cluster.
    progress : bool
        Show a progress bar over finished partitions.

    Returns
    -------
    DataFrame
        The partitions' results in the order of ``points``' partitions (spatial order).
    """
    from dask.distributed import Client, LocalCluster, as_completed
    from tqdm.auto import tqdm

    parts = partition_points(points, npartitions)
    own = client is None
    if own:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
    try:
        futures = [client.submit(func, part, pure=False, **kwargs) for part in parts]
        index = {f.key: i for i, f in enumerate(futures)}
        results: list[pd.DataFrame | None] = [None] * len(futures)
        for future in tqdm(as_completed(futures), total=len(futures), desc="dask partitions", disable=not progress):
            results[index[future.key]] = future.result()  # re-raises a task's error with its traceback
    finally:
        if own:
            client.close()
            cluster.close()
    return pd.concat(results, ignore_index=True)


def embed_partition(points: pd.DataFrame, *, dataset: str, dataset_params: dict, spec, encoder_name: str,
                    encoder_kwargs: dict, state_dict_path: str, batch_size: int = 64) -> pd.DataFrame:
    """One Dask task of :func:`embed_points`: cut, embed and return ``id`` + ``emb_*`` for a partition.

    Runs on the CPU of the worker (or its GPU when it has one).
    """
    import torch

    from emkit.cutouts import CutoutDataset
    from emkit.io.datasets import open_dataset
    from emkit.learn.export import embed
    from emkit.learn.models import build_encoder

    torch.set_num_threads(1)
    ds = open_dataset(dataset, **dataset_params)
    encoder = build_encoder(encoder_name, **encoder_kwargs)
    encoder.load_state_dict(torch.load(state_dict_path, map_location="cpu", weights_only=True))
    cutouts = CutoutDataset(ds, points, spec, cache=None, progress=False)
    return embed(encoder, cutouts, batch_size=batch_size, progress=False)


def embed_points(points: pd.DataFrame, *, dataset: str, dataset_params: dict | None = None, spec,
                 encoder_name: str, encoder_kwargs: dict, state_dict_path, npartitions: int = 8, client=None,
                 n_workers: int = 2, batch_size: int = 64, progress: bool = True) -> pd.DataFrame:
    """Embeddings of every point with a trained encoder, computed by Dask workers (prediction at scale).

    Parameters
    ----------
    points : DataFrame in the point schema.
    dataset, dataset_params : the dataset descriptor name and its parameters (workers reopen it).
    spec : emkit.cutouts.CutoutSpec
    encoder_name, encoder_kwargs : how to rebuild the encoder (``emkit.learn.models.build_encoder``).
    state_dict_path : path of the encoder's ``state_dict`` (``torch.save(encoder.state_dict(), path)``).
    npartitions, client, n_workers, progress : see :func:`map_points`.

    Returns
    -------
    DataFrame ``id``, ``emb_0..`` in the order of ``points``.
    """
    out = map_points(embed_partition, points, npartitions=npartitions, client=client, n_workers=n_workers,
                     progress=progress, dataset=dataset, dataset_params=dict(dataset_params or {}), spec=spec,
                     encoder_name=encoder_name, encoder_kwargs=dict(encoder_kwargs),
                     state_dict_path=str(state_dict_path), batch_size=batch_size)
    order = pd.Series(np.arange(len(points)), index=points["id"].to_numpy())
    return out.iloc[np.argsort(order.loc[out["id"]].to_numpy(), kind="stable")].reset_index(drop=True)
