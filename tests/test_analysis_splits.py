"""Tests of emkit.analysis.splits: no group leaks, balance beats naive random group assignment."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from emkit.analysis import splits as sp
from emkit.paths import realdata_dir


def skewed_toy(seed: int = 1) -> pd.DataFrame:
    """40 neurons of 2-29 synapses; 30 neurons mostly 'A', 7 mostly 'B', 3 mostly 'C' (skewed classes and sizes)."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(40):
        dominant = "A" if g < 30 else ("B" if g < 37 else "C")
        for _ in range(int(rng.integers(2, 30))):
            label = dominant if rng.random() < 0.85 else str(rng.choice(["A", "B", "C"]))
            rows.append({"id": len(rows), "neuron_id": 7000 + g, "label": label})
    return pd.DataFrame(rows).set_index(pd.Index(np.arange(len(rows)) * 3 + 5))  # a non-default index


def test_group_split_no_leakage_and_fractions():
    df = skewed_toy()
    split = sp.group_split(df, "neuron_id", fractions=(0.7, 0.15, 0.15), stratify_col="label", seed=0)
    assert split.index.equals(df.index) and split.name == "split"
    assert set(split) == {"train", "val", "test"}
    assert (df.groupby(split)["neuron_id"].nunique().sum()) == df["neuron_id"].nunique()  # each group in 1 part
    assert (pd.DataFrame({"g": df["neuron_id"], "p": split}).groupby("g")["p"].nunique() == 1).all()
    sp.check_no_leakage(split, df["neuron_id"])
    frac = split.value_counts(normalize=True)
    assert frac["train"] == pytest.approx(0.7, abs=0.03)
    assert frac["val"] == pytest.approx(0.15, abs=0.03) and frac["test"] == pytest.approx(0.15, abs=0.03)
    # deterministic
    assert split.equals(sp.group_split(df, "neuron_id", stratify_col="label", seed=0))


def test_group_split_more_balanced_than_random_group_assignment():
    df = skewed_toy()
    split = sp.group_split(df, "neuron_id", stratify_col="label", seed=0)
    ours = sp.split_imbalance(split, df["label"])
    naive = [sp.split_imbalance(sp.random_split(df, seed=s, group_col="neuron_id"), df["label"]) for s in range(10)]
    for s in range(10):
        sp.check_no_leakage(sp.random_split(df, seed=s, group_col="neuron_id"), df["neuron_id"])
    assert ours < 0.05
    assert ours < min(naive)  # better than every one of 10 naive group splits
    assert np.mean(naive) > 3 * ours
    summary = sp.split_summary(df, split, "label", "neuron_id")
    assert summary["n_rows"].sum() == len(df) and summary["n_groups"].sum() == 40
    assert {"A", "B", "C"} <= set(summary.columns)


def test_check_no_leakage_catches_row_level_split():
    df = skewed_toy()
    leaky = sp.random_split(df, seed=0)  # rows shuffled: neurons end up in several parts
    with pytest.raises(ValueError, match=r"group 70\d\d is in parts"):
        sp.check_no_leakage(leaky, df["neuron_id"])


def test_random_split_stratified_and_indices():
    df = skewed_toy()
    split = sp.random_split(df, fractions=(0.8, 0.2), stratify_col="label", seed=3)
    assert set(split) == {"train", "test"}
    assert sp.split_imbalance(split, df["label"]) < 0.02  # per-class cut keeps the mix
    idx = sp.split_indices(split)
    assert sorted(np.concatenate(list(idx.values()))) == list(range(len(df)))
    with pytest.raises(ValueError, match="summing to 1"):
        sp.random_split(df, fractions=(0.5, 0.2))


def test_group_split_sizes_only_and_errors():
    df = skewed_toy()
    split = sp.group_split(df, "neuron_id", fractions=(0.5, 0.5), seed=2)
    assert split.value_counts(normalize=True)["train"] == pytest.approx(0.5, abs=0.01)
    with pytest.raises(ValueError, match="cannot fill"):
        sp.group_split(df[df["neuron_id"] == 7000], "neuron_id")
    with pytest.raises(ValueError, match="group column"):
        sp.group_split(df, "root_id")


@pytest.mark.realdata
def test_group_split_synister_hemilineages():
    """synister's own use: split FAFB skeletons by hemilineage, balancing the known transmitter."""
    path = realdata_dir() / "tables" / "synister_fafb_v3" / "skeletons_v3.json"
    if not path.exists():
        pytest.skip(f"real data absent: {path}")
    raw = json.loads(path.read_text())
    df = pd.DataFrame([{"skeleton_id": int(k), "hemilineage": v["hemi_lineage_id"],
                        "nt": (v["nt_known"] or [None])[0]} for k, v in raw.items()])
    split = sp.group_split(df, "hemilineage", stratify_col="nt", seed=0)
    sp.check_no_leakage(split, df["hemilineage"])
    ours = sp.split_imbalance(split, df["nt"])
    naive = [sp.split_imbalance(sp.random_split(df, seed=s, group_col="hemilineage"), df["nt"]) for s in range(10)]
    assert ours < np.mean(naive)
