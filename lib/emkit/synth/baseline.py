"""The hand-made baseline that calibrates the world's difficulty: intensity features + logistic regression.

For each synapse, two cutouts of 48x48 px x 5 sections (384 x 384 x 200 nm) at mip 0, around ``ctr_pt_position`` and
``pre_pt_position`` (the vesicle cloud), are summarised by intensity percentiles, dark-pixel fractions and
Laplacian-of-Gaussian blob responses at several scales (vesicle-sized blobs, Lindeberg 1998 scale-space). A
standardised multinomial logistic regression predicts the transmitter; the score is the balanced accuracy under a
NEURON split (``GroupKFold`` on ``neuron_id``: no neuron in both train and test, the design of synister, Eckstein et
al. 2024) and, for contrast, under a random synapse split (which leaks per-neuron idiosyncrasies).

Command line::

    python -m emkit.synth.baseline --size tiny --difficulties 0 0.2 0.35 0.5 --out /tmp/sweep \
        --override blocks_x=6 blocks_y=4 n_boutons=250 n_pre_neurons=36 n_hemilineages=12 n_cells=8 n_mitos=8

Measured (2026-11-23, that command: 6x4-block worlds, 360-379 synapses from 35-36 neurons, 6 classes, chance
0.167)::

    difficulty  neuron_split  random_split
          0.00         0.598         0.816
          0.20         0.509         0.696
          0.35         0.449         0.637
          0.50         0.439         0.610

Before the blob responses were the true Laplacian of Gaussian (feature version 1, :func:`section_log`), the same
worlds gave 0.552 / 0.456 / 0.452 / 0.437 on the neuron split and 0.726 / 0.617 / 0.595 / 0.593 on the random one.

The random split is always higher: per-neuron idiosyncrasies leak across synapses of one neuron.
"""

from __future__ import annotations

import argparse
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

SIGMAS_PX = (1.4, 1.9, 2.5, 3.2, 4.5)
# Version of the feature definition, part of the stored file's name so that a changed definition is never read from
# an older store. 2 (2026-11-23): the blob responses are the section-plane Laplacian of Gaussian; version 1 had
# twice the Gaussian-smoothed image added to it (see section_log).
FEATURES_VERSION = 2


def read_em(root) -> np.ndarray:
    """The whole mip-0 image of a world as an (x, y, z) uint8 array.

    Opened through :func:`emkit.io.volumes.open_volume`; the one whole-volume read goes through tensorstore with
    that volume's spec (``fill_missing_data_reads`` off, so a missing chunk raises instead of reading zeros).
    """
    import tensorstore as ts

    from emkit.io.volumes import open_volume

    vol = open_volume(f"precomputed://file://{Path(root).resolve() / 'em'}")
    return np.asarray(ts.open(vol.tensorstore_spec(), read=True).result()[...].read().result()[..., 0])


def section_log(stack: np.ndarray, sigma_px: float) -> np.ndarray:
    """Laplacian of Gaussian in the section plane of every section: d²/dy² + d²/dx² of the image smoothed by a
    Gaussian of ``sigma_px`` pixels in y and x, nothing across sections or cutouts.

    Parameters
    ----------
    stack : array, shape (N, z, y, x)
    sigma_px : float
        Gaussian standard deviation in pixels (y and x).

    Returns
    -------
    ndarray, shape (N, z, y, x), float32 for float32 input (not scale-normalised; multiply by ``sigma_px**2`` for
    Lindeberg's normalised response).

    Notes
    -----
    Written as the two second derivatives because ``scipy.ndimage.gaussian_laplace(stack, (0, 0, s, s))`` is not
    this: it adds one second derivative per axis, and along an axis of sigma 0 gaussian_filter drops the derivative
    with the smoothing, so each such axis adds the Gaussian-smoothed image itself (measured: the result equals this
    plus twice ``gaussian_filter(stack, (0, 0, s, s))``; tests/test_synth.py checks against the 2-D call per section).
    """
    sigma = (0.0, 0.0, float(sigma_px), float(sigma_px))
    return (ndimage.gaussian_filter(stack, sigma, order=(0, 0, 2, 0))
            + ndimage.gaussian_filter(stack, sigma, order=(0, 0, 0, 2)))


def _window_features(cut: np.ndarray) -> list:
    """Features of cutouts (N, z, y, x) uint8/float: percentiles, dark/bright fractions, LoG blob statistics."""
    n = len(cut)
    flat = cut.reshape(n, -1)
    mu, sd = flat.mean(1), flat.std(1) + 1e-6
    feats = [np.percentile(flat, [5, 25, 50, 75, 95], axis=1).T, mu[:, None], sd[:, None],
             (flat < 80).mean(1)[:, None], (flat < 60).mean(1)[:, None], (flat > 170).mean(1)[:, None]]
    norm = (cut - mu[:, None, None, None]) / sd[:, None, None, None]
    for s in SIGMAS_PX:
        lg = (section_log(norm, s) * s ** 2).reshape(n, -1)
        feats += [np.abs(lg).mean(1)[:, None], (lg > 0.6).mean(1)[:, None], (lg < -0.6).mean(1)[:, None],
                  np.percentile(lg, [2, 98], axis=1).T]
    return feats


