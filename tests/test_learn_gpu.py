"""The GPU paths of emkit.learn: training with AMP and channels-last, resume, augmentation and embedding on CUDA.

Every test here needs a CUDA device and is skipped without one (CI has none): these run on a lent GPU machine,
``python -m pytest -m gpu``. The CPU paths of the same functions are tested in test_learn_train/augment/export.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from emkit.learn.augment import make_augment
from emkit.learn.export import embed
from emkit.learn.losses import nt_xent, swav_loss
from emkit.learn.models import build_encoder
from emkit.learn.train import RandomCutoutDataset, SimCLRObjective, TrainConfig, fit, load_checkpoint, train_ssl

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

TINY = dict(name="slim", in_channels=2, widths=(4, 8, 8, 8), voxel_size_nm=(8, 8, 40))
DS = RandomCutoutDataset(n=32, shape=(2, 8, 16, 16), n_classes=2, seed=3)


def _encoder(seed=0, **kw):
    torch.manual_seed(seed)
    return build_encoder(**{**TINY, **kw})


def _cfg(**kw):
    base = dict(batch_size=8, lr=1e-2, warmup_steps=2, proj_hidden=16, proj_dim=8, progress=False, seed=7,
                device="cuda")
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("amp", ["bf16", "fp16", "off"])
def test_ssl_trains_on_cuda_with_amp_and_channels_last(amp):
    enc = _encoder()
    hist = train_ssl(enc, DS, _cfg(max_steps=6, amp=amp, channels_last=True))
    assert hist.attrs["device"].startswith("cuda")
    assert hist["loss"].notna().all() and np.isfinite(hist["loss"]).all()
    assert (hist["samples_per_s"] > 0).all()
    assert all(p.is_cuda for p in enc.parameters())
    conv = next(m for m in enc.modules() if isinstance(m, torch.nn.Conv3d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last_3d)


def test_resume_on_cuda_gives_the_same_next_losses(tmp_path):
    # fp32, deterministic cuDNN: the resumed run must repeat the uninterrupted one to rounding. SGD, not AdamW:
    # max_pool3d's CUDA backward has no deterministic kernel (atomic adds), and Adam's first steps move each
    # weight by ~lr * sign(grad), so a gradient that is ~0 up to rounding gets a full step of either sign
    # (measured on an H100: AdamW runs of this test differed by up to 9 % in loss at step 6, SGD ones by < 1e-4)
    cfg = dict(max_steps=6, checkpoint_every=3, deterministic=True, amp="off", optimizer="sgd")
    full = fit(SimCLRObjective(_encoder(), 16, 8), DS, _cfg(**cfg))
    fit(SimCLRObjective(_encoder(), 16, 8), DS, _cfg(checkpoint_dir=str(tmp_path / "ck"), **cfg))
    ck = tmp_path / "ck" / "step_00000003.pt"
    assert load_checkpoint(ck)["step"] == 3
    resumed = fit(SimCLRObjective(_encoder(seed=99), 16, 8), DS, _cfg(resume=str(ck), **cfg))
    np.testing.assert_allclose(resumed["loss"].to_numpy()[3:], full["loss"].to_numpy()[3:], rtol=1e-4)


def test_augmentation_on_cuda_equals_augmentation_on_cpu():
    g = torch.Generator().manual_seed(0)
    m = (torch.rand(4, 1, 8, 16, 16, generator=g) > 0.6).float()
    x = torch.cat([torch.rand(4, 1, 8, 16, 16, generator=g), m], dim=1)
    # the noise field is drawn on the device itself (augment.py), so raw is compared without noise
    for spec in ({"preset": "simclr_em", "p_noise": 0.0}, {"preset": "segclr", "p_noise": 0.0}):
        aug = make_augment(spec)
        on_cpu = aug(x, torch.Generator().manual_seed(5))
        on_gpu = aug(x.cuda(), torch.Generator().manual_seed(5))
        assert on_gpu.is_cuda and on_gpu.shape == on_cpu.shape
        # parameters come from the CPU generator: the same transforms on both devices, so the masks agree (a
        # resampled voxel that lands on the 0.5 threshold may round either way: at most 1 in 1000)
        assert (on_gpu[:, 1:].cpu() != on_cpu[:, 1:]).float().mean().item() < 1e-3
        torch.testing.assert_close(on_gpu[:, :1].cpu(), on_cpu[:, :1], rtol=1e-4, atol=1e-4)


def test_nt_xent_on_cuda_matches_cpu():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(16, 32, generator=g), torch.randn(16, 32, generator=g)
    assert nt_xent(a.cuda(), b.cuda(), 0.1).item() == pytest.approx(nt_xent(a, b, 0.1).item(), rel=1e-5)


def test_swav_on_cuda_matches_cpu_and_trains_in_bf16():
    g = torch.Generator().manual_seed(2)
    s_a, s_b = torch.rand(16, 6, generator=g) * 2 - 1, torch.rand(16, 6, generator=g) * 2 - 1
    assert swav_loss(s_a.cuda(), s_b.cuda()).item() == pytest.approx(swav_loss(s_a, s_b).item(), rel=1e-5)
    hist = train_ssl(_encoder(), DS, _cfg(max_steps=4, amp="bf16", objective="swav", n_prototypes=4))
    assert np.isfinite(hist["loss"]).all()


def test_embed_on_cuda_matches_cpu_and_amp_stays_close():
    enc = _encoder()
    on_cpu = embed(enc, DS, batch_size=8, device="cpu", progress=False)
    old = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # compare in true fp32
    try:
        on_gpu = embed(enc, DS, batch_size=8, device="cuda", progress=False)
    finally:
        torch.backends.cudnn.allow_tf32 = old
    cols = [c for c in on_cpu.columns if c.startswith("emb_")]
    assert on_gpu["id"].tolist() == on_cpu["id"].tolist()
    np.testing.assert_allclose(on_gpu[cols].to_numpy(), on_cpu[cols].to_numpy(), rtol=1e-4, atol=1e-5)
    bf16 = embed(enc, DS, batch_size=8, device="cuda", amp=True, progress=False)[cols].to_numpy()
    ref = on_cpu[cols].to_numpy()
    assert np.linalg.norm(bf16 - ref) / np.linalg.norm(ref) < 2e-2  # bf16 operands: 1e-3 .. 1e-2


def test_resnet18_step_on_64_cube_in_bf16_channels_last():
    enc = build_encoder("resnet18", in_channels=3)
    hist = train_ssl(enc, RandomCutoutDataset(n=8, shape=(3, 64, 64, 64), seed=0),
                     _cfg(max_steps=2, batch_size=4, amp="bf16", channels_last=True, proj_hidden=512,
                          proj_dim=128))
    assert np.isfinite(hist["loss"]).all()


@pytest.mark.parametrize("objective", ["simclr", "swav"])
def test_torchrun_entry_point_on_one_gpu(tmp_path, objective):
    # one NCCL rank: the process group, DDP, and the cross-rank gathers (NT-Xent) and sums (Sinkhorn) on CUDA
    cfg = {
        "train": dict(objective=objective, n_prototypes=4, batch_size=4, max_steps=3, proj_hidden=16, proj_dim=8,
                      progress=False, device="cuda", amp="bf16", channels_last=True,
                      checkpoint_dir=str(tmp_path / "ck")),
        "model": dict(TINY),
        "data": {"kind": "random", "n": 16, "shape": [2, 8, 16, 16]},
        "save_encoder": str(tmp_path / "enc.pt"),
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
                        "-m", "emkit.learn.train", "--config", str(path)],
                       capture_output=True, text=True, env=dict(os.environ), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    state = load_checkpoint(tmp_path / "ck" / "last.pt")
    assert state["step"] == 3 and (tmp_path / "enc.pt").exists()
