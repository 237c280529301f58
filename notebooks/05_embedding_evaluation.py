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
# # Judging the synapse embeddings
#
# The previous chapter trained a SimCLR encoder on synapse cubes without labels. Here the neurotransmitter of the
# presynaptic neuron — known exactly in the synthetic world — is used **for evaluation only**:
#
# - **cluster structure**: silhouette by true class and the Hopkins statistic (seed 003's expectations: silhouette
#   > 0.15, Hopkins > 0.6);
# - **label efficiency**: a linear probe trained on 1 %, 10 % and 100 % of the training labels, against a
#   **supervised reference** (the same encoder trained end to end with all training labels) and the world's
#   **hand-made baseline** (intensity and blob features + logistic regression);
# - a **neuron split**: no presynaptic neuron has synapses in both train and test (synister's design), because each
#   neuron's synapses share idiosyncrasies that a random split would leak.

# %% tags=["parameters"]
profile = "default"  # quick | default | full
size = "default"  # synthetic world: tiny | default | large
seed = 0
encoder_name = "slim"  # must match the training chapter
cube_shape_vox = [56, 56, 12]
cube_voxel_nm = [10.0, 10.0, 40.0]
supervised_steps = 300  # optimizer steps of the supervised reference
batch_size = 32
learning_rate = 1e-3
umap_neighbors = 15
projection = "umap"  # umap | pca (the quick profile uses pca: UMAP compiles for ~35 s per kernel)
device = "auto"

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
from emkit.analysis import evaluate, plots, splits
from emkit.cutouts import CutoutDataset, synapse_cube_spec
from emkit.io.datasets import open_dataset
from emkit.learn.export import embed, read_embeddings
from emkit.learn.models import build_encoder
from emkit.learn.train import TrainConfig, train_supervised
from emkit.results import Recorder
from emkit.synth.baseline import synapse_features

rec = Recorder("05_embedding_evaluation")
torch.manual_seed(seed)

# %%
world = open_dataset("synthetic", size=size, seed=seed)
synapses = world.points("synapses")
run = paths.run_dir(f"ssl-synapses-{size}-s{seed}")
if not (run / "embeddings.parquet").exists():
    raise FileNotFoundError(f"{run / 'embeddings.parquet'} is missing: run the training chapter first "
                            "(emkit book --only 04_ssl_training)")
ssl = read_embeddings(run / "embeddings.parquet")
print(f"{len(ssl)} SSL embeddings from model {ssl.attrs.get('model_id')}")

# %% [markdown]
# ## A neuron split
#
# Whole presynaptic neurons go to train or test, with each class's share as even as possible (a randomized search
# over neuron assignments, after synister).

# %%
synapses["split"] = splits.group_split(synapses, "pre_root_id", fractions=(0.7, 0.3), part_names=("train", "test"),
                                       stratify_col="label", seed=seed)
splits.check_no_leakage(synapses["split"], synapses["pre_root_id"])
splits.split_summary(synapses, synapses["split"], "label", group_col="pre_root_id")

# %% [markdown]
# ## The SSL embedding

# %%
metrics = evaluate.evaluate_embeddings(ssl, synapses, label_col="label", group_col="pre_root_id", split="split",
                                       seed=seed)
pd.DataFrame(metrics).T[["value", "unit", "description"]]

# %% [markdown]
# ## References on the same split
#
# **Supervised**: the same encoder architecture trained end to end with cross-entropy on every training label,
# read out with a linear classifier on its embedding (the supervised model's own head is linear too).
# **Untrained**: the same architecture with random weights — what the architecture gives for free.
# **Hand-made**: the synthetic world's baseline features (intensity percentiles, dark fractions, vesicle-scale
# blob responses) with a logistic regression.

# %%
spec = synapse_cube_spec(tuple(cube_shape_vox), tuple(cube_voxel_nm))
train_rows = synapses[synapses["split"] == "train"]
cubes_all = CutoutDataset(world, synapses, spec, cache=True)
cubes_train = CutoutDataset(world, train_rows, spec, cache=True)

