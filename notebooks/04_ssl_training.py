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
# Seed 003 learns an embedding of synapses without labels: SimCLR (Chen et al. 2020) on three-channel cubes —
# the EM image, the presynaptic-side mask and the cleft mask — centred on each synaptic cleft. Two augmented views of
# the same cube should embed close together, views of other cubes far apart (the NT-Xent loss). The embedding is
# taken *before* the projection head and exported as a table keyed by synapse id; the next chapter judges it.
#
# Neurotransmitter labels are **never** used here: training sees only cubes.

# %% tags=["parameters"]
profile = "default"  # quick | default | full
size = "default"  # synthetic world: tiny | default | large
seed = 0  # world seed and training seed
encoder_name = "slim"  # slim (CPU) | resnet18 | resnet34 | resnet50
cube_shape_vox = [56, 56, 12]  # (x, y, z) voxels: 560 × 560 × 480 nm, the cleft and its vesicle cloud
cube_voxel_nm = [10.0, 10.0, 40.0]  # (x, y, z) nm per voxel (vesicles stay 4-5 voxels wide)
objective = "simclr"  # simclr | simsiam
steps = 300  # optimizer steps
batch_size = 32  # cubes per step (2 views each)
learning_rate = 1e-3
temperature = 0.1  # NT-Xent temperature
# SimCLR's EM recipe without crop-and-rescale: vesicle size is a class cue that rescaling would teach the encoder
# to ignore (measured: with rescaling the SSL embedding was at chance on the default world).
augment = {"preset": "simclr_em", "p_crop": 0.0}
device = "auto"  # auto | cpu | cuda

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
import torch

from emkit import paths
from emkit.analysis import plots
from emkit.cutouts import CutoutDataset, synapse_cube_spec
from emkit.io.datasets import open_dataset
from emkit.learn.export import embed, write_embeddings
from emkit.learn.models import build_encoder
from emkit.learn.train import TrainConfig, train_ssl
from emkit.results import Recorder
from emkit.viz import cutout_panels

rec = Recorder("04_ssl_training")
run = paths.run_dir(f"ssl-synapses-{size}-s{seed}")
torch.manual_seed(seed)

# %% [markdown]
# ## Synapse cubes
#
# Each cube is cut around the cleft centre of a synapse from the synthetic world and resampled from the stored
# anisotropic 8 × 8 × 40 nm voxels to the cube's voxel size. Channels: raw EM (scaled to [0, 1]), presynaptic object
# mask, cleft mask. Cubes are cached on disk (zarr), so a rerun reads them back instantly.

# %%
world = open_dataset("synthetic", size=size, seed=seed)
synapses = world.points("synapses")
spec = synapse_cube_spec(tuple(cube_shape_vox), tuple(cube_voxel_nm))
cubes = CutoutDataset(world, synapses, spec, cache=True)
print(f"{len(cubes)} cubes of {spec.num_channels} × {tuple(cubes[0]['x'].shape[1:])} (z, y, x) voxels, "
      f"{[int(s * v) for s, v in zip(cube_shape_vox, cube_voxel_nm)]} nm (x, y, z)")

# %%
fig = cutout_panels([cubes[i]["x"].numpy() for i in range(4)], channel_names=spec.channels,
                    titles=[f"synapse {cubes[i]['id']}" for i in range(4)])
rec.savefig(fig, "cubes")
plt.show()

# %% [markdown]
# ## Training
#
# The encoder is a 3D ResNet (`slim` on CPU: one block per stage; ResNet-18/34/50 on a GPU) whose stem keeps the
# z resolution when voxels are anisotropic. Augmentations run in batches on the training device: flips and
# in-plane 90° rotations (masks follow exactly), intensity changes on the EM channel only, and missing or shifted
# sections — but no crop-and-rescale, which would hide vesicle size. The learning rate warms up linearly, then
# follows a cosine.

# %%
encoder = build_encoder(encoder_name, in_channels=spec.num_channels, voxel_size_nm=cube_voxel_nm)
config = TrainConfig(objective=objective, max_steps=steps, batch_size=batch_size, lr=learning_rate,
                     warmup_steps=max(1, steps // 10), temperature=temperature, seed=seed, device=device,
                     augment=augment,
                     checkpoint_dir=str(run / "checkpoints"), log_dir=str(run / "tensorboard"))
history = train_ssl(encoder, cubes, config)
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
# One row per synapse: its id and the encoder's embedding (before the projection head), with the model id and the
# cutout spec stored beside them, ready for any evaluation.

# %%
embeddings = embed(encoder, cubes, batch_size=64)
path = write_embeddings(embeddings, run / "embeddings.parquet", model_id=f"{objective}-{encoder_name}-s{seed}",
                        spec=spec)
print(f"{len(embeddings)} embeddings of dimension {embeddings.shape[1] - 1} → {path}")
