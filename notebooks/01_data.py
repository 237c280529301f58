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
# # The data
#
# Every chapter reads its data through one layer, `emkit.io`: a **dataset descriptor** (a small YAML file in `data/`)
# names the volumes (EM image and segmentations) and the annotation tables (synapses, cells, mitochondria) of a
# dataset, with their voxel sizes and position units. `open_dataset(name)` returns an object whose `volume(layer)`
# and `points(table)` are the same for the synthetic world, a local HDF5 sample or a public dataset in the cloud.
#
# Conventions used everywhere: coordinates are **(x, y, z)** and every coordinate carries its unit (`_nm` or `_vox`);
# arrays are **(z, y, x)**; annotation positions are converted to **nm** when read.

# %% tags=["parameters"]
profile = "default"  # quick | default | full
size = "default"  # synthetic world size: tiny | default | large
seed = 0  # synthetic world seed

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
import pandas as pd

from emkit import viz
from emkit.io import datasets
from emkit.results import Recorder

rec = Recorder("01_data")

# %% [markdown]
# ## The datasets this book knows
#
# Each row is one descriptor in `data/`. The synthetic world is the default: it is generated on first use into
# `data/generated/` (or `$EMKIT_DATA`). The real samples are read from `../shared/realdata/` (or
# `$EMKIT_REALDATA`); the public datasets need a machine that is online.

# %%
catalog = datasets.list_datasets()
catalog

# %% [markdown]
# ## The synthetic EM world
#
# A procedural world with known ground truth, written exactly like a real dataset: neuroglancer precomputed volumes
# (through cloud-volume, `file://`) with anisotropic 8 × 8 × 40 nm voxels and a mip pyramid, and CAVE-style tables
# (parquet) whose positions are voxel triplets at mip 0, as CAVE returns them. The next chapter shows how it is made.

# %%
world = datasets.open_dataset("synthetic", size=size, seed=seed)
print(world.describe())

# %%
layers = pd.DataFrame(
    [
        {
            "layer": name,
            "type": world.volume(name).layer_type,
            "dtype": str(world.volume(name).dtype),
            "voxel size (nm)": tuple(float(v) for v in world.volume(name).voxel_size_nm),
            "size (vox)": tuple(int(v) for v in world.volume(name).shape_vox),
            "mips": len(world.volume(name).mip_voxel_sizes_nm),
        }
        for name in world.layers
    ]
)
layers

# %% [markdown]
# ### Tables
#
# Stored as CAVE does (`pre_pt_root_id`, `ctr_pt_position` in voxels, ...); `points()` converts them to the one
# point schema every later chapter uses: `id`, `x_nm`, `y_nm`, `z_nm`, partner positions and ids, `label`, and
# grouping columns.

# %%
synapses = world.points("synapses")
cells = world.points("cells")
mitochondria = world.points("mitochondria")
world.table("synapses").head(3)

# %%
synapses.head(3)

# %%
counts = pd.DataFrame(
    {
        "synapses by neurotransmitter": synapses["label"].value_counts(),
        "cells by type": cells["label"].value_counts(),
        "mitochondria by class": mitochondria["label"].value_counts(),
    }
).fillna(0).astype(int)
counts

# %%
n_neurons = synapses["pre_root_id"].nunique()
rec.metric("synthetic_synapses", len(synapses), unit="count", description="synapses in the synthetic world")
rec.metric("synthetic_presynaptic_neurons", n_neurons, unit="count", description="distinct presynaptic neurons")
rec.metric("synthetic_cells", len(cells), unit="count", description="cells with a nucleus")
rec.metric("synthetic_mitochondria", len(mitochondria), unit="count", description="mitochondria")
print(f"{len(synapses)} synapses from {n_neurons} neurons, {len(cells)} cells, {len(mitochondria)} mitochondria")

# %% [markdown]
# ### A slice through the volume
#
# The EM image alone, then under each segmentation layer, in an xy plane through one synapse.

