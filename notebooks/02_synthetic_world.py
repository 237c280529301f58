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
# # The synthetic EM world
#
# No public EM dataset is reachable from the machines that build this book, and every pipeline needs volumes with
# labels. `emkit.synth` therefore generates a **procedural, seeded 3D EM world whose truth is known**: a neuropil of
# neurite tubes with boutons, synapses and mitochondria, and a layer of cell bodies with nuclei — written like a
# real dataset (neuroglancer precomputed through cloud-volume, 8 × 8 × 40 nm voxels, a mip pyramid; CAVE-style
# tables). Because the truth is known, it doubles as a benchmark for methods.
#
# What carries the class signal, after the published ultrastructure:
#
# - **neurotransmitter** is a property of the presynaptic neuron: vesicle size, density and shape (round vs
#   pleomorphic), dense-core vesicles (aminergic), PSD thickness (asymmetric vs symmetric), cleft width;
# - **cell types** differ in soma and nucleus size and shape, nuclear-envelope infolding, nucleus offset,
#   heterochromatin, perisomatic synapse density; astrocyte- and oligodendrocyte-like glia are included
#   (somata are shrunk ~5–8× to fit a CPU budget; ratios and shapes are kept);
# - **mitochondria** are long tubular, small round, branched or swollen, with cristae texture.
#
# And what makes it honest: each neuron has its own idiosyncrasies (so a random synapse split leaks and a neuron split
# does not), random synapse orientation, crowded neighbours, per-section brightness and contrast drift, noise, blur,
# missing and shifted sections. A **difficulty** knob scales the class differences.

# %% tags=["parameters"]
profile = "default"  # quick | default | full
size = "default"  # the book's world: tiny | default | large
seed = 0
sweep_size = "tiny"  # world size used for the difficulty sweep
sweep_difficulties = [0.0, 0.25, 0.5, 0.75, 1.0]
realism_fov_nm = 2000.0  # field of view of the real-vs-synthetic comparison

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
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from emkit import paths, viz
from emkit.io.datasets import open_dataset
from emkit.results import Recorder
from emkit.synth import realism
from emkit.synth.baseline import baseline_accuracy, difficulty_sweep

rec = Recorder("02_synthetic_world")
world = open_dataset("synthetic", size=size, seed=seed)
truth = json.loads((world.root / "truth.json").read_text())
synapses, cells, mitochondria = (world.points(t) for t in ("synapses", "cells", "mitochondria"))

# %% [markdown]
# ## The class tables
#
# The generator's ground-truth parameters (stored in `truth.json` beside the volumes): the transmitter classes as
# written, and as rendered after the difficulty knob pulled every class towards the mean.

# %%
params = truth["params"]
print(f"difficulty {params['difficulty']}; world {truth['world_nm']} nm (x, y, z); voxels {truth['shape_vox']}")
pd.concat({"as written": pd.DataFrame(params["nt_classes"]).T,
           "rendered": pd.DataFrame(truth["nt_effective_params"]).T}, axis=1).round(2)

# %%
pd.DataFrame(params["cell_types"]).T

# %% [markdown]
# ## Slices with the segmentation layers
#
# One xy plane through the neuropil (top) and one through the cell-body layer (bottom).

