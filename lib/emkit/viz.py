"""Pictures of EM data: slices with segmentation overlays and per-class galleries.

Everything here reads through :class:`emkit.io.volumes.Volume` (``cutout(center, shape_vox, units=...)``), so the
same calls show the synthetic world, the real samples and a public dataset.
"""

from __future__ import annotations

import numpy as np

_GOLDEN = 0.6180339887498949


def label_colors(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """A stable RGB colour per segment id: (..., 3) float in [0, 1]; id 0 (background) is transparent black.

    The colour depends only on the id (golden-ratio hue walk), so an object keeps its colour across figures.
    """
    import matplotlib.colors as mcolors

    labels = np.asarray(labels)
    ids, inverse = np.unique(labels, return_inverse=True)
    hues = ((ids.astype(np.float64) * _GOLDEN + seed * 0.1) % 1.0)
    sat = 0.55 + 0.45 * ((ids * 7919) % 5) / 4.0
    hsv = np.stack([hues, sat, np.full_like(hues, 0.95)], axis=-1)
    rgb = mcolors.hsv_to_rgb(hsv)
    rgb[ids == 0] = 0.0
    return rgb[inverse].reshape(labels.shape + (3,))


def overlay(image: np.ndarray, segmentation: np.ndarray | None = None, alpha: float = 0.4,
            boundaries_only: bool = False) -> np.ndarray:
    """Blend a grey image (y, x) with a segmentation (y, x) into an RGB image (y, x, 3) in [0, 1].

    Parameters
    ----------
    image : (y, x) array
        EM intensities (any dtype; scaled by its own 1st/99th percentiles).
    segmentation : (y, x) int array, optional
        Object ids; 0 is left uncoloured.
    alpha : float
        Opacity of the colours.
    boundaries_only : bool
        Colour only the object boundaries (for dense neurite segmentations).
    """
    img = np.asarray(image, dtype=np.float32)
    lo, hi = np.percentile(img, [1, 99]) if img.size else (0.0, 1.0)
    grey = np.clip((img - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    if segmentation is None:
        return rgb
    seg = np.asarray(segmentation)
    mask = seg != 0
    if boundaries_only:
        edge = np.zeros_like(mask)
        edge[:-1] |= seg[:-1] != seg[1:]
        edge[:, :-1] |= seg[:, :-1] != seg[:, 1:]
        mask &= edge
    colors = label_colors(seg)
    rgb[mask] = (1 - alpha) * rgb[mask] + alpha * colors[mask]
    return rgb


def xy_slice(volume, center_nm, size_nm=(2000.0, 2000.0)) -> np.ndarray:
    """The xy plane through ``center_nm`` (x, y, z in nm), ``size_nm`` (x, y) wide: a (y, x) array.

    Outside the volume is zero (see ``Volume.cutout``).
    """
    vox = np.asarray(volume.voxel_size_nm, dtype=float)
    shape = (max(1, int(round(size_nm[0] / vox[0]))), max(1, int(round(size_nm[1] / vox[1]))), 1)
    array, _ = volume.cutout(np.asarray(center_nm, dtype=float), shape, units="nm")
    return np.asarray(array)[0]


def show_layers(dataset, center_nm, size_nm=(3000.0, 3000.0), layers=None, axes=None, mip: int = 0):
    """One xy slice of a dataset: the EM alone, then the EM under each segmentation layer.

    Parameters
    ----------
    dataset : emkit.io.datasets.Dataset
    center_nm : (3,) float
        Centre (x, y, z) in nm.
    size_nm : (2,) float
        Field of view (x, y) in nm.
    layers : list of str, optional
        Segmentation layers to overlay (default: every layer of the dataset except ``em``).
    mip : int
        Resolution level to read.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    em = dataset.volume("em", mip=mip)
    layers = [name for name in (layers or dataset.layers) if name != "em"]
    if axes is None:
        fig, axes = plt.subplots(1, 1 + len(layers), figsize=(3.2 * (1 + len(layers)), 3.4))
    axes = np.atleast_1d(axes)
    raw = xy_slice(em, center_nm, size_nm)
    extent = (0, size_nm[0] / 1000, size_nm[1] / 1000, 0)
    axes[0].imshow(raw, cmap="gray", extent=extent)
    axes[0].set_title("EM")
    for ax, name in zip(axes[1:], layers):
        seg = xy_slice(dataset.volume(name, mip=mip), center_nm, size_nm)
        ax.imshow(overlay(raw, seg, alpha=0.45, boundaries_only=(name == "cells")), extent=extent)
        ax.set_title(name)
    for ax in axes:
        ax.set_xlabel("x (µm)")
    axes[0].set_ylabel("y (µm)")
    fig = axes[0].figure
    fig.tight_layout()
    return fig


def gallery(dataset, points, label_col: str = "label", per_class: int = 5, size_nm=(800.0, 800.0),
            layer: str = "em", seed: int = 0, overlay_layer: str | None = None):
    """A grid of xy slices centred on points: one row per class, ``per_class`` random examples each.

    Parameters
    ----------
    dataset : emkit.io.datasets.Dataset
    points : pandas.DataFrame
        Point schema (``x_nm``, ``y_nm``, ``z_nm`` and ``label_col``).
    label_col : str
        Column with the class.
    per_class : int
        Examples per row.
    size_nm : (2,) float
        Field of view (x, y) in nm.
    layer : str
        Image layer to show.
    seed : int
        Which examples are drawn.
    overlay_layer : str, optional
        A segmentation layer to colour on top (e.g. ``"clefts"``).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if points.empty:
        raise ValueError("gallery: the points table is empty")
    if label_col not in points:
        raise KeyError(f"gallery: no column {label_col!r}; columns are {list(points.columns)}")
    rng = np.random.default_rng(seed)
    classes = sorted(points[label_col].dropna().unique(), key=str)
    volume = dataset.volume(layer)
    seg_volume = dataset.volume(overlay_layer) if overlay_layer else None
    fig, axes = plt.subplots(len(classes), per_class, figsize=(1.6 * per_class, 1.7 * len(classes)), squeeze=False)
    for row, cls in enumerate(classes):
        rows = points[points[label_col] == cls]
        picks = rows.iloc[rng.choice(len(rows), size=min(per_class, len(rows)), replace=False)]
        for col in range(per_class):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if col >= len(picks):
                ax.axis("off")
                continue
            p = picks.iloc[col]
            center = (p["x_nm"], p["y_nm"], p["z_nm"])
            raw = xy_slice(volume, center, size_nm)
            seg = xy_slice(seg_volume, center, size_nm) if seg_volume is not None else None
            ax.imshow(overlay(raw, seg, alpha=0.35), interpolation="nearest")
            if col == 0:
                ax.set_ylabel(str(cls), rotation=0, ha="right", va="center", fontsize=9)
    fig.suptitle(f"{label_col}: {per_class} examples per class, {size_nm[0]:.0f}×{size_nm[1]:.0f} nm", fontsize=10)
    fig.tight_layout()
    return fig


def neighbour_gallery(dataset, points, queries, neighbours, label_col: str = "label", size_nm=(640.0, 640.0),
                      layer: str = "em", title: str | None = None, label_name: str = "class"):
    """xy slices of query points (first column) and their nearest neighbours in an embedding (the other columns).

    Each neighbour's title is its class, green when it is the query's and red when not; the figure title gives the
    share of same-class neighbours.

    Parameters
    ----------
    dataset : emkit.io.datasets.Dataset
    points : pandas.DataFrame
        Point schema (``x_nm``, ``y_nm``, ``z_nm`` in nm, and ``label_col``); ``queries`` and ``neighbours`` are row
        positions in it.
    queries : sequence of int, length Q
    neighbours : array of int, shape (Q, k)
        E.g. :func:`emkit.analysis.evaluate.nearest_neighbours`.
    label_col : str
    size_nm : (2,) float
        Field of view (x, y) in nm.
    layer : str
        Image layer to show.
    title : str, optional
    label_name : str
        What the label is, for the figure title (``"class"``, ``"neuron"``).

    Returns
    -------
    matplotlib.figure.Figure
        ``fig.emkit_same_class`` holds the (Q, k) bool matrix of same-class neighbours.
    """
    import matplotlib.pyplot as plt

    queries = np.asarray(queries, dtype=int).ravel()
    neighbours = np.asarray(neighbours, dtype=int)
    if neighbours.ndim != 2 or len(neighbours) != len(queries):
        raise ValueError(f"neighbours must be (Q, k) with Q = {len(queries)} queries; got shape {neighbours.shape}")
    if label_col not in points:
        raise KeyError(f"neighbour_gallery: no column {label_col!r}; columns are {list(points.columns)}")
    labels = points[label_col].to_numpy()
    same = labels[neighbours] == labels[queries][:, None]
    volume = dataset.volume(layer)
    k = neighbours.shape[1]
    fig, axes = plt.subplots(len(queries), k + 1, figsize=(1.5 * (k + 1), 1.6 * len(queries)), squeeze=False)
    for row, (q, near) in enumerate(zip(queries, neighbours)):
        for col, i in enumerate([q, *near]):
            p = points.iloc[int(i)]
            ax = axes[row, col]
            ax.imshow(xy_slice(volume, (p["x_nm"], p["y_nm"], p["z_nm"]), size_nm), cmap="gray",
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_title(f"query: {labels[q]}", fontsize=8, fontweight="bold")  # the label, e.g. a root id
            else:
                ax.set_title(str(labels[i]), fontsize=8, color="#2a7f3f" if same[row, col - 1] else "#c0392b")
    fig.suptitle(f"{title + ': ' if title else ''}{same.mean():.0%} of the neighbours share the query's {label_name} "
                 f"({size_nm[0]:.0f}×{size_nm[1]:.0f} nm)", fontsize=10)
    fig.tight_layout()
    fig.emkit_same_class = same
    return fig


def cutout_panels(cutouts, channel_names=None, titles=None, plane: str = "xy"):
    """Central slices of multi-channel cutouts: one column per cutout, one row per channel.

    Parameters
    ----------
    cutouts : sequence of arrays (C, z, y, x)
        E.g. ``CutoutDataset`` items' ``x`` as numpy.
    channel_names : sequence of str, optional
        Row labels (e.g. ``spec.channels``).
    titles : sequence of str, optional
        Column titles.
    plane : {"xy", "xz"}
        Which central plane to show.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    cutouts = [np.asarray(c) for c in cutouts]
    if not cutouts:
        raise ValueError("cutout_panels: no cutouts given")
    n_channels = cutouts[0].shape[0]
    fig, axes = plt.subplots(n_channels, len(cutouts), figsize=(1.9 * len(cutouts), 1.9 * n_channels),
                             squeeze=False)
    for col, cube in enumerate(cutouts):
        for row in range(n_channels):
            vol = cube[row]
            img = vol[vol.shape[0] // 2] if plane == "xy" else vol[:, vol.shape[1] // 2, :]
            ax = axes[row, col]
            ax.imshow(img, cmap="gray" if row == 0 else "magma", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0 and channel_names is not None:
                ax.set_ylabel(channel_names[row], fontsize=9)
            if row == 0 and titles is not None:
                ax.set_title(titles[col], fontsize=9)
    fig.tight_layout()
    return fig