def synapse_features(root, half_xy: int = 24, half_z: int = 2, cache: bool = True) -> tuple[np.ndarray, pd.DataFrame]:
    """Hand-made features for every synapse of a world, from two mip-0 windows of (2*half_xy)^2 px x
    (2*half_z+1) sections (default 384 x 384 x 200 nm): one on the cleft centre (``ctr_pt_position``: cleft,
    PSD) and one on the presynaptic point (``pre_pt_position``: vesicle cloud).

    With ``cache`` the features of a finished world are kept in ``<root>/derived/`` with the world's fingerprint
    (``COMPLETE``), so the world chapter and the evaluation chapter compute them once (~24 s on the default world,
    2 CPU cores); a regenerated world never reads them.

    Returns
    -------
    X : (N, F) float64
    syn : the synapse table (same row order)
    """
    root = Path(root)
    syn = pd.read_parquet(root / "synapses.parquet")
    stored = root / "derived" / f"synapse_features_v{FEATURES_VERSION}_xy{int(half_xy)}_z{int(half_z)}.npz"
    done = root / "COMPLETE"
    world_fp = done.read_text().strip() if done.exists() else ""  # only finished worlds are cached
    if cache and world_fp and stored.exists():
        with np.load(stored) as f:
            if str(f["world"]) == world_fp and np.array_equal(f["ids"], syn["id"].to_numpy()):
                return f["X"], syn
    em = read_em(root)
    pad = np.pad(em, ((half_xy, half_xy), (half_xy, half_xy), (half_z, half_z)), mode="reflect")
    shp = np.array(em.shape)
    feats = []
    for col in ("ctr_pt_position", "pre_pt_position"):
        cut = np.empty((len(syn), 2 * half_z + 1, 2 * half_xy, 2 * half_xy), np.float32)  # (N, z, y, x)
        for i, pos in enumerate(syn[col]):
            x, y, z = np.clip(np.asarray(pos, int), 0, shp - 1)
            cut[i] = pad[x:x + 2 * half_xy, y:y + 2 * half_xy, z:z + 2 * half_z + 1].transpose(2, 1, 0)
        feats += _window_features(cut)
    X = np.concatenate(feats, 1).astype(np.float64)
    if cache and world_fp:
        tmp = stored.with_suffix(f".{os.getpid()}.tmp.npz")  # one per process: two writers never share a file
        try:
            stored.parent.mkdir(exist_ok=True)
            np.savez(tmp, X=X, ids=syn["id"].to_numpy(), world=np.array(world_fp))
            tmp.replace(stored)  # atomic: a reader never sees half a file
        except OSError as err:  # a read-only world: the features are still returned, only not kept
            warnings.warn(f"could not keep the synapse features in {stored.parent}: {err}", stacklevel=2)
    return X, syn


def generative_features(root) -> tuple[np.ndarray, pd.DataFrame]:
    """The oracle representation of every synapse: its presynaptic neuron's drawn transmitter parameters.

    ``truth.json`` stores, per presynaptic neuron, the nine parameters the renderer drew the neuron's synapses from
    (class mean x per-neuron idiosyncrasy: vesicle diameter, density and aspect, dense-core fraction and diameter,
    PSD thickness, cleft width, cloud radius, T-bar strength; see :data:`emkit.synth.params.NT_CLASSES`). Each
    parameter is log-transformed (they are positive and act multiplicatively) and standardised over synapses.

    An image representation can hardly *classify* better than these numbers (the per-synapse jitter and the
    rendering only add noise). Their silhouette by class is a reference scale, not a bound: it weights all nine
    parameters alike, and an embedding trained on labels can weight the telling ones and pull each class tighter
    (on the default world the supervised embedding averaged over each neuron's synapses scores above it).

    Returns
    -------
    X : (N, 9) float64
        Standardised log parameters, unitless, rows in the order of ``syn``.
    syn : the synapse table.
    """
    from .params import NT_PARAM_KEYS

    root = Path(root)
    syn = pd.read_parquet(root / "synapses.parquet")
    neurons = json.loads((root / "truth.json").read_text())["neurons"]
    by_id = {int(n["root_id"]): n["params"] for n in neurons}
    missing = sorted(set(syn["neuron_id"].astype(int)) - set(by_id))
    if missing:
        raise ValueError(f"{root}: truth.json has no parameters for presynaptic neuron(s) {missing[:5]}")
    X = np.log(np.array([[by_id[int(i)][k] for k in NT_PARAM_KEYS] for i in syn["neuron_id"]]) + 1e-3)
    X = (X - X.mean(0)) / (X.std(0) + 1e-12)
    return X, syn