# %%
in_neuropil = synapses.iloc[len(synapses) // 3][["x_nm", "y_nm", "z_nm"]].to_numpy(float)
in_somata = cells.iloc[len(cells) // 2][["x_nm", "y_nm", "z_nm"]].to_numpy(float)
for name, center in {"neuropil": in_neuropil, "somata": in_somata}.items():
    fig = viz.show_layers(world, center, size_nm=(4000, 4000))
    fig.suptitle(name, y=1.02)
    rec.savefig(fig, f"layers-{name}")
    plt.show()

# %% [markdown]
# ## Galleries
#
# Synapses by the transmitter of their presynaptic neuron (clefts coloured), cells by type (nuclei coloured),
# mitochondria by class.

# %%
fig = viz.gallery(world, synapses, per_class=6, size_nm=(640, 640), overlay_layer="clefts", seed=seed)
rec.savefig(fig, "gallery-synapses")
plt.show()

# %%
fig = viz.gallery(world, cells, per_class=5, size_nm=(4000, 4000), overlay_layer="nuclei", seed=seed)
rec.savefig(fig, "gallery-cells")
plt.show()

# %%
fig = viz.gallery(world, mitochondria, per_class=6, size_nm=(800, 800), overlay_layer="mitochondria", seed=seed)
rec.savefig(fig, "gallery-mitochondria")
plt.show()

# %% [markdown]
# ## How hard is it? A hand-made baseline against the difficulty knob
#
# The baseline (`emkit.synth.baseline`): intensity percentiles, dark-pixel fractions and vesicle-scale blob
# responses (the Laplacian of Gaussian of each section at five scales) of two 384 × 384 × 200 nm boxes, one on the
# cleft and one on the vesicle cloud of each synapse, and a logistic regression, scored by balanced accuracy under a
# **neuron split** (no neuron in both train and test) and, for contrast, a random synapse split. The gap between the
# two is the leak that synister's split design removes.

# %%
book_world = baseline_accuracy(world.root, seed=seed)
rec.metric("baseline_neuron_split_bacc", book_world["neuron_split"], target=f">{book_world['chance']}",
           description="hand-made features + logistic regression, neuron split, the book's world")
rec.metric("baseline_random_split_bacc", book_world["random_split"],
           description="same, random synapse split (leaks neuron idiosyncrasies)")
rec.metric("baseline_chance", book_world["chance"], description="1 / number of transmitter classes")
pd.Series(book_world)

# %%
sweep = difficulty_sweep(paths.data_dir() / "difficulty-sweep", difficulties=sweep_difficulties, size=sweep_size,
                         seed=seed)
sweep

# %%
fig, ax = plt.subplots(figsize=(5.5, 3.2))
ax.plot(sweep["difficulty"], sweep["neuron_split"], "o-", label="neuron split")
ax.plot(sweep["difficulty"], sweep["random_split"], "s--", label="random split (leaky)")
ax.axhline(sweep["chance"].iloc[0], color="grey", ls=":", label="chance")
ax.axvline(params["difficulty"], color="k", lw=0.8, alpha=0.5, label="the book's world")
ax.set_xlabel("difficulty (0 = class tables as written, 1 = no class signal)")
ax.set_ylabel("balanced accuracy")
ax.set_title(f"hand-made baseline, {sweep_size} worlds")
ax.legend(fontsize=8)
rec.savefig(fig, "difficulty")
plt.show()

# %% [markdown]
# ## Does it look like EM? Synthetic against real tissue
#
# The same field of view of the synthetic neuropil, SNEMI3D (mouse cortex, Kasthuri et al. 2015) and the
# Drosophila VNC ssTEM stack (Cardona et al. 2010), resampled to 8 nm pixels: slices, grey-level histograms,
# radially averaged power spectra and gradient distributions, then a table of texture statistics and distances
# to SNEMI3D.

# %%
def middle_block(dataset, layer="em", depth=8, fov_nm=realism_fov_nm, center_nm=None):
    """A (z, y, x) block of `depth` sections around a centre (default: the volume centre)."""
    vol = dataset.volume(layer)
    lo, hi = vol.bounds_nm()
    center = np.asarray(center_nm if center_nm is not None else (lo + hi) / 2, float)
    shape = (int(fov_nm / vol.voxel_size_nm[0]), int(fov_nm / vol.voxel_size_nm[1]), depth)
    block, _ = vol.cutout(center, shape, units="nm")
    return block, tuple(float(v) for v in vol.voxel_size_nm)


world_nm = np.asarray(truth["world_nm"], float)  # (x, y, z) extent; the neuropil lies beyond the soma layer in y
neuropil_center = (world_nm[0] / 2, (truth["soma_layer_y_nm"] + world_nm[1]) / 2, world_nm[2] / 2)
volumes = {"synthetic": middle_block(world, center_nm=neuropil_center)}
for name in ("snemi3d", "vnc_sstem"):
    try:
        volumes[name] = middle_block(open_dataset(name))
    except FileNotFoundError as err:
        print(f"{name}: not available here ({err})")
fig = realism.plot_realism(volumes, fov_nm=realism_fov_nm)
rec.savefig(fig, "realism")
plt.show()

# %%
comparison = realism.compare_volumes(volumes, reference="snemi3d" if "snemi3d" in volumes else None,
                                     fov_nm=realism_fov_nm, progress=False)
comparison.round(3)

# %%
if "snemi3d" in volumes:
    row = comparison.loc["synthetic"] if "synthetic" in comparison.index else comparison.iloc[0]
    rec.metric("realism_hist_wasserstein_vs_snemi3d", float(row["hist_wasserstein"]), unit="grey levels",
               description="grey-level histogram distance, synthetic vs SNEMI3D")
    rec.metric("realism_log_psd_rms_vs_snemi3d", float(row["log_psd_rms"]), unit="decades",
               description="RMS difference of log power spectra, synthetic vs SNEMI3D")
