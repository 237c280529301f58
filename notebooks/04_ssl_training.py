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
# # Self-supervised embeddings of synapse cubes (SimCLR)
#
# Seed 003 learns an embedding of synapses without labels: SimCLR (Chen et al. 2020) on synapse cubes. Two augmented
# views of the same cube should embed close together, views of other cubes far apart (the NT-Xent loss). The
# embedding is taken *before* the projection head and exported as a table keyed by synapse id; the next chapter
# judges it.
#
# Two choices decide whether the embedding learns the transmitter or merely the cube's geometry (both measured on
# the default world, see the numbers at the end of the next chapter):
#
# - **where the cube is centred**: on the *presynaptic point* (the vesicle cloud, where vesicle size, density and
#   dense-core vesicles tell transmitters apart), not on the cleft (seed 003), whose surroundings are mostly
#   unrelated neurites;
# - **views cut at random offsets** from a larger cube (SegCLR's centre jitter, Dorkenwald et al. 2023) and no
#   rescaling: two views share the vesicle cloud's statistics but not every membrane's position, so the encoder
#   cannot tell cubes apart by geometry alone, and vesicle size keeps its meaning.
#
# Other cheap changes did not help on that world (one run each, at 1,500 steps, of `benchmarks/ssl_recipes.py` or
# `benchmarks/gpu_full_ssl.py`; the table is on the page *The SSL targets, studied*): smaller views; stronger
# intensity changes, or none, or no flips and quarter-turns; an NT-Xent temperature of 0.05, 0.2 or 0.5; batch 128
# or 32 at the same number of samples; AdamW at 3e-3; an encoder twice as wide; SimSiam instead of SimCLR (with
# AdamW, or with its paper's SGD); and SwAV with 8 to 256 prototypes, which at these steps is no better than an
# untrained encoder (with the full ResNet-18 and batches of 256 on a GPU it does learn: the next chapter's GPU
# section). Nor did the decoupled contrastive loss (Yeh et al. 2022; `TrainConfig(decoupled=True)`) or AdamW at 2e-3,
# over five training seeds at this chapter's 750 steps: a mean 10 %-label probe of 0.410 each, against 0.411.
# Without intensity changes the loss falls much lower (1.24 against 2.45) and the probe drops to 0.34: two views can
# then be matched by their grey levels, the shortcut that colour jitter removes in SimCLR (Chen et al. 2020).
#
# Neurotransmitter labels are **never** used here: training sees only cubes.

# %% tags=["parameters"]
profile = "default"  # quick | default | full
size = "default"  # synthetic world: tiny | default | large
seed = 0  # world seed and training seed
encoder_name = "resnet10"  # resnet10 | resnet18 | resnet34 | resnet50 | slim
width_mult = 0.25  # scales every stage's width: resnet10 at 0.25 has widths 16-128 (the CPU profile)
cube_center = "pre"  # pre (the vesicle cloud) | cleft (seed 003)
channels = ["raw"]  # any of raw, pre_mask, cleft_mask
cube_shape_vox = [64, 64, 8]  # (x, y, z) voxels stored per synapse: 512 × 512 × 320 nm
cube_voxel_nm = [8.0, 8.0, 40.0]  # (x, y, z) nm per voxel: the native resolution (vesicles 4-7 voxels wide)
view_shape_vox = [40, 40, 6]  # (x, y, z) voxels of each training view, cut at a random offset out of the cube
objective = "simclr"  # simclr | simsiam | swav
# positive pairs: "view" (SimCLR, seed 003: two views of one cube) | "neuron" (SegCLR-style: a view of this cube and
# one of another synapse of the same presynaptic neuron, from the segmentation; see the evaluation chapter's
# recorded comparison: it pays off with longer training than this profile affords)
positives = "view"
# optimizer steps: 750 since 2026-11-23 (1,500 before). Halving both this and the supervised reference kept the
# label-efficiency ratio (the evaluation chapter's section on the step budget) and fits the book on slower CPUs.
steps = 750
batch_size = 64  # cubes per step (2 views each; more negatives per step helped: measured 64 > 32)
learning_rate = 1e-3
temperature = 0.1  # NT-Xent temperature
# SimCLR's EM recipe (flips, 90° rotations in the plane, intensity, missing/shifted sections) without
# crop-and-rescale: vesicle size is a class cue that rescaling would teach the encoder to ignore.
augment = {"preset": "simclr_em", "p_crop": 0.0}
device = "auto"  # auto | cpu | cuda
channels_last = True  # channels_last_3d memory format: GPU speed-up; on CPU (fp32) 1.1-1.3x for this encoder

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
import dataclasses
import json