def known_quantities(root, synapses: pd.DataFrame) -> pd.DataFrame:
    """What the world knows about each synapse beyond its label: the drawn parameters and the synapse's orientation.

    The targets of :func:`emkit.analysis.evaluate.decodability` in the evaluation chapter.

    Parameters
    ----------
    root : the world's folder (``truth.json``, ``synapses.parquet``).
    synapses : DataFrame
        The rows to describe (``id`` and the partner points ``pre_*_nm`` / ``post_*_nm``), e.g. the world's synapse
        table in any order.

    Returns
    -------
    DataFrame, one row per row of ``synapses`` in its order (index reset): the nine parameters of
    :func:`generative_features` (log, standardised, unitless) and the synapse axis (unit pre→post vector,
    :func:`emkit.io.points.synapse_axis`) as ``axis x``, ``axis y`` and ``|axis z|`` (the sign of z depends on the
    cutting direction, so only its size is kept).

    Raises
    ------
    ValueError
        A synapse id that the world does not know.
    """
    from emkit.io.points import synapse_axis

    from .params import NT_PARAM_KEYS

    X, rows = generative_features(root)
    params = pd.DataFrame(X, columns=list(NT_PARAM_KEYS), index=rows["id"].to_numpy())
    unknown = sorted(set(synapses["id"]) - set(params.index))
    if unknown:
        raise ValueError(f"{root}: synapse id(s) {unknown[:5]} are not in the world's synapse table")
    out = params.loc[synapses["id"].to_numpy()].reset_index(drop=True)
    axis = synapse_axis(synapses).reset_index(drop=True)
    out["axis x"], out["axis y"], out["|axis z|"] = axis["axis_x"], axis["axis_y"], axis["axis_z"].abs()
    return out


def telling_parameters(class_share: pd.Series, n: int = 4) -> list[str]:
    """The ``n`` drawn parameters that tell the classes apart most: largest class share of variance first.

    Parameters
    ----------
    class_share : Series of η² by quantity, e.g. :func:`emkit.analysis.evaluate.class_variance_share` of
        :func:`known_quantities`; entries that are not drawn parameters (the synapse axis) are ignored.
    n : int
    """
    from .params import NT_PARAM_KEYS

    missing = [k for k in NT_PARAM_KEYS if k not in class_share.index]
    if missing:
        raise ValueError(f"class_share has no value for the drawn parameter(s) {missing}")
    return class_share[list(NT_PARAM_KEYS)].sort_values(ascending=False).index[:n].tolist()


def baseline_accuracy(root, n_splits: int = 5, seed: int = 0) -> dict:
    """Balanced accuracy of the feature + logistic-regression baseline on a world.

    Returns
    -------
    dict: ``neuron_split`` and ``random_split`` balanced accuracy (mean over folds), ``chance`` (1/k),
    ``n_synapses``, ``n_neurons``, ``n_classes``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import GroupKFold, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, syn = synapse_features(root)
    y = syn["neurotransmitter"].to_numpy()
    groups = syn["neuron_id"].to_numpy()
    k = len(np.unique(y))

    def run(splits):
        scores = []
        for tr, te in splits:
            # newton-cg: the default world's 10 fits took 2 s instead of lbfgs's 15 s (which stopped 0.005 short of
            # the optimum in the weights; neuron-split balanced accuracy 0.461 with lbfgs, 0.463 here)
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000, solver="newton-cg"))
            clf.fit(X[tr], y[tr])
            scores.append(balanced_accuracy_score(y[te], clf.predict(X[te])))
        return float(np.mean(scores))

    n_neur = len(np.unique(groups))
    neuron = run(GroupKFold(n_splits=min(n_splits, n_neur)).split(X, y, groups))
    rnd = run(StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(X, y))
    return dict(neuron_split=round(neuron, 3), random_split=round(rnd, 3), chance=round(1.0 / k, 3),
                n_synapses=int(len(y)), n_neurons=int(n_neur), n_classes=int(k))


def difficulty_sweep(out, difficulties=(0.0, 0.25, 0.5, 0.75, 1.0), size: str = "tiny", seed: int = 0,
                     progress: bool = False, **overrides) -> pd.DataFrame:
    """Generate one world per difficulty under ``out`` and measure :func:`baseline_accuracy` on each.

    Returns
    -------
    DataFrame with one row per difficulty.
    """
    from .world import ensure_world

    rows = []
    for d in difficulties:
        root = ensure_world(Path(out) / f"{size}_s{seed}_d{d:g}", size, seed=seed, difficulty=d, progress=progress,
                            **overrides)
        rows.append(dict(difficulty=d, **baseline_accuracy(root, seed=seed)))
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="difficulty sweep of the synthetic world's baseline")
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", default="tiny")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--difficulties", type=float, nargs="+", default=[0.0, 0.25, 0.5, 0.75, 1.0])
    ap.add_argument("--override", nargs="*", default=[], help="key=value world overrides, e.g. blocks_x=6")
    a = ap.parse_args(argv)
    ov = {k: json.loads(v) for k, v in (o.split("=", 1) for o in a.override)}
    df = difficulty_sweep(a.out, a.difficulties, a.size, a.seed, progress=True, **ov)
    print(df.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
