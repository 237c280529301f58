"""Tests of emkit.analysis.plots (Agg backend; UMAP only in one tiny `slow` test)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from emkit.analysis import evaluate as ev  # noqa: E402
from emkit.analysis import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=10.0, size=(3, 5))
    x = np.concatenate([c + 0.3 * rng.normal(size=(20, 5)) for c in centres])
    return x, np.repeat(["a", "b", "c"], 20)


def test_pca_map_and_given_coords(tmp_path):
    x, y = _blobs()
    ax = plots.umap_plot(x, y, method="pca", seed=0)
    assert ax.emkit_coords.shape == (60, 2)
    assert ax.get_xlabel() == "PCA 1"
    assert len(ax.collections[0].get_offsets()) == 60
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["a", "b", "c"]
    ax.figure.savefig(tmp_path / "pca.png")
    assert (tmp_path / "pca.png").stat().st_size > 1000
    fig, axes = plt.subplots(1, 2)
    out = plots.umap_plot(x, None, ax=axes[1], coords=ax.emkit_coords)
    assert out is axes[1] and np.array_equal(out.emkit_coords, ax.emkit_coords)
    with pytest.raises(ValueError, match="umap' or 'pca"):
        plots.umap_plot(x, y, method="tsne")


def test_loss_curve_from_list_of_dicts_and_dict():
    hist = [{"epoch": e, "loss": 5.0 / (e + 1), "val_loss": 5.5 / (e + 1), "lr": 1e-3} for e in range(5)]
    ax = plots.loss_curve(hist)
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"
    assert len(ax.get_lines()) >= 2  # loss and val_loss, not lr
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["loss", "val_loss"]
    train_hist = pd.DataFrame({"step": range(6), "epoch": [0, 0, 0, 1, 1, 1], "loss": np.linspace(4, 2, 6),
                               "lr": 1e-3, "samples_per_s": 50.0, "time_s": np.arange(6.0)})
    ax = plots.loss_curve(train_hist)  # emkit.learn.train's history columns
    assert ax.get_xlabel() == "step" and [t.get_text() for t in ax.get_legend().get_texts()] == ["loss"]
    ax = plots.loss_curve({"loss": [3.0, 2.0, 1.0]}, logy=True)
    assert ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="no column"):
        plots.loss_curve(hist, y=["acc"])


def test_confusion_matrix_plot_values():
    y_true = ["a", "a", "b", "b", "c", "c"]
    y_pred = ["a", "b", "b", "b", "c", "a"]
    ax = plots.confusion_matrix_plot(y_true, y_pred, classes=["a", "b", "c"])
    expected = np.array([[0.5, 0.5, 0.0], [0.0, 1.0, 0.0], [0.5, 0.0, 0.5]])
    assert np.allclose(ax.emkit_matrix, expected)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    counts = plots.confusion_matrix_plot(y_true, y_pred, normalize=None).emkit_matrix
    assert counts.sum() == 6 and counts[2, 0] == 1


def test_metrics_bar_and_label_budget_plot():
    table = ev.metrics_table({"silhouette_euclidean": 0.1, "hopkins": 0.8, "knn_accuracy": 0.9})
    ax = plots.metrics_bar(table)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["silhouette_euclidean", "hopkins", "knn_accuracy"]
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["failed", "no target", "passed"]
    x, y = _blobs()
    curve = ev.label_budget_curve(x, y, np.arange(0, 60, 2), np.arange(1, 60, 2), fractions=(0.1, 1.0),
                                  progress=False)
    ax = plots.label_budget_plot(curve)
    assert ax.get_xscale() == "log"


def test_metrics_bar_draws_intervals():
    metrics = {"knn_accuracy": {"value": 0.6, "unit": "fraction", "interval": (0.5, 0.7)},
               "hopkins": {"value": 0.8, "unit": "unitless"}}
    ax = plots.metrics_bar(ev.metrics_table(metrics, targets={}))
    drawn = [line.get_xdata() for line in ax.lines]
    assert [0.5, 0.7] in [list(x) for x in drawn]


def test_label_budget_comparison_draws_one_line_per_representation_with_bars():
    table = pd.DataFrame({
        "representation": ["ssl", "ssl", "supervised", "supervised"],
        "label_fraction": [0.1, 1.0, 0.1, 1.0],
        "value": [0.4, 0.5, 0.45, 0.55],
        "low": [0.3, 0.4, 0.35, 0.45],
        "high": [0.5, 0.6, 0.55, 0.65],
    })
    ax = plots.label_budget_comparison(table, chance=1 / 6)
    bars = [c for c in ax.containers if c.has_yerr]
    assert len(bars) == 2
    # the data line of each container: x in percent (spread apart a little), y the accuracies
    ssl_line = bars[0].lines[0]
    np.testing.assert_allclose(ssl_line.get_ydata(), [0.4, 0.5])
    np.testing.assert_allclose(ssl_line.get_xdata(), [10 * 0.93, 100 * 0.93])
    assert ax.get_xscale() == "log"
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["chance", "ssl", "supervised"]
    with pytest.raises(ValueError, match="lacks columns"):
        plots.label_budget_comparison(table.drop(columns="value"))


def test_label_budget_comparison_gives_every_line_its_own_colour():
    from matplotlib.colors import to_hex

    names = [f"representation {i}" for i in range(13)]  # more than the default cycle's ten
    table = pd.DataFrame({"representation": np.repeat(names, 2), "label_fraction": np.tile([0.1, 1.0], 13),
                          "value": np.linspace(0.2, 0.8, 26)})
    ax = plots.label_budget_comparison(table)
    colours = [to_hex(c.lines[0].get_color()) for c in ax.containers]
    assert len(colours) == 13 and len(set(colours)) == 13
    too_many = pd.DataFrame({"representation": [f"r{i}" for i in range(21)], "label_fraction": 1.0, "value": 0.5})
    with pytest.raises(ValueError, match="at most 20"):
        plots.label_budget_comparison(too_many)


@pytest.mark.slow
def test_umap_plot_tiny():
    """Real UMAP on 60 points (numba JIT: ~35 s in a fresh process)."""
    x, y = _blobs()
    ax = plots.umap_plot(x, y, seed=0, n_neighbors=10)
    xy = ax.emkit_coords
    assert xy.shape == (60, 2) and np.isfinite(xy).all()
    assert ax.get_xlabel() == "UMAP 1"
    # separable blobs stay separated in 2-D
    assert ev.silhouette(xy, y) > 0.5
    # umap_plot switched numba's file cache on for umap's kernels; a second call finds none left to switch
    from numba.core.caching import NullCache
    import umap.umap_

    assert not isinstance(umap.umap_.smooth_knn_dist._cache, NullCache)
    assert plots.cache_umap_kernels() == 0


def test_decodability_heatmap_writes_values_and_the_extra_row():
    r2 = pd.DataFrame({"a": [0.9, -0.2], "b": [0.1, 0.5]}, index=["ssl", "supervised"])
    share = pd.Series({"b": 0.7, "a": 0.05})
    ax = plots.decodability_heatmap(r2, extra_row=share)
    m = ax.emkit_matrix
    assert m.shape == (4, 2)
    assert np.allclose(m[:2], [[0.9, 0.1], [-0.2, 0.5]])
    assert np.isnan(m[2]).all() and np.allclose(m[3], [0.05, 0.7])  # the share follows r2's column order
    written = {t.get_text() for t in ax.texts}
    assert {"0.90", "-0.20", "0.70"} <= written
    with pytest.raises(ValueError, match="no value for column"):
        plots.decodability_heatmap(r2, extra_row=pd.Series({"a": 1.0}))


def test_throughput_bars_one_bar_per_setting_and_batch_with_labels():
    rows = [dict(batch=32, amp="off", layout="contiguous", samples_per_s=800.0),
            dict(batch=32, amp="bf16", layout="channels_last_3d", samples_per_s=900.0),
            dict(batch=64, amp="bf16", layout="channels_last_3d", samples_per_s=1300.0)]
    ax = plots.throughput_bars(rows)
    heights = sorted(round(p.get_height()) for p in ax.patches if p.get_height() > 0)
    assert heights == [800, 900, 1300]
    assert sorted(t.get_text() for t in ax.get_legend().get_texts()) == ["bf16 / channels_last_3d", "off / contiguous"]
    assert {t.get_text() for t in ax.texts} >= {"800", "900", "1300"}
    with pytest.raises(ValueError, match="lack column"):
        plots.throughput_bars([dict(batch=1, samples_per_s=2.0)])


def test_the_recorded_gpu_measurements_name_their_device_and_commands():
    import json

    from emkit import paths

    record = json.loads((paths.measured_dir() / "gpu_h100.json").read_text())
    assert "H100" in record["device"] and record["date"]
    assert record["throughput"]["command"] and record["scale_up"]["command"]
    rows = record["throughput"]["rows"]
    assert {r["batch"] for r in rows} == {32, 64, 128} and all(r["samples_per_s"] > 0 for r in rows)
    plots.throughput_bars(rows)


def test_interval_dots_draws_one_dot_and_line_per_row():
    rows = [dict(run="a", probe=0.5, ci=[0.4, 0.6], kind="ssl"), dict(run="b", probe=0.7, ci=None, kind="sup"),
            dict(run="c", probe=0.6, ci=(0.5, 0.65), kind="ssl")]
    ax = plots.interval_dots(rows, "probe", "ci", label="run", hue="kind")
    dots = [ln for ln in ax.lines if ln.get_marker() == "o"]
    segments = [ln for ln in ax.lines if ln.get_marker() != "o"]
    assert [float(d.get_xdata()[0]) for d in dots] == [0.5, 0.7, 0.6]
    assert [float(d.get_ydata()[0]) for d in dots] == [2, 1, 0]  # first row on top
    assert [list(s.get_xdata()) for s in segments] == [[0.4, 0.6], [0.5, 0.65]]
    assert dict(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()])) == {2: "a", 1: "b", 0: "c"}
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ssl", "sup"]
    with pytest.raises(ValueError, match=r"lack column\(s\) \['ci'\]"):
        plots.interval_dots([dict(run="a", probe=0.5)], "probe", "ci")


def test_the_recorded_neuron_pair_runs_name_their_commands_and_match_their_ratios():
    import json

    from emkit import paths

    record = json.loads((paths.measured_dir() / "cpu_neuron_pairs.json").read_text())
    assert record["date"] and "CPU" in record["device"]
    assert {"pack", "view pairs", "neuron pairs", "judge"} <= set(record["commands"])
    runs = {(r["world"], r["run"]): r for r in record["runs"]}
    assert len(runs) == len(record["runs"])
    assert len({(r["world"], r["positives"], r["steps"], r["seed"]) for r in record["runs"]}) == len(runs)
    for r in record["runs"]:
        lo, hi = r["probe10_interval"]
        assert lo <= r["probe10"] <= hi
    for p in record["paired_ratios"]:
        assert (p["world"], p["ssl"]) in runs and (p["world"], p["supervised"]) in runs
        assert runs[p["world"], p["ssl"]]["steps"] == runs[p["world"], p["supervised"]]["steps"]  # trained as long
        assert p["interval"][0] <= p["ratio"] <= p["interval"][1]
        if p["readout"] == "per synapse":  # the ratio is the SSL 10 % probe over the reference's all-label probe
            ssl, sup = runs[p["world"], p["ssl"]], runs[p["world"], p["supervised"]]
            assert p["ratio"] == pytest.approx(ssl["probe10"] / sup["probe100"], abs=2e-3)
    plots.interval_dots(record["runs"], "probe10", "probe10_interval", hue="positives")