import matplotlib.pyplot as plt
import pandas as pd
import torch

from emkit import paths
from emkit.analysis import plots
from emkit.cutouts import CutoutDataset, synapse_cube_spec
from emkit.io.datasets import open_dataset
from emkit.io.points import centred_on
from emkit.learn.augment import jitter_crop
from emkit.learn.export import embed, write_embeddings
from emkit.learn.models import build_encoder
from emkit.learn.pairs import pairs_by_column
from emkit.learn.train import TrainConfig, train_ssl
from emkit.results import Recorder
from emkit.viz import cutout_panels

rec = Recorder("04_ssl_training")
run = paths.run_dir(f"ssl-synapses-{size}-s{seed}")
torch.manual_seed(seed)

# %% [markdown]
# ## Synapse cubes
#
# Each cube is cut around the presynaptic point of a synapse (`cube_center`) from the synthetic world, at the
# stored 8 × 8 × 40 nm voxels, EM scaled to [0, 1]. Cubes are cached on disk (zarr), so a rerun reads them back
# instantly. The *views* the encoder sees, in training and at export, are `view_shape_vox` crops of them.

# %%
world = open_dataset("synthetic", size=size, seed=seed)
synapses = centred_on(world.points("synapses"), cube_center)
spec = synapse_cube_spec(tuple(cube_shape_vox), tuple(cube_voxel_nm), channels=tuple(channels))
cubes = CutoutDataset(world, synapses, spec, cache=True, in_memory=True)  # read every epoch: held in RAM
print(f"{len(cubes)} cubes of {spec.num_channels} × {tuple(cubes[0]['x'].shape[1:])} (z, y, x) voxels, "
      f"{[int(s * v) for s, v in zip(cube_shape_vox, cube_voxel_nm)]} nm (x, y, z), centred on the "
      f"{cube_center} point")

# %%
fig = cutout_panels([cubes[i]["x"].numpy() for i in range(4)], channel_names=spec.channels,
                    titles=[f"synapse {cubes[i]['id']}" for i in range(4)])
rec.savefig(fig, "cubes")
plt.show()

# %% [markdown]
# ## Training
#
# The encoder is a 3D ResNet (ResNet-10 at a quarter width on CPU; ResNet-18/34/50 on a GPU) whose stem keeps the
# z resolution when voxels are anisotropic. Augmentations run in batches on the training device: each view is a
# `view_shape_vox` crop at a random offset (up to half the slack on each axis), then flips and in-plane 90°
# rotations (masks follow exactly), intensity changes on the EM channel only, and missing or shifted sections. The
# learning rate warms up linearly, then follows a cosine. The two views of a positive pair come from the same cube
# (`positives = "view"`, SimCLR as in seed 003), or from two synapses of the same presynaptic neuron
# (`positives = "neuron"`, as SegCLR pairs nearby cutouts of one cell; `emkit.learn.pairs`).

# %%
augment_views = {**augment, **jitter_crop(cube_shape_vox, view_shape_vox)}
print("views:", augment_views)
encoder = build_encoder(encoder_name, in_channels=spec.num_channels, voxel_size_nm=cube_voxel_nm,
                        width_mult=width_mult)