# %%
center = synapses.iloc[len(synapses) // 2][["x_nm", "y_nm", "z_nm"]].to_numpy(float)
fig = viz.show_layers(world, center, size_nm=(3000, 3000))
rec.savefig(fig, "layers")
plt.show()

# %% [markdown]
# ## Real EM samples
#
# Two small public volumes ship beside the project (not inside it) for development and checks against real
# tissue: SNEMI3D (Kasthuri et al. 2015, mouse cortex, 6 × 6 × 30 nm, dense neuron labels) and the Drosophila larval
# VNC ssTEM stack (Cardona et al. 2010, 4.6 × 4.6 × ~50 nm, membranes, mitochondria and synapses). Their descriptors
# (`data/snemi3d.yaml`, `data/vnc_sstem.yaml`) say where to download them.

# %%
real = {}
for name in ("snemi3d", "vnc_sstem"):
    try:
        real[name] = datasets.open_dataset(name)
    except FileNotFoundError as err:  # the samples are optional for readers of the book
        print(f"{name}: not available here ({err})")

if real:
    fig, axes = plt.subplots(1, len(real) + 1, figsize=(4 * (len(real) + 1), 4))
    fov = (2000.0, 2000.0)
    axes[0].imshow(viz.xy_slice(world.volume("em"), center, fov), cmap="gray")
    axes[0].set_title("synthetic (8×8×40 nm)")
    for ax, (name, ds) in zip(axes[1:], real.items()):
        em = ds.volume("em")
        lo, hi = em.bounds_nm()
        mid = (lo + hi) / 2
        ax.imshow(viz.xy_slice(em, mid, fov), cmap="gray")
        vs = "×".join(f"{v:g}" for v in em.voxel_size_nm)
        ax.set_title(f"{name} ({vs} nm)")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("2 × 2 µm xy fields of view")
    rec.savefig(fig, "real-vs-synthetic")
    plt.show()

# %% [markdown]
# ## Real annotation tables
#
# Published tables in the formats users meet — neuPrint CSV exports of hemibrain synapses with known
# transmitter, the supplementary table of Kasthuri et al. 2015, synister's FAFB skeleton export — are read into the
# same point schema (positions in nm). They have no images here; the readers are what later chapters reuse on them.

# %%
from emkit import paths
from emkit.io import tables

tables_dir = paths.realdata_dir() / "tables"
if tables_dir.exists():
    hemibrain = tables.read_nt_bbox_synapses(tables_dir / "hemibrain_nt_synapses")
    kasthuri = tables.read_kasthuri2015(tables_dir / "kasthuri2015_synapses_mmc2.csv")
    skeletons = tables.read_synister_skeletons(tables_dir / "synister_fafb_v3" / "skeletons_v3.json",
                                               tables_dir / "synister_fafb_v3" / "hemi_lineages_v3.json")
    real_tables = pd.DataFrame([
        {"table": "hemibrain synapses (neuPrint, Eckstein et al. 2024)", "rows": len(hemibrain),
         "classes": hemibrain["label"].nunique(), "label": "transmitter"},
        {"table": "Kasthuri et al. 2015 synapses", "rows": len(kasthuri), "classes": kasthuri["label"].nunique(),
         "label": "axon type"},
        {"table": "synister FAFB v3 skeletons", "rows": len(skeletons),
         "classes": skeletons["nt_known"].nunique(), "label": "known transmitter"},
    ])
    display(real_tables)
    display(hemibrain.head(3))
else:
    print(f"real tables not found at {tables_dir}: see ../shared/realdata/README.md")

# %% [markdown]
# ## Pointing the book at another dataset
#
# A new dataset is one YAML file in `data/`. The public datasets below are described already; on a machine that can
# reach them, pass their name wherever a chapter takes `dataset` (papermill: `-p dataset minnie65_public`).
#
# ```yaml
# # data/my_dataset.yaml
# name: my_dataset
# voxel_size_nm: [8, 8, 40]
# volumes:
#   em: precomputed://gs://my-bucket/em          # or zarr://, n5://, h5://file.h5#raw, tif://stack.tif
#   cells: precomputed://gs://my-bucket/seg
# tables:
#   synapses: {uri: my_synapses.parquet, format: cave, position_units: voxels,
#              point: ctr_pt_position, label: neurotransmitter}
# ```
#
# CAVE datastacks (MICrONS, FlyWire) are read with `caveclient`: materialized tables, a version or a timestamp. See
# `emkit.io.cave` and the descriptors' comments.

# %%
catalog[catalog["kind"] != "synthetic"] if "kind" in catalog else catalog
