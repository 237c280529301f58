"""One training loop for self-supervised (SimCLR, SimSiam, SwAV) and supervised training of 3D EM encoders.

The same loop runs on CPU, one GPU, and several GPUs under ``torchrun`` (DDP with a ``DistributedSampler``; rank 0
logs and checkpoints), from the same entry point::

    python -m emkit.learn.train --config cfg.yaml              # CPU or one GPU
    torchrun --nproc_per_node 4 -m emkit.learn.train --config cfg.yaml
    emkit train --config cfg.yaml

Features: AMP (bf16/fp16 autocast on CUDA; off on CPU by default because bf16 autocast is slower there, see the
ecosystem notes), AdamW or SGD, linear warm-up + cosine schedule, checkpoints holding model, optimizer, scheduler,
grad-scaler and RNG states plus the step (resume continues bit-for-bit on CPU), deterministic seeding (the
augmentation generator is re-seeded from (seed, rank, step) at every step, the data order from (seed, epoch)),
TensorBoard scalars, a tqdm bar with loss and samples/s, and the ``channels_last_3d`` memory format for GPUs.

Objectives (:mod:`emkit.learn.objectives`, re-exported here; each an ``nn.Module`` whose ``forward`` returns the
loss, so DDP wraps it whole):

- :class:`SimCLRObjective`: Chen et al. 2020, NT-Xent on a 2-layer projection head; embeddings are taken before it.
  Under DDP the negatives are gathered from all ranks (``TrainConfig.gather_negatives``).
- :class:`SimSiamObjective`: Chen & He 2021, projector + predictor + stop-gradient.
- :class:`SwAVObjective`: Caron et al. 2020, swapped prediction of Sinkhorn-balanced prototype codes.
- :class:`SupervisedObjective`: the supervised reference -- the same encoder trained end to end with a linear head
  and cross-entropy on the dataset's labels.

A config file (every ``train:`` key is a :class:`TrainConfig` field; ``model:`` goes to :func:`build_encoder`;
``data:`` to :func:`build_dataset`)::

    train: {objective: simclr, epochs: 100, batch_size: 16, lr: 1.0e-3, warmup_steps: 200, temperature: 0.1,
            augment: {preset: simclr_em, raw_channels: [0]}, checkpoint_dir: runs/simclr/ckpt,
            checkpoint_every: 500, log_dir: runs/simclr/tb, resume: auto}
    model: {name: resnet18, in_channels: 3, voxel_size_nm: [8, 8, 8]}
    data: {factory: "some.module:make_dataset", kwargs: {...}}      # or {kind: random, n: 64, shape: [3, 32, 32, 32]}
    save_encoder: runs/simclr/encoder.pt
    history_csv: runs/simclr/history.csv

A dataset is any ``torch.utils.data.Dataset`` yielding dicts ``{"x": float32 (C, D, H, W), "id": int,
"label": ..., "valid": bool}`` (``emkit.cutouts``); samples with ``valid == False`` are dropped from the batch.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import random
import time
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from .allocator import keep_freed_memory
from .augment import EMAugment, make_augment
from .batches import RandomCutoutDataset, collate_cutouts, sample_valid, select_samples
from .models import build_encoder
from .objectives import SimCLRObjective, SimSiamObjective, SupervisedObjective, SwAVObjective

__all__ = [
    "TrainConfig", "SimCLRObjective", "SimSiamObjective", "SwAVObjective", "SupervisedObjective", "fit", "train_ssl",
    "train_supervised", "collate_cutouts", "sample_valid", "RandomCutoutDataset", "warmup_cosine", "load_checkpoint",
    "run_config", "main",
]


# ---------------------------------------------------------------------------------------------------------- config
@dataclass
class TrainConfig:
    """Everything the loop needs (YAML section ``train:``).

    Attributes
    ----------
    objective : "simclr", "simsiam", "swav" or "supervised" (used by :func:`run_config` / :func:`train_ssl`).
    epochs : passes over the dataset; ``max_steps``, if set, replaces it as the run (and schedule) length.
    batch_size : samples per step *per process*.
    optimizer : "adamw" or "sgd"; lr, weight_decay, momentum (SGD) as usual.
    warmup_steps : linear warm-up from lr/warmup_steps to lr; then cosine decay to ``lr * min_lr_ratio``.
    temperature : NT-Xent temperature; proj_hidden / proj_dim: SimCLR head sizes.
    decoupled : SimCLR with the decoupled contrastive loss (the positive left out of NT-Xent's denominator; Yeh
        et al. 2022, :func:`emkit.learn.losses.nt_xent`).
    gather_negatives : under DDP, SimCLR negatives come from every rank's views (global batch), not just local.
    simsiam_dim / simsiam_pred_dim : SimSiam projector width and predictor bottleneck.
    n_prototypes / swav_epsilon / sinkhorn_iters / freeze_prototypes_steps : SwAV's number of prototypes K, the
        Sinkhorn entropy regularisation and iterations, and the steps at the start during which the prototypes stay
        fixed (SwAV freezes them for its first epoch). SwAV uses ``temperature`` and the SimCLR head sizes.
    augment : preset name ("simclr_em", "segclr", "geometric", "none") or a mapping of AugmentConfig fields
        (with optional "preset"); the supervised objective uses ``augment_supervised``.
    label_key / classes : the supervised label field and the class order (None = sorted unique labels).
    amp : "auto" (bf16 on CUDA when supported, else fp16; off on CPU), "bf16", "fp16" or "off".
    channels_last : use ``torch.channels_last_3d`` for the model and inputs (GPU speed-up; on CPU only without
        autocast, where it is deterministic and 1.2-1.3x faster for the book's small encoder).
    device : "auto", "cpu", "cuda", "cuda:1", ...
    seed : model-independent seed of data order, augmentations and global RNGs.
    num_workers : DataLoader workers.
    log_dir : TensorBoard folder (None = no TensorBoard); checkpoint_dir: where ``step_XXXXXXXX.pt`` and
        ``last.pt`` go (None = no checkpoints); checkpoint_every: steps between checkpoints (0 = at the end only).
    resume : checkpoint path, or "auto" = ``checkpoint_dir/last.pt`` when it exists.
    grad_clip : max gradient norm (None = off).
    deterministic : ``torch.use_deterministic_algorithms`` (warn only) and no cuDNN benchmarking. Bitwise on CPU;
        on CUDA max_pool3d's backward has no deterministic kernel, so runs agree only to rounding, and AdamW's
        first steps (each weight moves by ~lr * sign(grad)) can turn that rounding into visibly different losses
        (measured on an H100: up to 9 % apart after six steps of a tiny model; with SGD under 1e-4).
    sync_bn : under DDP on GPUs, convert BatchNorm to SyncBatchNorm (batch statistics over all ranks).
    min_valid_fraction : samples whose per-voxel ``valid`` mask has at most this fraction of True voxels are
        dropped from the batch (default 0: only cutouts entirely outside the volume).
    min_batch : a batch left with fewer usable samples (valid and, for supervised, labelled) is skipped: the step
        counts (loss NaN in the history) but nothing is updated. BatchNorm needs >= 2 samples.
    progress : tqdm bar on rank 0.
    """

    objective: str = "simclr"
    epochs: int = 1
    max_steps: int | None = None
    batch_size: int = 16
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    temperature: float = 0.1
    decoupled: bool = False
    gather_negatives: bool = True
    proj_hidden: int = 512
    proj_dim: int = 128
    simsiam_dim: int = 2048
    simsiam_pred_dim: int = 512
    n_prototypes: int = 32
    swav_epsilon: float = 0.05
    sinkhorn_iters: int = 3
    freeze_prototypes_steps: int = 0
    augment: Any = "simclr_em"
    augment_supervised: Any = "geometric"
    label_key: str = "label"
    classes: list | None = None
    amp: str = "auto"
    channels_last: bool = False
    device: str = "auto"
    seed: int = 0
    num_workers: int = 0
    log_dir: str | None = None
    checkpoint_dir: str | None = None
    checkpoint_every: int = 0
    resume: str | None = None
    grad_clip: float | None = None
    deterministic: bool = False
    sync_bn: bool = False
    min_valid_fraction: float = 0.0
    min_batch: int = 2
    progress: bool = True

    @classmethod
    def from_dict(cls, d: dict | None) -> "TrainConfig":
        d = dict(d or {})
        names = {f.name for f in fields(cls)}
        bad = sorted(set(d) - names)
        if bad:
            raise ValueError(f"unknown train option(s) {bad}; known: {sorted(names)}")
        return cls(**d)


class _EpochBatches(torch.utils.data.Sampler):
    """Batches of one epoch of a (Distributed)Sampler, starting after ``skip`` batches (resume mid-epoch).

    Lives in the main process, so one (persistent-worker) DataLoader serves every epoch: call ``set(epoch, skip)``
    before iterating the loader.
    """

    def __init__(self, sampler: DistributedSampler, batch_size: int, steps_per_epoch: int):
        self.sampler, self.batch_size, self.steps_per_epoch = sampler, batch_size, steps_per_epoch
        self.epoch, self.skip = 0, 0

    def set(self, epoch: int, skip: int) -> None:
        self.epoch, self.skip = epoch, skip

    def __iter__(self):
        self.sampler.set_epoch(self.epoch)
        idx = list(self.sampler)
        b = self.batch_size
        for i in range(self.skip, self.steps_per_epoch):
            yield idx[i * b:(i + 1) * b]

    def __len__(self) -> int:
        return self.steps_per_epoch - self.skip


# ---------------------------------------------------------------------------------------------------- the schedule
def warmup_cosine(step: int, total: int, warmup: int, min_ratio: float = 0.0) -> float:
    """LR multiplier: linear warm-up over ``warmup`` steps, then half-cosine to ``min_ratio`` at ``total``
    (Loshchilov & Hutter 2017, SGDR without restarts; Goyal et al. 2017 warm-up)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    span = max(1, total - warmup)
    t = min(1.0, (step - warmup) / span)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))