config = TrainConfig(objective=objective, max_steps=steps, batch_size=batch_size, lr=learning_rate,
                     warmup_steps=max(1, steps // 10), temperature=temperature, seed=seed, device=device,
                     channels_last=channels_last, augment=augment_views,
                     checkpoint_dir=str(run / "checkpoints"), log_dir=str(run / "tensorboard"))
train_data = cubes
if positives == "neuron":  # the grouping comes from the segmentation (pre_root_id), never from the transmitter
    train_data = pairs_by_column(cubes, group_column="pre_root_id", seed=seed)
    print(train_data)
elif positives != "view":
    raise ValueError(f"positives must be 'view' or 'neuron'; got {positives!r}")
history = train_ssl(encoder, train_data, config)
torch.save(encoder.state_dict(), run / "encoder.pt")

# %%
ax = plots.loss_curve(history)
ax.set_title(f"{objective} loss, {encoder_name} encoder, batch {batch_size}")
rec.savefig(ax.figure, "loss")
plt.show()

# %%
throughput = float(history["samples_per_s"].iloc[len(history) // 5:].median())
first, last = history["loss"].iloc[:10].mean(), history["loss"].iloc[-10:].mean()
rec.metric("ssl_train_samples_per_s", throughput, unit="samples/s",
           description=f"median training throughput ({encoder_name}, {history.attrs.get('device', device)})")
rec.metric("ssl_loss_first10", first, description="mean NT-Xent loss of the first 10 steps")
rec.metric("ssl_loss_last10", last, description="mean NT-Xent loss of the last 10 steps")
print(f"{len(history)} steps, {throughput:.1f} samples/s; loss {first:.3f} → {last:.3f}")

# %% [markdown]
# ## Export
#
# One row per synapse: its id and the encoder's embedding (before the projection head) of the *central* view, with
# the model id and the view's cutout spec stored beside them, ready for any evaluation.

# %%
view_spec = synapse_cube_spec(tuple(view_shape_vox), tuple(cube_voxel_nm), channels=tuple(channels))
views = CutoutDataset(world, synapses, view_spec, cache=True)
embeddings = embed(encoder, views, batch_size=64, channels_last=channels_last)
path = write_embeddings(embeddings, run / "embeddings.parquet",
                        model_id=f"{objective}-{positives}pairs-{encoder_name}x{width_mult:g}-s{seed}",
                        spec={"cutout": dataclasses.asdict(view_spec), "center": cube_center})
print(f"{len(embeddings)} embeddings of dimension {embeddings.shape[1] - 1} → {path}")

# %% [markdown]
# ## On a GPU (recorded, not rerun here)
#
# The machines that build this book have no GPU. One was lent to us once, an NVIDIA H100 (2026-11-22), and what we
# measured there is kept in `book/measured/gpu_h100.json` with the device, the software and the commands. This
# section reads that file back; it does not rerun anything.
#
# The figure below times one SimCLR step of the full ResNet-18 (33 M parameters) on three-channel 64³ cubes: two
# augmented views of each cube, encoder, projection head, NT-Xent, backward pass, AdamW
# (`benchmarks/bench_train.py --device cuda --case resnet18 --batch B --amp A --channels-last`). Three things
# stand out:
#
# - **Channels-last helps.** At batch 32 it gives 1.27× in fp32 and 1.10× in bf16.
# - **fp16 autocast beats bf16.** It is 1.2–1.25× faster at batch 64 and 128. The training loop's `amp: auto`
#   still picks bf16, which needs no loss scaling; `amp: fp16` takes the extra speed.
# - **The card is far from its peak.** At 55.7 GFLOP per cube (both views, forward and backward), the best
#   setting, fp16 at batch 128, reaches about 100 TFLOP/s. That is about an eighth of what the card's matrix
#   units reach on a large bf16 matrix product. cuDNN's 3-D convolutions on small volumes do not fill the chip.
#
# The augmentation of the two views, which runs on the GPU too, adds 10–25 ms to each step. The GPU tests
# (`python -m pytest -m gpu`: AMP in bf16 and fp16, channels-last, resume, augmentation and embedding against the
# CPU, the `torchrun` entry point) passed there. With this chapter's anisotropic 40 × 40 × 6 views, the full
# ResNet-18 trained at about 3,000 cubes/s there (batch 256, bf16; the next chapter's last section). This
# chapter's quarter-width ResNet-10 on two CPU cores trains at the rate printed above, about 450 cubes/s.

# %%
gpu = json.loads((paths.measured_dir() / "gpu_h100.json").read_text())
print(f"{gpu['device']} · {gpu['date']}")
gpu_throughput = pd.DataFrame(gpu["throughput"]["rows"])
gpu_throughput["amp"] = gpu_throughput["amp"].replace({"off": "fp32 (TF32 conv)"})
ax = plots.throughput_bars(gpu_throughput, title="ResNet-18 SimCLR step on 3 × 64³ cubes (H100, recorded)")
rec.savefig(ax.figure, "gpu_throughput")
plt.show()
best = gpu_throughput.loc[(gpu_throughput["amp"] == "bf16") & (gpu_throughput["layout"] == "channels_last_3d")]
best = best.sort_values("samples_per_s").iloc[-1]
rec.metric("gpu_resnet18_64cube_samples_per_s", best["samples_per_s"], unit="samples/s",
           description=f"recorded on an H100 ({gpu['date']}; book/measured/gpu_h100.json), not rerun: ResNet-18 "
                       f"SimCLR step on 3×64³ cubes, batch {best['batch']}, bf16 autocast, channels-last")
gpu_throughput[["batch", "amp", "layout", "step_s", "samples_per_s", "samples_per_s_with_augment", "peak_gib"]]
