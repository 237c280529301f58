"""Positive pairs of two different cutouts of one object, for contrastive training (SegCLR-style).

SimCLR (Chen et al. 2020) pairs two augmented views of the *same* cutout. SegCLR (Dorkenwald et al. 2023, Nature
Methods) pairs cutouts from nearby locations of the same segmented object, so that what the two views share is the
object's ultrastructure, not the cutout's particular layout. For synapses the object is the presynaptic neuron
(``pre_root_id`` of a CAVE synapse table): its synapses share a transmitter (Dale's principle) and the neuron's
idiosyncrasies, while the geometry around each synapse differs. The grouping comes from the segmentation, never from
class labels.

:class:`SameObjectPairs` wraps any cutout dataset. Item ``I`` is cutout ``i = I % n`` plus a partner cutout of the
same group (``x_pair``), drawn from ``numpy.random.default_rng((seed, i, I // n))``: deterministic per index, hence
resume-exact and the same in every DataLoader worker, and a new partner on each of the ``repeats`` passes that one
sampler epoch makes over the data. :class:`emkit.learn.train.SimCLRObjective` uses ``x_pair`` and ``group`` when a
batch has them, and leaves the other pairs of a pair's own group out of its negatives
(:func:`emkit.learn.losses.nt_xent` ``groups``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch
from scipy.spatial import cKDTree
from torch.utils.data import Dataset

__all__ = ["SameObjectPairs", "partner_candidates", "pairs_by_column"]


def partner_candidates(groups: Sequence, positions_nm: np.ndarray | None = None,
                       radius_nm: float | None = None) -> list[np.ndarray]:
    """For every row, the other rows of its group (within ``radius_nm`` of it when given).

    Parameters
    ----------
    groups : (N,) group of each row (e.g. presynaptic root id); rows with a missing group (None/NaN) get no partner.
    positions_nm : (N, 3) positions in nm (x, y, z); needed with ``radius_nm``.
    radius_nm : only partners whose positions lie within this Euclidean distance (nm). None: the whole group.

    Returns
    -------
    list of N int64 arrays: candidate partner rows (possibly empty), sorted.
    """
    g = _group_codes(groups)
    n = len(g)
    if radius_nm is not None:
        if positions_nm is None:
            raise ValueError("radius_nm needs positions_nm")
        pos = np.asarray(positions_nm, dtype=np.float64)
        if pos.shape != (n, 3):
            raise ValueError(f"positions_nm must be (N, 3) = ({n}, 3); got {pos.shape}")
        near = cKDTree(pos).query_ball_point(pos, r=float(radius_nm))
    out = []
    # rows of every group in one pass (groupby sorts once: O(N log N), not one scan of all rows per group)
    members = {int(k): np.asarray(v, dtype=np.int64)
               for k, v in pd.Series(np.arange(n)).groupby(g).indices.items() if k >= 0}
    for i in range(n):
        if g[i] < 0:
            out.append(np.empty(0, dtype=np.int64))
            continue
        cand = members[int(g[i])]
        if radius_nm is not None:
            cand = np.intersect1d(cand, np.asarray(near[i], dtype=np.int64))
        out.append(cand[cand != i].astype(np.int64))
    return out


def _group_codes(groups: Sequence) -> np.ndarray:
    """Integer codes 0..G-1 of ``groups`` in order of first appearance; -1 for missing values (None, NaN)."""
    codes, _ = pd.factorize(pd.Series(list(groups), dtype=object), use_na_sentinel=True)
    return codes.astype(np.int64)


class SameObjectPairs(Dataset):
    """A cutout dataset whose items carry a second cutout of the same object as their SimCLR positive.

    Parameters
    ----------
    dataset : cutout dataset (items dicts with ``x`` (C, D, H, W) and optional per-voxel ``valid`` (D, H, W)), e.g.
        :class:`emkit.cutouts.CutoutDataset`. Its items are read as they are (no copy is held here).
    groups : (N,) object of each item (e.g. ``synapses["pre_root_id"]``).
    positions_nm : (N, 3) item positions (x, y, z) in nm, for ``radius_nm``.
    radius_nm : partners only within this distance of the anchor (nm); None = anywhere in the object.
    repeats : passes over the data per sampler epoch; each pass draws new partners (``len = repeats * N``).
    seed : seed of the partner draws.

    Items
    -----
    The wrapped item ``i`` (``x``, ``id``, ``label``, ...) plus ``x_pair`` (the partner's ``x``), ``pair_id``
    (the partner's ``id``) and ``group`` (int code of the group; an item without a group gets a negative code of its
    own). ``valid`` becomes ``valid_i & valid_j`` when both
    are per-voxel masks of one shape. An item whose group has no other member (within the radius) is its own
    partner: two views of one cutout, as in plain SimCLR; ``n_alone`` counts them.
    """

    def __init__(self, dataset: Dataset, groups: Sequence, positions_nm: np.ndarray | None = None,
                 radius_nm: float | None = None, repeats: int = 16, seed: int = 0):
        if len(groups) != len(dataset):
            raise ValueError(f"groups has {len(groups)} entries, the dataset {len(dataset)} items")
        if int(repeats) < 1:
            raise ValueError(f"repeats must be >= 1; got {repeats}")
        self.dataset = dataset
        self.codes = _group_codes(groups)
        self.candidates = partner_candidates(groups, positions_nm, radius_nm)
        self.repeats, self.seed, self.radius_nm = int(repeats), int(seed), radius_nm
        self.n_alone = int(sum(len(c) == 0 for c in self.candidates))

    def __len__(self) -> int:
        return self.repeats * len(self.dataset)

    def __repr__(self) -> str:
        return (f"SameObjectPairs({len(self.dataset)} cutouts, {len(np.unique(self.codes[self.codes >= 0]))} "
                f"objects, radius_nm={self.radius_nm}, {self.n_alone} without a partner, repeats={self.repeats})")

    def partner(self, index: int) -> int:
        """The partner row of item ``index`` (deterministic)."""
        n = len(self.dataset)
        i, rep = int(index) % n, int(index) // n
        cand = self.candidates[i]
        if len(cand) == 0:
            return i
        return int(cand[np.random.default_rng((self.seed, i, rep)).integers(len(cand))])

    def __getitem__(self, index: int) -> dict:
        n = len(self.dataset)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        index = int(index) % len(self)
        i, j = index % n, self.partner(index)
        item = dict(self.dataset[i])
        other = self.dataset[j] if j != i else item
        item["x_pair"] = other["x"]
        item["pair_id"] = other.get("id", j)
        code = int(self.codes[i])
        item["group"] = code if code >= 0 else -(i + 1)  # no group: a group of its own
        va, vb = item.get("valid"), other.get("valid")
        if isinstance(va, torch.Tensor) and isinstance(vb, torch.Tensor) and va.shape == vb.shape and va.ndim > 0:
            item["valid"] = va & vb
        return item


def pairs_by_column(dataset, group_column: str = "pre_root_id", radius_nm: float | None = None,
                    repeats: int = 16, seed: int = 0) -> SameObjectPairs:
    """:class:`SameObjectPairs` of a cutout dataset that carries its points table (``dataset.points``, as
    :class:`emkit.cutouts.CutoutDataset` does): groups from ``group_column``, positions from ``x_nm, y_nm, z_nm``.

    What a training config's ``data: {pairs: {group_column: pre_root_id, radius_nm: ...}}`` builds.
    """
    points = getattr(dataset, "points", None)
    if points is None:
        raise ValueError(f"{type(dataset).__name__} has no points table (.points); pass groups to SameObjectPairs")
    if group_column not in points.columns:
        raise ValueError(f"points table has no column {group_column!r}; columns: {list(points.columns)}")
    pos = points[["x_nm", "y_nm", "z_nm"]].to_numpy(float) if radius_nm is not None else None
    return SameObjectPairs(dataset, points[group_column].tolist(), pos, radius_nm, repeats=repeats, seed=seed)