# ---------------------------------------------------------------------------------------------- distributed helpers
def _dist_env() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    return rank, world, local


def _resolve_device(cfg: TrainConfig, local_rank: int) -> torch.device:
    if cfg.device == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    dev = torch.device(cfg.device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device(f"cuda:{local_rank}")
    return dev


def _amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    mode = (cfg.amp or "off").lower()
    if mode in ("off", "none", "false", "no"):
        return None
    if mode == "auto":
        if device.type != "cuda":
            return None  # bf16 autocast is slower than fp32 on CPU, on AVX-512 with bf16 too (book/ssl_study.md)
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if mode == "bf16":
        return torch.bfloat16
    if mode == "fp16":
        return torch.float16
    raise ValueError(f"amp must be auto, bf16, fp16 or off; got {cfg.amp!r}")


def _step_generator(seed: int, rank: int, step: int) -> torch.Generator:
    s = int(np.random.SeedSequence([int(seed), int(rank), int(step)]).generate_state(1, dtype=np.uint64)[0])
    return torch.Generator().manual_seed(s & 0x7FFF_FFFF_FFFF_FFFF)


def _rng_state() -> dict:
    st = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict) -> None:
    # RNG states must be CPU byte tensors; a checkpoint loaded with map_location="cuda" holds them on the GPU
    torch.set_rng_state(st["torch"].cpu())
    np.random.set_state(st["numpy"])
    random.setstate(st["python"])
    if "cuda" in st and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state_all([s.cpu() for s in st["cuda"]])
        except (RuntimeError, IndexError):  # a different number of GPUs than when saved
            pass


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint written by :func:`fit` (a dict: model, optimizer, scheduler, scaler, rng, step, ...)."""
    return torch.load(path, map_location=map_location, weights_only=False)


def _save_checkpoint(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # atomic: a crash never leaves a half-written checkpoint


# ------------------------------------------------------------------------------------------------------ the loop
def fit(objective: nn.Module, dataset: Dataset, cfg: TrainConfig | dict,
        augment: EMAugment | dict | str | None = None) -> pd.DataFrame:
    """Train ``objective`` (an nn.Module whose ``forward(*inputs)`` returns a scalar loss) on ``dataset``.

    Parameters
    ----------
    objective : SimCLRObjective, SimSiamObjective, SupervisedObjective or any module with
        ``make_inputs(x, batch, augment, generator) -> tuple`` and ``forward(*inputs) -> loss``.
        Trained in place (its ``encoder`` is the thing to keep).
    dataset : Dataset of cutout dicts (``x`` (C, D, H, W) float32, ``id``, ``label``, ``valid``).
    cfg : TrainConfig (or a mapping of its fields).
    augment : augmentation for this objective (default: ``cfg.augment``).

    Returns
    -------
    pandas.DataFrame
        One row per optimizer step (rank 0's view; loss averaged over ranks): ``step`` (1-based), ``epoch``,
        ``loss``, ``lr``, ``samples_per_s`` (global), ``time_s``. Includes the steps of a resumed checkpoint.
        ``attrs["checkpoint"]`` is the last checkpoint path (or None), ``attrs["device"]`` the training device.
    """
    if isinstance(cfg, dict):
        cfg = TrainConfig.from_dict(cfg)
    aug = make_augment(cfg.augment if augment is None else augment)
    rank, world, local_rank = _dist_env()
    device = _resolve_device(cfg, local_rank)
    distributed = world > 1
    own_pg = False
    if distributed and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        own_pg = True
    if device.type == "cuda":
        torch.cuda.set_device(device)
    else:
        keep_freed_memory()  # 1.1-1.15x faster CPU steps: torch's buffers stay mapped (emkit.learn.allocator)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    torch.manual_seed(cfg.seed + rank)
    np.random.seed((cfg.seed + rank) % 2**32)
    random.seed(cfg.seed + rank)

    is_main = rank == 0
    amp_dtype = _amp_dtype(cfg, device)
    use_cl = bool(cfg.channels_last) and (device.type == "cuda" or amp_dtype is None)
    if cfg.channels_last and not use_cl:
        # measured on torch 2.13 CPU: bf16 autocast + channels_last_3d gives run-to-run different gradients and
        # occasional NaN in the deeper (small-spatial) stages. In fp32 it is deterministic, and on the book's
        # ResNet-10/4 SimCLR step (2 x 64 views of 6x40x40) 1.2-1.3x faster (150 vs 174 ms, 104 vs 134 ms).
        warnings.warn("channels_last with autocast is a GPU option; ignored on CPU", stacklevel=2)
    mem_fmt = torch.channels_last_3d if use_cl else torch.contiguous_format
    objective.to(device)
    if use_cl:
        objective.to(memory_format=torch.channels_last_3d)

    params = [p for p in objective.parameters() if p.requires_grad]
    if cfg.optimizer.lower() == "adamw":
        opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    elif cfg.optimizer.lower() == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    else:
        raise ValueError(f"optimizer must be adamw or sgd; got {cfg.optimizer!r}")

    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed, drop_last=True)
    per_rank = len(sampler)
    steps_per_epoch = per_rank // cfg.batch_size
    if steps_per_epoch == 0:
        raise ValueError(
            f"dataset of {len(dataset)} samples gives {per_rank} per process: fewer than batch_size={cfg.batch_size}"
        )
    # max_steps, when set, is the run length (as many epochs as it takes); otherwise epochs * steps_per_epoch
    total = int(cfg.max_steps) if cfg.max_steps is not None else cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: warmup_cosine(s, total, cfg.warmup_steps, cfg.min_lr_ratio))
    scaler = torch.amp.GradScaler(device.type, enabled=(amp_dtype == torch.float16 and device.type == "cuda"))

    step, history, last_ckpt = 0, [], None
    ckdir = Path(cfg.checkpoint_dir) if cfg.checkpoint_dir else None
    resume = cfg.resume
    if resume == "auto":
        resume = str(ckdir / "last.pt") if ckdir is not None and (ckdir / "last.pt").exists() else None
    if resume:
        state = load_checkpoint(resume, map_location=device)
        objective.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        # the lr of the *current* schedule (differs from the saved one only if the run length changed)
        for grp, base in zip(opt.param_groups, sched.base_lrs):
            grp["lr"] = base * warmup_cosine(sched.last_epoch, total, cfg.warmup_steps, cfg.min_lr_ratio)
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        step = int(state["step"])
        history = list(state.get("history", []))
        if state.get("world_size", world) == world and rank == 0:
            _set_rng_state(state["rng"])
        last_ckpt = str(resume)

    model: nn.Module = objective
    if distributed and cfg.sync_bn and device.type == "cuda":
        objective = nn.SyncBatchNorm.convert_sync_batchnorm(objective)
        model = objective
    if distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(objective, device_ids=[device.index] if device.type == "cuda" else None)

    writer = None
    if is_main and cfg.log_dir:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(cfg.log_dir, purge_step=step + 1 if step else None)
    bar = None
    if is_main and cfg.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=step, desc=f"train {type(objective).__name__}", unit="step")

    def checkpoint() -> str:
        state = {
            "model": objective.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
            "scaler": scaler.state_dict(), "rng": _rng_state(), "step": step, "epoch": step // steps_per_epoch,
            "world_size": world, "config": asdict(cfg), "history": history,
        }
        path = ckdir / f"step_{step:08d}.pt"
        _save_checkpoint(path, state)
        _save_checkpoint(ckdir / "last.pt", state)
        return str(path)

    batches = _EpochBatches(sampler, cfg.batch_size, steps_per_epoch)
    loader_kw: dict[str, Any] = {}
    if cfg.num_workers > 0:
        import multiprocessing as mp

        # persistent workers from a forkserver: tensorstore (emkit.cutouts) aborts on fork() after its threads start
        loader_kw = dict(persistent_workers=True, multiprocessing_context="forkserver"
                         if "forkserver" in mp.get_all_start_methods() else "spawn")
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate_cutouts, num_workers=cfg.num_workers,
                        pin_memory=device.type == "cuda", **loader_kw)

    objective.train()
    try:
        while step < total:
            epoch, skip = divmod(step, steps_per_epoch)
            batches.set(epoch, skip)
            t0 = time.perf_counter()
            for batch in loader:
                keep = sample_valid(batch, cfg.min_valid_fraction)
                if hasattr(objective, "sample_mask"):
                    m = objective.sample_mask(batch)
                    keep = m if keep is None else keep & m
                n_keep = int(keep.sum()) if keep is not None else int(batch["x"].shape[0])
                if n_keep < cfg.min_batch:
                    ids = batch["id"].tolist() if isinstance(batch.get("id"), torch.Tensor) else "?"
                    if distributed:  # every rank must take part in each step
                        raise ValueError(f"rank {rank}, step {step + 1}: {n_keep} usable sample(s) in the batch "
                                         f"(ids {ids}) < min_batch={cfg.min_batch}; filter invalid/unlabelled "
                                         "cutouts out of the dataset for DDP")
                    # no update, but the step still counts (keeps the step -> batch mapping, hence resume, exact)
                    lr = opt.param_groups[0]["lr"]
                    sched.step()
                    step += 1
                    history.append({"step": step, "epoch": epoch, "loss": float("nan"), "lr": lr,
                                    "samples_per_s": 0.0, "time_s": time.time()})
                    if bar is not None:
                        bar.update(1)
                    t0 = time.perf_counter()
                    if step >= total:
                        break
                    continue
                if keep is not None and not bool(keep.all()):
                    batch = select_samples(batch, keep)
                x = batch["x"].to(device, non_blocking=True)
                g = _step_generator(cfg.seed, rank, step)
                with torch.no_grad():
                    inputs = objective.make_inputs(x, batch, aug, g)
                inputs = tuple(t.contiguous(memory_format=mem_fmt) if t.ndim == 5 else t for t in inputs)
                with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                    loss = model(*inputs)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.grad_clip:
                    scaler.unscale_(opt)
                    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                scaler.step(opt)
                scaler.update()
                lr = opt.param_groups[0]["lr"]
                sched.step()
                step += 1
                # on the training device: NCCL reduces CUDA tensors only
                n = torch.stack([torch.tensor(float(x.shape[0]), device=device), loss.detach().float()])
                if distributed:
                    dist.all_reduce(n)  # summed samples, summed loss
                    n_samples, loss_v = n[0].item(), n[1].item() / world
                else:
                    n_samples, loss_v = n[0].item(), n[1].item()
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                t1 = time.perf_counter()
                rate = n_samples / max(t1 - t0, 1e-9)
                t0 = t1
                history.append({"step": step, "epoch": epoch, "loss": loss_v, "lr": lr, "samples_per_s": rate,
                                "time_s": time.time()})
                if writer is not None:
                    writer.add_scalar("train/loss", loss_v, step)
                    writer.add_scalar("train/lr", lr, step)
                    writer.add_scalar("train/samples_per_s", rate, step)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss_v:.4f}", sps=f"{rate:.1f}", epoch=epoch)
                if ckdir is not None and cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < total:
                    if is_main:
                        last_ckpt = checkpoint()
                    if distributed:
                        dist.barrier()
                if step >= total:
                    break
        if ckdir is not None:
            if is_main:
                last_ckpt = checkpoint()
            if distributed:
                dist.barrier()
    finally:
        if bar is not None:
            bar.close()
        if writer is not None:
            writer.flush()
            writer.close()
        if own_pg and dist.is_initialized():
            dist.destroy_process_group()
    objective.eval()
    hist = pd.DataFrame(history, columns=["step", "epoch", "loss", "lr", "samples_per_s", "time_s"])
    hist.attrs["checkpoint"] = last_ckpt
    hist.attrs["world_size"] = world
    hist.attrs["device"] = str(device)
    return hist


def train_ssl(encoder: nn.Module, dataset: Dataset, cfg: TrainConfig | dict | None = None,
              augment: EMAugment | dict | str | None = None) -> pd.DataFrame:
    """Self-supervised training of ``encoder`` (in place) with ``cfg.objective`` = "simclr", "simsiam" or "swav".

    Returns the per-step history (see :func:`fit`). The embedding to export is ``encoder(x)`` (before the head).
    """
    cfg = TrainConfig.from_dict(cfg) if isinstance(cfg, dict) or cfg is None else cfg
    kind = cfg.objective.lower()
    if kind == "simclr":
        obj = SimCLRObjective(encoder, cfg.proj_hidden, cfg.proj_dim, cfg.temperature, cfg.gather_negatives,
                              cfg.decoupled)
    elif kind == "simsiam":
        obj = SimSiamObjective(encoder, cfg.simsiam_dim, cfg.simsiam_pred_dim)
    elif kind == "swav":
        obj = SwAVObjective(encoder, cfg.proj_hidden, cfg.proj_dim, cfg.n_prototypes, cfg.temperature,
                            cfg.swav_epsilon, cfg.sinkhorn_iters, cfg.freeze_prototypes_steps)
    else:
        raise ValueError(f"train_ssl: objective must be simclr, simsiam or swav, got {cfg.objective!r}")
    return fit(obj, dataset, cfg, augment)


def _dataset_classes(dataset: Dataset, label_key: str) -> list:
    """Sorted distinct labels: ``dataset.classes``, else the label column of ``dataset.points`` (emkit.cutouts),
    else ``dataset.labels``, else one pass over the samples (small datasets only). Missing labels are ignored."""
    if getattr(dataset, "classes", None) is not None:
        return list(dataset.classes)
    points = getattr(dataset, "points", None)
    col = getattr(dataset, "label_column", label_key) if label_key == "label" else label_key
    if isinstance(points, pd.DataFrame) and col in points.columns:
        vals = points[col]
    elif getattr(dataset, "labels", None) is not None:
        vals = pd.Series(list(dataset.labels))
    else:
        vals = []
        for i in range(len(dataset)):
            v = dataset[i].get(label_key)
            vals.append(v.item() if isinstance(v, torch.Tensor) else v)
        vals = pd.Series(vals, dtype=object)
    return sorted({v for v in vals.dropna().tolist() if not SupervisedObjective._missing(v)})


def train_supervised(encoder: nn.Module, dataset: Dataset, cfg: TrainConfig | dict | None = None,
                     label_key: str | None = None, classes: Sequence | None = None,
                     augment: EMAugment | dict | str | None = None) -> pd.DataFrame:
    """The supervised reference: ``encoder`` + a linear head trained end to end with cross-entropy (in place).

    Parameters
    ----------
    label_key : dataset field with the label (default ``cfg.label_key``).
    classes : class order; default ``cfg.classes``, else ``dataset.classes``, else the sorted unique labels.
    augment : default ``cfg.augment_supervised``.

    Returns
    -------
    DataFrame history (see :func:`fit`) with ``attrs["classes"]``.
    """
    cfg = TrainConfig.from_dict(cfg) if isinstance(cfg, dict) or cfg is None else cfg
    label_key = label_key or cfg.label_key
    classes = list(classes if classes is not None else (cfg.classes or _dataset_classes(dataset, label_key)))
    if len(classes) < 2:
        raise ValueError(f"supervised training needs >= 2 classes in {label_key!r}; found {classes}")
    obj = SupervisedObjective(encoder, classes, label_key)
    hist = fit(obj, dataset, cfg, cfg.augment_supervised if augment is None else augment)
    hist.attrs["classes"] = classes
    return hist


# --------------------------------------------------------------------------------------------- config files / CLI
def _load_factory(spec: str) -> Callable:
    mod, _, name = spec.partition(":")
    if not name:
        raise ValueError(f"factory must look like 'package.module:function', got {spec!r}")
    return getattr(importlib.import_module(mod), name)


def build_dataset(spec: dict) -> Dataset:
    """Dataset from a config ``data:`` section: ``{kind: random, n, shape, n_classes, seed}`` or
    ``{factory: "package.module:callable", kwargs: {...}}`` (e.g. the emkit.cutouts Dataset).

    An optional ``pairs: {group_column, radius_nm, repeats, seed}`` wraps the dataset in
    :func:`emkit.learn.pairs.pairs_by_column`: SimCLR positives become two cutouts of one object (SegCLR-style).
    """
    spec = dict(spec or {})
    pairs = spec.pop("pairs", None)
    if "factory" in spec:
        data = _load_factory(spec["factory"])(**spec.get("kwargs", {}))
    else:
        kind = spec.pop("kind", "random")
        if kind != "random":
            raise ValueError(f"unknown data kind {kind!r}; use kind: random or factory: 'module:callable'")
        data = RandomCutoutDataset(**spec)
    if pairs:
        from .pairs import pairs_by_column

        data = pairs_by_column(data, **pairs)
    return data


def run_config(config: dict) -> pd.DataFrame:
    """Run a whole config mapping (what ``--config cfg.yaml`` holds).

    Sections: ``train`` (TrainConfig fields), ``model`` (:func:`build_encoder` arguments: name, in_channels,
    voxel_size_nm, widths, blocks, ...), ``data`` (:func:`build_dataset`), optional ``save_encoder`` (path of the
    encoder state_dict, written by rank 0) and ``history_csv`` (rank 0 writes the history there).
    """
    cfg = TrainConfig.from_dict(config.get("train"))
    torch.manual_seed(cfg.seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
    encoder = build_encoder(**(config.get("model") or {"name": "slim"}))
    dataset = build_dataset(config.get("data") or {})
    if cfg.objective.lower() == "supervised":
        hist = train_supervised(encoder, dataset, cfg)
    else:
        hist = train_ssl(encoder, dataset, cfg)
    rank = _dist_env()[0]
    if rank == 0:
        if config.get("save_encoder"):
            p = Path(config["save_encoder"])
            p.parent.mkdir(parents=True, exist_ok=True)
            torch.save(encoder.state_dict(), p)
        if config.get("history_csv"):
            p = Path(config["history_csv"])
            p.parent.mkdir(parents=True, exist_ok=True)
            hist.to_csv(p, index=False)
    return hist


def _apply_overrides(config: dict, overrides: Sequence[str]) -> dict:
    import yaml

    for ov in overrides or ():
        key, sep, val = ov.partition("=")
        if not sep:
            raise ValueError(f"--set expects section.key=value, got {ov!r}")
        node = config
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = yaml.safe_load(val)
    return config


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--config", required=True, help="YAML file with train/model/data sections")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override a config value, e.g. --set train.max_steps=10 (repeatable)")
    return parser


def run_from_args(args: argparse.Namespace) -> int:
    import yaml

    with open(args.config) as f:
        config = yaml.safe_load(f) or {}
    config = _apply_overrides(config, args.set)
    hist = run_config(config)
    if _dist_env()[0] == 0 and len(hist):
        last = hist.iloc[-1]
        print(json.dumps({"steps": int(last["step"]), "final_loss": float(last["loss"]),
                          "checkpoint": hist.attrs.get("checkpoint")}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = add_arguments(argparse.ArgumentParser(prog="python -m emkit.learn.train",
                                                   description=__doc__.splitlines()[0]))
    return run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
