# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Self-supervised embeddings on real EM: SNEMI3D neurons
#
# The same encoder, augmentations and training loop, on real tissue: the SNEMI3D training volume (Kasthuri et al.
# 2015, mouse somatosensory cortex, 6 × 6 × 30 nm) with its dense neuron segmentation. As in SegCLR (Dorkenwald
# et al. 2023), each cutout has three channels — the EM image, the mask of the object at the centre, and the
# EM masked by it — and is embedded without any label.
#
# The question: **do cutouts of the same neuron land together?** Measured by same-object retrieval (of each
# cutout's k nearest neighbours, the fraction from the same neuron) against chance and against the untrained
# encoder.

# %% tags=["parameters"]
profile = "default"  # quick | default | full
dataset = "snemi3d"  # a descriptor in data/ with `em` and a neuron segmentation layer
segmentation_layer = "neurons"
n_objects = 24  # largest neurons to sample
per_object = 24  # cutouts per neuron
cutout_shape_vox = [32, 32, 32]  # (x, y, z)
cutout_voxel_nm = [24.0, 24.0, 30.0]  # (x, y, z) nm
encoder_name = "slim"
steps = 150
batch_size = 32
learning_rate = 1e-3
temperature = 0.1
seed = 0
device = "auto"
channels_last = True  # channels_last_3d memory format: GPU speed-up; on CPU (fp32) ~1.15x for the slim encoder
projection = "umap"  # umap | pca (the quick profile uses pca: UMAP compiles for ~35 s per kernel)

# %% tags=["remove-cell"]
# Colab only: install emkit and fetch the repository (Colab ignores environment files).
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess

    subprocess.run(["git", "clone", "--depth", "1", "https://github.com/emkit-dev/emkit", "/content/emkit"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/emkit"], check=True)
    os.chdir("/content/emkit")

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from emkit import paths
from emkit.analysis import evaluate, plots
from emkit.cutouts import CutoutDataset, object_spec
from emkit.io.datasets import open_dataset
from emkit.io.sampling import sample_object_points
from emkit.learn.export import embed, write_embeddings
from emkit.learn.models import build_encoder
from emkit.learn.train import TrainConfig, train_ssl
from emkit.results import Recorder
from emkit.viz import cutout_panels, neighbour_gallery

rec = Recorder("06_real_em_embeddings")
torch.manual_seed(seed)

# %% [markdown]
# ## Cutout locations
#
# SNEMI3D has no point table, so locations are drawn inside the largest neurons, half a cutout away from the
# volume border.

# %%
real = open_dataset(dataset)
neurons = real.volume(segmentation_layer)
spec = object_spec(tuple(cutout_shape_vox), tuple(cutout_voxel_nm), layers={"cells": segmentation_layer})
half_extent_nm = np.asarray(cutout_shape_vox) * np.asarray(cutout_voxel_nm) / 2
margin = np.ceil(half_extent_nm / neurons.voxel_size_nm).astype(int)
points = sample_object_points(neurons, n_objects=n_objects, per_object=per_object, margin_vox=margin, seed=seed)
print(f"{len(points)} cutouts from {points['root_id'].nunique()} neurons; field of view "
      f"{tuple(int(v) for v in 2 * half_extent_nm)} nm (x, y, z)")

# %%
cutouts = CutoutDataset(real, points, spec, cache=True, label_column="root_id", in_memory=True)  # read every step
fig = cutout_panels([cutouts[i * per_object]["x"].numpy() for i in range(4)], channel_names=spec.channels,
                    titles=[f"neuron {points['root_id'].iloc[i * per_object]}" for i in range(4)])
rec.savefig(fig, "cutouts")
plt.show()

# %% [markdown]
# ## Training without labels

# %%
encoder = build_encoder(encoder_name, in_channels=spec.num_channels, voxel_size_nm=cutout_voxel_nm)
untrained = embed(encoder, cutouts, batch_size=64, channels_last=channels_last)
run = paths.run_dir(f"ssl-{dataset}-s{seed}")
history = train_ssl(encoder, cutouts, TrainConfig(
    objective="simclr", max_steps=steps, batch_size=batch_size, lr=learning_rate, warmup_steps=max(1, steps // 10),
    temperature=temperature, seed=seed, device=device, augment="segclr", channels_last=channels_last,
    log_dir=str(run / "tensorboard")))
trained = embed(encoder, cutouts, batch_size=64, channels_last=channels_last)
write_embeddings(trained, run / "embeddings.parquet", model_id=f"simclr-{encoder_name}-{dataset}-s{seed}", spec=spec)

# %%
ax = plots.loss_curve(history)
ax.set_title(f"SimCLR on {dataset}: NT-Xent loss")
rec.savefig(ax.figure, "loss")
plt.show()

# %% [markdown]
# ## Do cutouts of the same neuron land together?

# %%
objects = points.set_index("id").loc[trained["id"], "root_id"].to_numpy()
chance = float(((points.groupby("root_id").size() - 1) / (len(points) - 1)).mean())
rows = {}
for name, table in {"SimCLR": trained, "untrained encoder": untrained}.items():
    rows[name] = evaluate.same_object_retrieval(evaluate.embedding_matrix(table), objects, k=5, seed=seed)
retrieval = pd.DataFrame(rows).T[["precision_at_k", "top1", "mean_average_precision"]]
retrieval.loc["chance"] = [chance, chance, np.nan]
retrieval

# %%
top = points["root_id"].value_counts().index[:10]
show = np.isin(objects, top)
ax = plots.umap_plot(evaluate.embedding_matrix(trained)[show], objects[show].astype(str), seed=seed,
                     n_neighbors=min(15, int(show.sum()) - 1), method=projection)
ax.set_title(f"{dataset}: SimCLR embedding ({projection.upper()}), 10 neurons")
rec.savefig(ax.figure, "umap")
plt.show()

# %% [markdown]
# Five cutouts drawn at random and their five nearest cutouts in the SimCLR embedding (xy slices of the raw EM
# through each cutout's centre). A neighbour's title is its neuron, green when it is the query's.

# %%
queries = np.random.default_rng(seed).choice(len(points), size=5, replace=False)
near = evaluate.nearest_neighbours(evaluate.embedding_matrix(trained), queries, k=5)
in_order = points.set_index("id").loc[trained["id"]].reset_index()  # rows as the embedding's
fig = neighbour_gallery(real, in_order, queries, near, label_col="root_id", title="SimCLR", label_name="neuron",
                        size_nm=tuple(np.asarray(cutout_shape_vox[:2]) * np.asarray(cutout_voxel_nm[:2])))
rec.savefig(fig, "neighbours")
plt.show()

# %%
rec.metric("real_retrieval_precision_at_5", retrieval.loc["SimCLR", "precision_at_k"],
           description=f"{dataset}: same-neuron fraction of the 5 nearest cutouts (SimCLR)")
rec.metric("real_retrieval_untrained_precision_at_5", retrieval.loc["untrained encoder", "precision_at_k"],
           description=f"{dataset}: same, untrained encoder")
rec.metric("real_retrieval_chance", chance, description="same-neuron fraction expected by chance")
rec.metric("real_ssl_samples_per_s", float(history["samples_per_s"].iloc[len(history) // 5:].median()),
           unit="samples/s", description="training throughput on the real cutouts")
