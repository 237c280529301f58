import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from emkit.learn.models import build_encoder
from emkit.learn.train import (
    RandomCutoutDataset, SimCLRObjective, SwAVObjective, TrainConfig, collate_cutouts, fit, load_checkpoint, main,
    train_ssl, train_supervised, warmup_cosine,
)

TINY = dict(name="slim", in_channels=2, widths=(4, 8, 8, 8), voxel_size_nm=(8, 8, 40))


def _encoder(seed=0):
    torch.manual_seed(seed)
    return build_encoder(**TINY)


def _cfg(**kw):
    base = dict(batch_size=4, lr=1e-2, warmup_steps=2, proj_hidden=16, proj_dim=8, progress=False, seed=7)
    base.update(kw)
    return TrainConfig(**base)


DS = RandomCutoutDataset(n=16, shape=(2, 8, 16, 16), n_classes=2, seed=3)


def test_warmup_cosine_schedule():
    f = [warmup_cosine(s, 10, 2, 0.1) for s in range(10)]
    assert f[0] == 0.5 and f[1] == 1.0 and f[2] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[2:], f[3:]))
    assert warmup_cosine(10, 10, 2, 0.1) == pytest.approx(0.1)


def test_ssl_history_and_tensorboard(tmp_path):
    hist = train_ssl(_encoder(), DS, _cfg(epochs=2, log_dir=str(tmp_path / "tb")))
    assert list(hist["step"]) == list(range(1, 9))
    assert list(hist["epoch"]) == [0] * 4 + [1] * 4
    assert hist["loss"].notna().all() and (hist["samples_per_s"] > 0).all()
    assert hist["lr"].iloc[0] == pytest.approx(5e-3) and hist["lr"].iloc[1] == pytest.approx(1e-2)
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_train_ssl_passes_the_decoupled_loss_to_simclr():
    plain = train_ssl(_encoder(), DS, _cfg(max_steps=2))["loss"]
    decoupled = train_ssl(_encoder(), DS, _cfg(max_steps=2, decoupled=True))["loss"]
    # same weights, batch and views: the first step's loss differs by the positive's share of the denominator
    assert np.isfinite(decoupled).all() and (decoupled < plain).all()


def test_resume_gives_same_next_losses_as_uninterrupted_run(tmp_path):
    cfg = dict(max_steps=6, checkpoint_every=3)
    full = fit(SimCLRObjective(_encoder(), 16, 8), DS, _cfg(**cfg))
    enc_a = _encoder()
    obj_a = SimCLRObjective(enc_a, 16, 8)
    first = fit(obj_a, DS, _cfg(checkpoint_dir=str(tmp_path / "ck"), **cfg))
    assert first["loss"].tolist() == full["loss"].tolist()
    ck = tmp_path / "ck" / "step_00000003.pt"
    state = load_checkpoint(ck)
    assert state["step"] == 3 and {"model", "optimizer", "scheduler", "scaler", "rng"} <= set(state)
    # a fresh process-like start: different initial weights, resume from the step-3 checkpoint
    obj_b = SimCLRObjective(_encoder(seed=99), 16, 8)
    resumed = fit(obj_b, DS, _cfg(resume=str(ck), **cfg))
    assert resumed["step"].tolist() == list(range(1, 7))
    assert resumed["loss"].tolist()[3:] == full["loss"].tolist()[3:]  # bitwise on CPU
    for pa, pb in zip(obj_a.state_dict().values(), obj_b.state_dict().values()):
        assert torch.equal(pa, pb)


def test_swav_freezes_prototypes_then_trains_them_and_resumes_exactly(tmp_path):
    cfg = dict(max_steps=4, checkpoint_every=2, objective="swav", n_prototypes=5, freeze_prototypes_steps=2)
    obj = SwAVObjective(_encoder(), 16, 8, n_prototypes=5, freeze_steps=2)
    w0 = obj.prototypes.weight.detach().clone()
    head0 = obj.head.net[0].weight.detach().clone()
    fit(obj, DS, _cfg(**{**cfg, "max_steps": 2}))
    assert torch.equal(obj.prototypes.weight, w0)  # frozen for the first two steps ...
    assert not torch.equal(obj.head.net[0].weight, head0)  # ... while the rest trains
    full = fit(SwAVObjective(_encoder(), 16, 8, n_prototypes=5, freeze_steps=2), DS, _cfg(**cfg))
    assert full["loss"].notna().all()
    obj_a = SwAVObjective(_encoder(), 16, 8, n_prototypes=5, freeze_steps=2)
    fit(obj_a, DS, _cfg(checkpoint_dir=str(tmp_path / "ck"), **cfg))
    assert int(obj_a.forward_steps) == 4 and not torch.equal(obj_a.prototypes.weight, w0)  # trained after step 2
    # resume from step 2, where the freeze ends: the step count travels in the checkpoint
    obj_b = SwAVObjective(_encoder(seed=99), 16, 8, n_prototypes=5, freeze_steps=2)
    resumed = fit(obj_b, DS, _cfg(resume=str(tmp_path / "ck" / "step_00000002.pt"), **cfg))
    assert resumed["loss"].tolist()[2:] == full["loss"].tolist()[2:]
    # train_ssl builds the same objective from the config
    hist = train_ssl(_encoder(), DS, _cfg(**{**cfg, "max_steps": 2}))
    assert len(hist) == 2 and hist["loss"].notna().all()
    with pytest.raises(ValueError, match="simclr, simsiam or swav"):
        train_ssl(_encoder(), DS, _cfg(objective="byol"))


