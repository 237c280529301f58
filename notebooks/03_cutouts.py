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
# # Cutouts: the cubes every model trains on
#
# Every model in this book sees 3D cutouts around points: synapse cubes, object-masked cutouts, soma cutouts. A
# cutout **spec** says what to cut — output shape, target voxel size, channels, normalization — and
# `emkit.cutouts.extract_cutouts` cuts it for every row of a points table:
#
# - stored anisotropic voxels (8 × 8 × 40 nm here) are resampled to the spec's voxel size from the best mip;
# - points are grouped by storage chunk, so each chunk is read and decoded once (tensorstore issues a batch's
#   reads at once);
# - cutouts are cached in zarr, keyed by dataset, spec and point id: a rerun is instant, an interrupted run resumes;
# - points near the border are padded, with a validity mask and a flag; bad rows raise errors that name the row.

# %% tags=["parameters"]
profile = "default"  # quick | default | full
size = "default"  # synthetic world: tiny | default | large
seed = 0
bench_points = 400  # points in the throughput benchmark

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

from emkit.cutouts import extract_cutouts, object_spec, soma_spec, synapse_cube_spec
from emkit.cutouts.cli import run_benchmark
from emkit.io.datasets import open_dataset
from emkit.results import Recorder
from emkit.viz import cutout_panels

rec = Recorder("03_cutouts")
world = open_dataset("synthetic", size=size, seed=seed)
synapses = world.points("synapses")
cells = world.points("cells")

# %% [markdown]
# ## Three kinds of cutout
#
# **Synapse cubes** (seed 003): the EM, the presynaptic side and the cleft. The presynaptic object is the synapse
# table's `pre_root_id`; when a table has no partners, it is the segment touching the cleft that overlaps the
# vesicle cloud most.

# %%
cube_spec = synapse_cube_spec((32, 32, 32), (16.0, 16.0, 16.0))
examples = synapses.groupby("label").head(1).head(5)
cubes = extract_cutouts(world, examples, cube_spec, progress=False)
fig = cutout_panels(cubes.x, channel_names=cube_spec.channels, titles=list(examples["label"]))
rec.savefig(fig, "synapse-cubes")
plt.show()

# %% [markdown]
# Without partners the vesicle rule finds the same presynaptic object:

# %%
no_partners = synapses.drop(columns=["pre_root_id", "post_root_id"]).head(50)
by_rule = extract_cutouts(world, no_partners, cube_spec, progress=False)
by_table = extract_cutouts(world, synapses.head(50), cube_spec, progress=False)
agreement = float((by_rule.x[:, 1] == by_table.x[:, 1]).all(axis=(1, 2, 3)).mean())
rec.metric("pre_mask_vesicle_rule_agreement", agreement, target=">=0.95",
           description="fraction of synapses whose vesicle-rule presynaptic mask equals the table's pre object")
print(f"presynaptic masks identical for {agreement:.0%} of 50 synapses")

# %% [markdown]
# **Object cutouts** (SegCLR, seed 000): the EM, the mask of the object at the point, and the EM masked by it.
# **Soma cutouts** (seed 002): cell and nucleus masks within a radius of the nucleus centre, at a coarser mip.

# %%
obj_spec = object_spec((32, 32, 32), (32.0, 32.0, 32.0))
objects = extract_cutouts(world, cells.head(4), obj_spec, progress=False)
fig = cutout_panels(objects.x, channel_names=obj_spec.channels, titles=list(cells.head(4)["label"]))
rec.savefig(fig, "object-cutouts")
plt.show()

# %%
somata = extract_cutouts(world, cells.groupby("label").head(1), soma_spec(radius_um=1.6, mip=1), progress=False)
fig = cutout_panels(somata.x, channel_names=("cell", "nucleus"),
                    titles=list(cells.groupby("label").head(1)["label"]))
rec.savefig(fig, "soma-cutouts")
plt.show()

# %% [markdown]
# ## At the border of the volume
#
# A point closer to the border than half a cutout gets a padded cube, a validity mask and `at_border = True` —
# never a crash, never a silently shifted cube.

# %%
lo, hi = world.volume("em").bounds_nm()
corner = pd.DataFrame({"id": [0], "x_nm": [lo[0] + 50.0], "y_nm": [lo[1] + 50.0], "z_nm": [(lo[2] + hi[2]) / 2]})
edge = extract_cutouts(world, corner, synapse_cube_spec((32, 32, 32), (16.0, 16.0, 16.0)), progress=False)
print(f"at_border={bool(edge.at_border[0])}, valid fraction={edge.valid[0].mean():.2f}")
fig, axes = plt.subplots(1, 2, figsize=(5, 2.6))
axes[0].imshow(edge.x[0, 0, 16], cmap="gray")
axes[0].set_title("EM (padded)")
axes[1].imshow(edge.valid[0, 16], cmap="gray")
axes[1].set_title("validity mask")
for ax in axes:
    ax.set_axis_off()
plt.show()

# %% [markdown]
# ## Bad input is named
#
# Coordinates given in voxels where nm are expected, NaNs and points outside the volume fail with the row that is
# wrong:

# %%
in_voxels = synapses.head(5).copy()
in_voxels[["x_nm", "y_nm", "z_nm"]] = in_voxels[["x_nm", "y_nm", "z_nm"]] / world.voxel_size_nm
with_nan = synapses.head(5).copy()
with_nan.loc[with_nan.index[3], "y_nm"] = np.nan
for name, table in {"voxel coordinates labelled as nm": in_voxels, "a NaN": with_nan}.items():
    try:
        extract_cutouts(world, table, cube_spec, progress=False)
    except ValueError as err:
        print(f"{name}:\n  {err}\n")

# %% [markdown]
# ## Throughput: batched engine vs one read per point
#
# The seeds read one cloud-volume cutout per point. On the same points of this world, the batched engine (grouped
# chunk reads through tensorstore) against that naive way — both give identical arrays:

# %%
bench = pd.DataFrame([
    run_benchmark(size=size, seed=seed, n_points=bench_points, shape_vox=32, channels="raw"),
    run_benchmark(size=size, seed=seed, n_points=bench_points, shape_vox=32, channels="raw,pre_mask,cleft_mask"),
])
bench["channels"] = bench["channels"].apply(lambda c: "+".join(c))
bench[["channels", "points", "batched_cutouts_per_s", "naive_cutouts_per_s", "speedup", "max_abs_diff"]]

# %%
fig, ax = plt.subplots(figsize=(5.5, 2.8))
x = np.arange(len(bench))
ax.bar(x - 0.2, bench["naive_cutouts_per_s"], 0.4, label="one read per point (seeds)")
ax.bar(x + 0.2, bench["batched_cutouts_per_s"], 0.4, label="batched, chunk-grouped")
ax.set_xticks(x, bench["channels"])
ax.set_ylabel("cutouts / s (32³)")
ax.legend(fontsize=8)
rec.savefig(fig, "throughput")
plt.show()
rec.metric("cutouts_per_s_batched_raw", bench.loc[0, "batched_cutouts_per_s"], unit="cutouts/s")
rec.metric("cutouts_per_s_naive_raw", bench.loc[0, "naive_cutouts_per_s"], unit="cutouts/s")
rec.metric("cutout_speedup_raw", bench.loc[0, "speedup"], unit="x", target=">1",
           description="batched / naive, raw 32³ cubes, same points")
rec.metric("cutout_speedup_synapse_cubes", bench.loc[1, "speedup"], unit="x", target=">1",
           description="batched / naive, 3-channel synapse cubes")