supervised_encoder = build_encoder(encoder_name, in_channels=spec.num_channels, voxel_size_nm=cube_voxel_nm)
sup_history = train_supervised(
    supervised_encoder, cubes_train,
    TrainConfig(objective="supervised", max_steps=supervised_steps, batch_size=batch_size, lr=learning_rate,
                warmup_steps=max(1, supervised_steps // 10), seed=seed, device=device,
                classes=sorted(synapses["label"].unique()),
                augment_supervised={"preset": "geometric", "p_crop": 0.0}),
)
supervised = embed(supervised_encoder, cubes_all, batch_size=64)

torch.manual_seed(seed)
untrained = embed(build_encoder(encoder_name, in_channels=spec.num_channels, voxel_size_nm=cube_voxel_nm),
                  cubes_all, batch_size=64)

features, feature_rows = synapse_features(world.root)
handmade = pd.DataFrame(features, columns=[f"emb_{i}" for i in range(features.shape[1])])
handmade.insert(0, "id", feature_rows["id"].to_numpy())

# %%
ax = plots.loss_curve(sup_history)
ax.set_title("supervised reference: cross-entropy")
plt.show()

# %%
representations = {"SSL (SimCLR)": ssl, "supervised": supervised, "untrained": untrained, "hand-made": handmade}
rows = []
for name, table in representations.items():
    emb = table.set_index("id").loc[synapses["id"]]
    X = evaluate.embedding_matrix(emb.reset_index())
    train_idx = np.flatnonzero(synapses["split"].to_numpy() == "train")
    test_idx = np.flatnonzero(synapses["split"].to_numpy() == "test")
    curve = evaluate.label_budget_curve(X, synapses["label"].to_numpy(), train_idx, test_idx,
                                        fractions=(0.01, 0.1, 1.0), seed=seed)
    for _, r in curve.iterrows():
        rows.append({"representation": name, "label_fraction": r["label_fraction"],
                     "accuracy": r["accuracy"], "balanced_accuracy": r["balanced_accuracy"]})
    rows.append({"representation": name, "label_fraction": "silhouette",
                 "accuracy": evaluate.silhouette(X, synapses["label"].to_numpy())})
comparison = pd.DataFrame(rows)
table = comparison[comparison["label_fraction"] != "silhouette"].pivot_table(
    index="representation", columns="label_fraction", values="accuracy")
table

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, grp in comparison[comparison["label_fraction"] != "silhouette"].groupby("representation"):
    ax.plot(grp["label_fraction"].astype(float) * 100, grp["accuracy"], marker="o", label=name)
ax.set_xscale("log")
ax.set_xlabel("training labels used (%)")
ax.set_ylabel("test accuracy (neuron split)")
ax.axhline(1 / synapses["label"].nunique(), color="grey", ls=":", label="chance")
ax.legend(fontsize=8)
rec.savefig(fig, "label-budget")
plt.show()

# %% [markdown]
# ## UMAP of the SSL embedding, coloured by neurotransmitter

# %%
ax = plots.umap_plot(evaluate.embedding_matrix(ssl.set_index("id").loc[synapses["id"]].reset_index()),
                     synapses["label"].to_numpy(), seed=seed, n_neighbors=umap_neighbors, method=projection)
ax.set_title(f"SSL embedding ({projection.upper()}), true neurotransmitter")
rec.savefig(ax.figure, "umap")
plt.show()

# %% [markdown]
# ## Headline numbers against the targets

# %%
probe10 = table.loc["SSL (SimCLR)", 0.1]
supervised_acc = table.loc["supervised", 1.0]
rec.metric("silhouette_by_class", metrics["silhouette_euclidean"]["value"], target=">0.15",
           description="silhouette of the SSL embedding by true neurotransmitter")
rec.metric("hopkins", metrics["hopkins"]["value"], target=">0.6", description="Hopkins statistic (m = 0.1 n)")
rec.metric("linear_probe_10pct_acc", probe10, description="SSL + linear probe, 10% of train labels, neuron split")
rec.metric("supervised_reference_acc", supervised_acc, description="same encoder trained end to end, all labels")
rec.metric("probe10_over_supervised", probe10 / supervised_acc, target=">=0.9",
           description="label efficiency: 10%-label probe / supervised reference")
rec.metric("handmade_baseline_acc", table.loc["hand-made", 1.0], description="hand-made features + logistic regression")
rec.metric("untrained_encoder_acc", table.loc["untrained", 1.0], description="random-weight encoder + linear probe")
rec.metric("knn_accuracy", metrics["knn_accuracy"]["value"], description="kNN (k=5), neurons grouped")
rec.table()

# %% [markdown]
# ## Reading these numbers
#
# The table above is what this run measured; a ✗ in the book's results page is a target it missed. Three
# comparisons carry the meaning. **Hand-made vs supervised**: if the end-to-end model is below the hand-made features,
# the encoder is under-trained for the task (on the CPU profile it sees the training synapses for a few hundred
# steps; synister trains for hundreds of thousands of iterations) — the label-efficiency target is then measured
# against a weak reference. **SSL vs untrained**: what self-supervision added beyond the architecture's random
# features. **Neuron split**: every number here is on neurons never seen in training; the synthetic-world chapter
# shows how much higher a leaky random split would score. The `full` profile (a GPU, ResNet-18, 5000 steps) is where
# the targets are meant to be judged.