def test_supervised_reference_learns_separable_labels():
    class Separable(torch.utils.data.Dataset):
        def __len__(self):
            return 16

        def __getitem__(self, i):
            g = torch.Generator().manual_seed(i)
            lab = ["axon", "dendrite"][i % 2]
            x = torch.randn(2, 8, 16, 16, generator=g) * 0.1 + (2.0 if lab == "axon" else -2.0)
            return {"x": x, "id": i, "label": lab, "valid": i != 5}

    hist = train_supervised(_encoder(), Separable(), _cfg(epochs=3, lr=3e-3, warmup_steps=0))
    assert hist.attrs["classes"] == ["axon", "dendrite"]
    assert hist["loss"].iloc[-3:].mean() < hist["loss"].iloc[:3].mean()


def test_collate_keeps_string_labels_and_drops_nothing():
    b = collate_cutouts([{"x": torch.zeros(1, 2, 2, 2), "id": 3, "label": "a", "valid": True},
                         {"x": torch.ones(1, 2, 2, 2), "id": 4, "label": None, "valid": False}])
    assert b["x"].shape == (2, 1, 2, 2, 2) and b["id"].tolist() == [3, 4] and b["label"] == ["a", None]
    assert b["valid"].tolist() == [True, False]


class CutoutLike(torch.utils.data.Dataset):
    """Items shaped like emkit.cutouts.CutoutDataset: per-voxel ``valid``, ``at_border``, "" for no label."""

    def __init__(self, n=12):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        lab = ["", "bouton", "spine"][i % 3]
        x = torch.randn(2, 8, 16, 16, generator=g) + (1.0 if lab == "bouton" else 0.0)
        valid = torch.ones(8, 16, 16, dtype=torch.bool)
        if i == 4:
            valid[:] = False  # entirely outside the volume
        elif i == 7:
            valid[:, :, :5] = False  # at the border: kept
        return {"x": x, "id": 500 + i, "label": lab, "valid": valid, "at_border": bool(i in (4, 7))}


def test_cutout_like_items_per_voxel_valid_and_missing_labels():
    from emkit.learn.train import sample_valid

    ds = CutoutLike()
    b = collate_cutouts([ds[i] for i in range(8)])
    assert b["valid"].shape == (8, 8, 16, 16) and b["at_border"].dtype == torch.bool
    assert sample_valid(b).tolist() == [True] * 4 + [False] + [True] * 3
    assert sample_valid(b, 0.5).tolist() == [True] * 4 + [False] + [True] * 3
    assert sample_valid(b, 0.75).tolist() == [True] * 4 + [False, True, True, False]
    # supervised: "" is a missing label (dropped), classes come from the labelled samples
    seen = []

    class Spy(CutoutLike):
        def __getitem__(self, i):
            seen.append(i)
            return super().__getitem__(i)

    hist = train_supervised(_encoder(), Spy(), _cfg(batch_size=6, epochs=2, warmup_steps=0, min_batch=2))
    assert hist.attrs["classes"] == ["bouton", "spine"] and len(hist) == 4
    assert hist["loss"].notna().sum() >= 2  # batches left with < 2 labelled samples are skipped (NaN)
    with pytest.raises(ValueError, match="not one of the classes"):
        train_supervised(_encoder(), CutoutLike(), _cfg(batch_size=6, max_steps=1), classes=["bouton", "axon"])
    # SSL on the same items: the fully invalid cutout is dropped, the rest train
    assert len(train_ssl(_encoder(), CutoutLike(), _cfg(max_steps=3))) == 3


