"""Figures for the book: 2-D maps of embeddings, training curves, confusion matrices, metric bars.

Every function draws with a seaborn style (``whitegrid`` unless told), takes an optional matplotlib ``ax`` and
returns the ``Axes`` it drew on (``ax.figure`` is the Figure), so notebooks can compose panels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["embed_2d", "cache_umap_kernels", "warm_umap_kernels", "umap_plot", "loss_curve", "confusion_matrix_plot",
           "metrics_bar", "throughput_bars", "interval_dots", "label_budget_plot"]


def _new_ax(ax: Any, figsize: tuple[float, float], style: str):
    import matplotlib.pyplot as plt
    import seaborn as sns

    if ax is not None:
        return ax
    with sns.axes_style(style):
        _, ax = plt.subplots(figsize=figsize)
    return ax


def cache_umap_kernels() -> int:
    """Let numba keep umap-learn's compiled kernels on disk, so that only the first process pays for compiling them.

    umap-learn 0.5 compiles its nearest-neighbour, fuzzy-set and layout kernels with numba on every fresh process
    (their decorators ask for no cache); every notebook kernel is one. This switches on numba's file cache for
    the umap dispatchers that have none, before their first call. Measured on 1600 x 128 points, 2 cores: a fresh
    process's first fit took 21-43 s without the cache and 6 s once an earlier process had filled it (``fit`` of
    a second fit in one process: 6-7 s), the same coordinates to the last bit. The cache lives where numba puts
    it (``__pycache__`` beside umap's sources, or ``NUMBA_CACHE_DIR``) and numba rebuilds it when umap changes.

    Returns
    -------
    int
        Number of kernels switched over (0 when numba's internals moved and nothing was touched).
    """
    try:
        import umap.distances
        import umap.layouts
        import umap.umap_
        import umap.utils
        from numba.core.caching import NullCache
        from numba.core.dispatcher import Dispatcher
    except ImportError:
        return 0
    switched = 0
    for module in (umap.umap_, umap.utils, umap.layouts, umap.distances):
        for kernel in list(vars(module).values()):
            if isinstance(kernel, Dispatcher) and isinstance(getattr(kernel, "_cache", None), NullCache):
                try:
                    kernel.enable_caching()
                    switched += 1
                except Exception:  # noqa: BLE001 - a speed-up only: leave the kernel as umap made it
                    pass
    return switched


def warm_umap_kernels(n_points: int = 300, dim: int = 16, seed: int = 0) -> float:
    """Compile umap-learn's kernels into numba's file cache by one UMAP fit of random points.

    A later process then fits without compiling (:func:`cache_umap_kernels`): the book runs this in a background
    process while the first chapters work, so that the evaluation chapter's first UMAP does not wait for numba.
    Measured on 2 cores with the caches emptied: a fresh process's UMAP of the book's 1596 x 128 SSL embedding took
    51 s; after this warm-up (51 s, on 300 x 16 random points) it took 9 s, as after a fit of the same embedding.
    The kernels depend on the dtype (float64, as :func:`embed_2d` passes) and the code path (exact neighbours below
    4,096 points), not on the number of points or dimensions.

    Parameters
    ----------
    n_points, dim : int
        Size of the random (n_points, dim) sample.
    seed : int
        Seed of the sample and of UMAP.

    Returns
    -------
    float
        Seconds the fit took.
    """
    import time

    x = np.random.default_rng(seed).normal(size=(int(n_points), int(dim)))
    start = time.perf_counter()
    embed_2d(x, method="umap", seed=seed)
    return time.perf_counter() - start


def embed_2d(
    emb: np.ndarray,
    method: str = "umap",
    seed: int = 0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "euclidean",
) -> np.ndarray:
    """2-D coordinates of an embedding by UMAP (McInnes et al. 2018, umap-learn) or PCA.

    Parameters
    ----------
    emb : array, shape (N, D)
    method : {"umap", "pca"}
        PCA only when asked for explicitly (it is linear and shows far less cluster structure).
    seed : int
        ``random_state`` of UMAP (forces single-threaded, reproducible layout) / PCA's solver.
    n_neighbors, min_dist, metric
        UMAP parameters; ``n_neighbors`` is clipped to N - 1.

    Returns
    -------
    ndarray, shape (N, 2)

    Notes
    -----
    umap-learn's first fit in a fresh process spends ~35 s compiling with numba; later fits take seconds, and so
    does the first fit of a later process, as :func:`cache_umap_kernels` keeps the compiled kernels on disk.
    """
    x = np.asarray(emb, dtype=np.float64)
    if x.ndim != 2 or len(x) < 3:
        raise ValueError(f"embed_2d needs an (N >= 3, D) array, got shape {x.shape}")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(x)
    if method != "umap":
        raise ValueError(f"method must be 'umap' or 'pca', got {method!r}")
    import umap  # imported lazily: the import alone compiles for ~tens of seconds in a fresh cache

    cache_umap_kernels()
    reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, len(x) - 1), min_dist=min_dist,
                        metric=metric, random_state=seed, n_jobs=1)
    return np.asarray(reducer.fit_transform(x))


def umap_plot(
    emb: np.ndarray,
    labels: Sequence | None = None,
    ax: Any = None,
    seed: int = 0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "euclidean",
    method: str = "umap",
    coords: np.ndarray | None = None,
    palette: Any = None,
    point_size: float = 10,
    title: str | None = None,
    style: str = "whitegrid",
):
    """Scatter of the embedding in 2-D (UMAP by default), coloured by label.

    Parameters
    ----------
    emb : array, shape (N, D)
    labels : sequence, length N, optional
        Colour/legend per class.
    ax : matplotlib Axes, optional
    seed, n_neighbors, min_dist, metric, method
        See :func:`embed_2d`; ``method="pca"`` for the linear fallback.
    coords : array, shape (N, 2), optional
        Precomputed 2-D coordinates (skips the reduction, e.g. to draw the same map coloured two ways).
    palette : seaborn palette, optional
    point_size : float
        Marker area in points^2.
    title : str, optional
    style : str
        seaborn style.

    Returns
    -------
    matplotlib Axes
        ``ax.emkit_coords`` holds the (N, 2) coordinates drawn.
    """
    import seaborn as sns

    xy = np.asarray(coords) if coords is not None else embed_2d(emb, method, seed, n_neighbors, min_dist, metric)
    ax = _new_ax(ax, (6, 5), style)
    frame = pd.DataFrame({"dim 1": xy[:, 0], "dim 2": xy[:, 1]})
    hue = None
    if labels is not None:
        frame["label"] = np.asarray(labels).astype(str)
        hue = "label"
    sns.scatterplot(data=frame, x="dim 1", y="dim 2", hue=hue, palette=palette, s=point_size, linewidth=0, ax=ax)
    name = "PCA" if method == "pca" and coords is None else ("UMAP" if coords is None else "2-D map")
    ax.set_xlabel(f"{name} 1")
    ax.set_ylabel(f"{name} 2")
    ax.set_title(title or f"{name} of {len(xy)} embeddings")
    if hue is not None:
        ax.legend(title="label", bbox_to_anchor=(1.02, 1), loc="upper left", frameon=False, markerscale=1.5)
    ax.emkit_coords = xy
    return ax


def _history_frame(history: Any) -> pd.DataFrame:
    if isinstance(history, pd.DataFrame):
        return history.copy()
    if isinstance(history, Mapping):
        return pd.DataFrame({k: pd.Series(v) for k, v in history.items()})
    if isinstance(history, Sequence):
        return pd.DataFrame(list(history))
    raise TypeError(f"history must be a DataFrame, a dict of lists or a list of dicts, got {type(history).__name__}")


def loss_curve(
    history: Any,
    x: str | None = None,
    y: Sequence[str] | None = None,
    ax: Any = None,
    logy: bool = False,
    title: str | None = None,
    style: str = "whitegrid",
):
    """Training curves from a history (``emkit.learn.train`` output or similar).

    Parameters
    ----------
    history : DataFrame, dict of lists, or list of dicts
        One row per step/epoch, e.g. the history of :func:`emkit.learn.train.fit` (``step, epoch, loss, lr,
        samples_per_s, time_s``) or ``[{"epoch": 0, "loss": 5.1, "val_loss": 5.3}, ...]``.
    x : str, optional
        Column for the x axis; default the first of ``step``, ``iteration``, ``epoch`` present, else the row number.
    y : sequence of str, optional
        Columns to draw; default the numeric columns whose name contains ``loss`` or ``acc``, else every numeric
        column but bookkeeping ones (``lr``, ``time_s``, ``samples_per_s``, counters).
    ax : matplotlib Axes, optional
    logy : bool
        Log-scale y axis.

    Returns
    -------
    matplotlib Axes
    """
    import seaborn as sns

    frame = _history_frame(history)
    if frame.empty:
        raise ValueError("history is empty")
    if x is None:
        x = next((c for c in ("step", "iteration", "epoch") if c in frame.columns), None)
    if x is None:
        frame = frame.reset_index(names="row")
        x = "row"
    if y is None:
        numeric = [c for c in frame.columns if c != x and pd.api.types.is_numeric_dtype(frame[c])]
        y = [c for c in numeric if "loss" in str(c) or "acc" in str(c)]
        if not y:
            skip = {"lr", "learning_rate", "time", "time_s", "seconds", "samples_per_s", "epoch", "step", "iteration"}
            y = [c for c in numeric if c not in skip]
    if not y:
        raise ValueError(f"no numeric columns to draw among {list(frame.columns)}")
    missing = [c for c in [x, *y] if c not in frame.columns]
    if missing:
        raise ValueError(f"history has no column(s) {missing}; columns: {list(frame.columns)}")
    long = frame.melt(id_vars=[x], value_vars=list(y), var_name="curve", value_name="value").dropna()
    ax = _new_ax(ax, (6, 4), style)
    sns.lineplot(data=long, x=x, y="value", hue="curve", marker="o" if len(frame) <= 30 else None, ax=ax)
    if logy:
        ax.set_yscale("log")
    ax.set_ylabel("loss" if all("loss" in c for c in y) else "value")
    ax.set_title(title or "training curves")
    return ax


def confusion_matrix_plot(
    y_true: Sequence,
    y_pred: Sequence,
    classes: Sequence | None = None,
    normalize: str | None = "true",
    ax: Any = None,
    cmap: str = "Blues",
    title: str | None = None,
    style: str = "white",
):
    """Heatmap of the confusion matrix (rows = true class, columns = predicted class).

    Parameters
    ----------
    y_true, y_pred : sequences, length N
    classes : sequence, optional
        Class order (default: sorted union of both).
    normalize : {"true", "pred", "all", None}
        As :func:`sklearn.metrics.confusion_matrix`: ``"true"`` shows per-class recall (rows sum to 1); None counts.
    ax : matplotlib Axes, optional
    cmap : str

    Returns
    -------
    matplotlib Axes
        ``ax.emkit_matrix`` holds the (C, C) matrix drawn.
    """
    import seaborn as sns
    from sklearn.metrics import confusion_matrix

    yt, yp = np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)
    if len(yt) != len(yp):
        raise ValueError(f"y_true has {len(yt)} entries, y_pred {len(yp)}")
    labels = [str(c) for c in classes] if classes is not None else sorted(set(yt) | set(yp))
    cm = confusion_matrix(yt, yp, labels=labels, normalize=normalize)
    ax = _new_ax(ax, (1.2 + 0.6 * len(labels), 1.0 + 0.5 * len(labels)), style)
    sns.heatmap(cm, annot=True, fmt=".2f" if normalize else "d", cmap=cmap, xticklabels=labels,
                yticklabels=labels, vmin=0, vmax=1 if normalize else None, square=True, cbar=True, ax=ax)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or ("confusion matrix" + (f" (normalized over {normalize})" if normalize else "")))
    ax.emkit_matrix = cm
    return ax


def decodability_heatmap(
    r2: pd.DataFrame,
    ax: Any = None,
    extra_row: pd.Series | None = None,
    extra_label: str = "class share of variance",
    title: str | None = None,
    cmap: str = "viridis",
    style: str = "white",
):
    """Heatmap of cross-validated R² (rows: representations, columns: known quantities), values written in.

    Parameters
    ----------
    r2 : DataFrame, representation x quantity, of :func:`emkit.analysis.evaluate.decodability` scores.
    ax : matplotlib Axes, optional
    extra_row : Series indexed like ``r2.columns``, optional
        Drawn as a last row below a gap, e.g. :func:`~emkit.analysis.evaluate.class_variance_share` of the
        quantities: which of them tell the classes apart.
    extra_label : str
        That row's name.

    Returns
    -------
    matplotlib Axes
        ``ax.emkit_matrix`` holds the matrix drawn (R² below 0 is drawn as 0, the value written is the true one).
    """
    import seaborn as sns

    table = r2.astype(float)
    if table.empty:
        raise ValueError("no R² values to draw")
    if extra_row is not None:
        missing = sorted(set(table.columns) - set(extra_row.index))
        if missing:
            raise ValueError(f"extra_row has no value for column(s) {missing}")
        spacer = pd.DataFrame([[np.nan] * table.shape[1]], columns=table.columns, index=[""])
        table = pd.concat([table, spacer, extra_row[table.columns].to_frame(extra_label).T.astype(float)])
    ax = _new_ax(ax, (1.5 + 0.75 * table.shape[1], 1.0 + 0.45 * table.shape[0]), style)
    sns.heatmap(table.clip(lower=0.0), annot=table.to_numpy(), fmt=".2f", cmap=cmap, vmin=0.0, vmax=1.0,
                cbar_kws={"label": "R² (cross-validated)"}, ax=ax)
    ax.set_xticklabels(ax.get_xticklabels(), rotation=40, ha="right")
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title(title or "what a linear read-out recovers from each representation")
    ax.emkit_matrix = table.to_numpy()
    return ax


def metrics_bar(
    metrics: Any,
    ax: Any = None,
    include: Sequence[str] | None = None,
    title: str | None = None,
    style: str = "whitegrid",
):
    """Horizontal bars of metric values, coloured by pass/fail against their targets.

    Parameters
    ----------
    metrics : DataFrame from :func:`emkit.analysis.evaluate.metrics_table`, the dict of
        :func:`~emkit.analysis.evaluate.evaluate_embeddings`, or ``{name: value}``
    ax : matplotlib Axes, optional
    include : sequence of str, optional
        Metric names to draw (default: all whose unit is not ``count``).

    Returns
    -------
    matplotlib Axes
    """
    import seaborn as sns

    if isinstance(metrics, pd.DataFrame):
        table = metrics.copy()
    else:
        from emkit.analysis.evaluate import metrics_table

        table = metrics_table(metrics)
    if "unit" not in table.columns:
        table["unit"] = ""
    if include is not None:
        table = table[table["metric"].isin(include)]
    else:
        table = table[table["unit"] != "count"]
    if table.empty:
        raise ValueError("no metrics to draw")
    status = table.get("passed", pd.Series([None] * len(table), index=table.index))
    table["status"] = status.map({True: "passed", False: "failed"}).fillna("no target")
    colours = {"passed": "#4c9a5b", "failed": "#c44e52", "no target": "#8c8c8c"}
    ax = _new_ax(ax, (6, 0.4 * len(table) + 1.2), style)
    sns.barplot(data=table, y="metric", x="value", hue="status", palette=colours, dodge=False, ax=ax)
    if "target" in table.columns:
        for i, target in enumerate(table["target"]):
            if isinstance(target, str) and target:
                val = float(target.split()[-1])
                ax.plot([val, val], [i - 0.4, i + 0.4], color="black", lw=1.5)
    if "interval" in table.columns:
        for i, interval in enumerate(table["interval"]):
            if isinstance(interval, (tuple, list)) and len(interval) == 2:
                ax.plot(list(interval), [i, i], color="#333333", lw=1.0, marker="|")
    ax.legend(title="target", bbox_to_anchor=(1.02, 1), loc="upper left", frameon=False)
    ax.set_xlabel("value (black tick: target; thin line: interval)")
    ax.set_ylabel("")
    ax.set_title(title or "embedding metrics")
    return ax


def throughput_bars(
    rows: Any,
    ax: Any = None,
    x: str = "batch",
    y: str = "samples_per_s",
    hue: Sequence[str] = ("amp", "layout"),
    title: str | None = None,
    style: str = "whitegrid",
):
    """Grouped bars of a training throughput table: one group per ``x`` value (e.g. batch size), one bar per
    combination of the ``hue`` columns (e.g. precision and memory layout); combinations missing for a group leave
    a gap. Each bar is labelled with its value.

    Parameters
    ----------
    rows : DataFrame or list of dicts with the ``x``, ``y`` and ``hue`` columns (``y`` in samples/s).

    Returns
    -------
    matplotlib Axes
    """
    import seaborn as sns

    table = pd.DataFrame(rows).copy()
    missing = [c for c in (x, y, *hue) if c not in table.columns]
    if missing:
        raise ValueError(f"throughput rows lack column(s) {missing}; they have {list(table.columns)}")
    table["setting"] = table[list(hue)].astype(str).agg(" / ".join, axis=1)
    ax = _new_ax(ax, (7, 3.5), style)
    sns.barplot(data=table, x=x, y=y, hue="setting", ax=ax)
    for container in ax.containers:
        ax.bar_label(container, fmt="%.0f", fontsize=7, padding=1)
    ax.legend(title=" / ".join(hue), bbox_to_anchor=(1.02, 1), loc="upper left", frameon=False)
    ax.set_ylabel(y.replace("_per_s", "/s").replace("_", " "))
    ax.set_title(title or "training throughput")
    return ax


def interval_dots(
    rows: Any,
    value: str,
    interval: str,
    label: str = "run",
    hue: str | None = None,
    ax: Any = None,
    title: str | None = None,
    xlabel: str | None = None,
    style: str = "whitegrid",
):
    """One dot per row at ``value`` with its ``interval`` as a horizontal line (a forest plot), top to bottom in
    row order; dots coloured by ``hue``.

    Parameters
    ----------
    rows : DataFrame or list of dicts with columns ``label``, ``value``, ``interval`` ((low, high) or None) and
        ``hue`` when given.

    Returns
    -------
    matplotlib Axes
    """
    import seaborn as sns

    table = pd.DataFrame(rows).reset_index(drop=True)
    missing = [c for c in (label, value, interval, hue) if c is not None and c not in table.columns]
    if missing:
        raise ValueError(f"rows lack column(s) {missing}; they have {list(table.columns)}")
    ax = _new_ax(ax, (6, 0.35 * len(table) + 1.2), style)
    groups = list(dict.fromkeys(table[hue])) if hue else [None]
    colours = dict(zip(groups, sns.color_palette(n_colors=len(groups))))
    y = np.arange(len(table))[::-1]
    for yi, (_, row) in zip(y, table.iterrows()):
        colour = colours[row[hue] if hue else None]
        lo_hi = row[interval]
        if isinstance(lo_hi, (tuple, list, np.ndarray)) and len(lo_hi) == 2:
            ax.plot(list(lo_hi), [yi, yi], color=colour, lw=1.5)
        ax.plot([row[value]], [yi], "o", color=colour, label=str(row[hue]) if hue else None)
    ax.set_yticks(y, table[label].astype(str).tolist())
    if hue:
        handles, names = ax.get_legend_handles_labels()
        unique = dict(zip(names, handles))
        ax.legend(unique.values(), unique.keys(), title=hue, bbox_to_anchor=(1.02, 1), loc="upper left",
                  frameon=False)
    ax.set_xlabel(xlabel or f"{value} (line: {interval})")
    ax.set_title(title or value)
    return ax


def label_budget_plot(curve: pd.DataFrame, ax: Any = None, title: str | None = None, style: str = "whitegrid"):
    """Probe accuracy vs fraction of training labels (:func:`emkit.analysis.evaluate.label_budget_curve`).

    Returns
    -------
    matplotlib Axes
    """
    import seaborn as sns

    long = curve.melt(id_vars=["label_fraction"], value_vars=["accuracy", "balanced_accuracy"],
                      var_name="score", value_name="value")
    ax = _new_ax(ax, (5, 4), style)
    sns.lineplot(data=long, x="label_fraction", y="value", hue="score", marker="o", ax=ax)
    ax.set_xscale("log")
    ax.set_xlabel("fraction of training labels")
    ax.set_ylabel("test score")
    ax.set_ylim(0, 1.02)
    ax.set_title(title or "label budget")
    return ax


def label_budget_comparison(
    table: pd.DataFrame,
    ax: Any = None,
    chance: float | None = None,
    title: str | None = None,
    style: str = "whitegrid",
):
    """Probe accuracy against the share of training labels, one line per representation, with intervals.

    Parameters
    ----------
    table : DataFrame
        One row per (representation, label budget): ``representation``, ``label_fraction`` (in (0, 1]), ``value``
        (accuracy) and optionally ``low`` / ``high`` (an interval, e.g.
        :func:`emkit.analysis.confidence.accuracy_interval`), drawn as error bars.
    ax : matplotlib Axes, optional
    chance : float, optional
        Chance accuracy, drawn as a dotted line.

    Returns
    -------
    matplotlib Axes
        The x axis is the percentage of training labels, logarithmic; markers of the representations are spread a
        little apart along it so that their error bars do not hide one another.
    """
    missing = {"representation", "label_fraction", "value"} - set(table.columns)
    if missing:
        raise ValueError(f"label-budget table lacks columns {sorted(missing)}")
    if table.empty:
        raise ValueError("no label-budget rows to draw")
    ax = _new_ax(ax, (6, 3.5), style)
    names = list(dict.fromkeys(table["representation"]))
    spread = np.linspace(0.93, 1.07, len(names)) if len(names) > 1 else [1.0]
    # one colour per line: matplotlib's default cycle repeats after ten, and the evaluation chapter draws more
    import matplotlib

    tab20 = matplotlib.colormaps["tab20"].colors  # pairs (dark, light) of ten hues: the ten dark ones first
    palette = matplotlib.colormaps["tab10"].colors if len(names) <= 10 else tab20[0::2] + tab20[1::2]
    if len(names) > len(palette):
        raise ValueError(f"at most {len(palette)} representations fit one plot, got {len(names)}")
    for name, shift, colour in zip(names, spread, palette):
        rows = table[table["representation"] == name].sort_values("label_fraction")
        x = 100 * rows["label_fraction"].to_numpy(dtype=float) * shift
        y = rows["value"].to_numpy(dtype=float)
        yerr = None
        if {"low", "high"} <= set(rows.columns) and rows[["low", "high"]].notna().all().all():
            yerr = np.vstack([y - rows["low"].to_numpy(dtype=float), rows["high"].to_numpy(dtype=float) - y])
        ax.errorbar(x, y, yerr=yerr, marker="o", capsize=2, label=name, color=colour)
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", label="chance")
    ax.set_xscale("log")
    ticks = sorted({100 * f for f in table["label_fraction"].astype(float)})
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xlabel("training labels used (%)")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(title or "label budget")
    return ax