def _write_cfg(tmp_path, **train):
    cfg = {
        "train": dict(dict(objective="simsiam", batch_size=2, max_steps=2, simsiam_dim=16, simsiam_pred_dim=8,
                           progress=False, checkpoint_dir=str(tmp_path / "ck")), **train),
        "model": dict(TINY),
        "data": {"kind": "random", "n": 8, "shape": [2, 8, 16, 16]},
        "save_encoder": str(tmp_path / "enc.pt"),
        "history_csv": str(tmp_path / "hist.csv"),
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_config_entry_point_in_process(tmp_path, capsys):
    path = _write_cfg(tmp_path)
    assert main(["--config", str(path), "--set", "train.max_steps=3"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["steps"] == 3 and Path(out["checkpoint"]).exists()
    assert (tmp_path / "enc.pt").exists() and (tmp_path / "hist.csv").exists()


@pytest.mark.slow  # two torch processes start in 9-18 s on the shared 2-core machine
def test_ddp_two_processes_gloo_via_torchrun(tmp_path):
    path = _write_cfg(tmp_path, objective="simclr", proj_hidden=16, proj_dim=8)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t0 = time.time()
    r = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "emkit.learn.train", "--config", str(path)],
        capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    state = load_checkpoint(tmp_path / "ck" / "last.pt")
    assert state["world_size"] == 2 and state["step"] == 2
    # 8 samples / 2 ranks / batch 2 -> 2 steps per epoch; history (rank 0) reports the global sample rate
    assert [h["step"] for h in state["history"]] == [1, 2]
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1  # only rank 0 reports
    assert time.time() - t0 < 60


def test_amp_bf16_sgd_on_cpu_and_channels_last_ignored_with_it():
    runs = [train_ssl(_encoder(), DS, _cfg(max_steps=2, amp="bf16", optimizer="sgd"))["loss"].tolist()
            for _ in range(2)]
    assert runs[0] == runs[1] and all(v == v for v in runs[0])  # deterministic, finite
    with pytest.warns(UserWarning, match="GPU option"):
        train_ssl(_encoder(), DS, _cfg(max_steps=1, amp="bf16", channels_last=True))


def test_channels_last_in_fp32_on_cpu_is_deterministic_and_matches_the_default_layout():
    runs = [train_ssl(_encoder(), DS, _cfg(max_steps=4, channels_last=True))["loss"].tolist() for _ in range(2)]
    assert runs[0] == runs[1] and all(v == v for v in runs[0])
    plain = train_ssl(_encoder(), DS, _cfg(max_steps=4))["loss"].tolist()
    assert np.allclose(runs[0], plain, rtol=1e-3, atol=1e-4)  # the same sums in another order
    with pytest.raises(ValueError, match="amp must be"):
        train_ssl(_encoder(), DS, _cfg(max_steps=1, amp="fp8"))


def test_emkit_cli_train_then_embed(tmp_path):
    import argparse

    from emkit.learn.cli import register_cli
    from emkit.learn.export import read_embeddings

    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers(dest="command"))
    path = _write_cfg(tmp_path)
    args = parser.parse_args(["train", "--config", str(path), "--set", "train.max_steps=1"])
    assert args.func(args) == 0
    out = tmp_path / "emb.parquet"
    args = parser.parse_args(["embed", "--config", str(path), "--encoder", str(tmp_path / "enc.pt"),
                              "--out", str(out), "--model-id", "tiny-simsiam"])
    assert args.func(args) == 0
    df = read_embeddings(out)
    assert len(df) == 8 and df.attrs["model_id"] == "tiny-simsiam" and "emb_7" in df.columns
    out_sym = tmp_path / "emb_sym.parquet"
    args = parser.parse_args(["embed", "--config", str(path), "--encoder", str(tmp_path / "enc.pt"),
                              "--out", str(out_sym), "--symmetries", "plane_z"])
    assert args.func(args) == 0
    sym = read_embeddings(out_sym)
    assert json.loads(sym.attrs["spec"])["symmetries"] == "plane_z"
    assert not np.allclose(sym.filter(like="emb_").to_numpy(), df.filter(like="emb_").to_numpy())


def test_train_reexports_the_objectives_and_batch_helpers_it_was_split_from():
    from emkit.learn import batches, objectives, train

    for module in (objectives, batches):
        for name in module.__all__:
            if name in train.__all__:
                assert getattr(train, name) is getattr(module, name), f"train.{name} is not {module.__name__}.{name}"
    assert {"SimCLRObjective", "SwAVObjective", "collate_cutouts", "RandomCutoutDataset"} <= set(train.__all__)
