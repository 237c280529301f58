"""Training objectives: an encoder with its heads, whose ``forward`` returns the loss, so DDP wraps it whole.

Each objective also has ``make_inputs(x, batch, augment, g)``, which turns a batch into the ``forward`` arguments
(two augmented views, or one view and class indices) on the training device; :func:`emkit.learn.train.fit` runs
any of them.

- :class:`SimCLRObjective`: Chen et al. 2020, NT-Xent on a 2-layer projection head; embeddings are taken before it.
  Under DDP the negatives are gathered from all ranks.
- :class:`SimSiamObjective`: Chen & He 2021, projector + predictor + stop-gradient.
- :class:`SwAVObjective`: Caron et al. 2020, swapped prediction of Sinkhorn-balanced prototype codes.
- :class:`SupervisedObjective`: the supervised reference, the same encoder trained end to end with a linear head
  and cross-entropy on the dataset's labels.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .augment import EMAugment
from .losses import nt_xent, simsiam_loss, swav_loss
from .models import ProjectionHead, SimSiamPredictor, SimSiamProjector

__all__ = ["SimCLRObjective", "SimSiamObjective", "SwAVObjective", "SupervisedObjective"]


def _two_views(x: torch.Tensor, batch: dict, augment: EMAugment, g: torch.Generator):
    """Two augmented views of ``x``; from :class:`emkit.learn.pairs.SameObjectPairs` batches, the second view is
    cut from the partner cutout ``batch["x_pair"]`` (objectives without negatives have nothing to mask)."""
    if "x_pair" in batch:
        return augment(x, g), augment(batch["x_pair"].to(x.device, dtype=x.dtype, non_blocking=True), g)
    return augment(x, g), augment(x, g)


class SimCLRObjective(nn.Module):
    """Encoder + SimCLR projection head; ``forward(x_a, x_b)`` returns the NT-Xent loss (Chen et al. 2020).

    Both views go through the encoder in one concatenated batch ``(2N, C, D, H, W)`` so BatchNorm sees both.
    Batches from :class:`emkit.learn.pairs.SameObjectPairs` carry ``x_pair`` and ``group``: the second view is then
    cut from the partner cutout, and other pairs of the same group are not used as negatives (SegCLR-style).
    Under DDP, ``gather_distributed=True`` uses the views of all ranks as negatives (global batch).
    ``decoupled=True`` leaves the positive out of the loss's denominator (DCL, Yeh et al. 2022).
    """

    def __init__(self, encoder: nn.Module, hidden_dim: int = 512, out_dim: int = 128, temperature: float = 0.1,
                 gather_distributed: bool = True, decoupled: bool = False):
        super().__init__()
        self.encoder = encoder
        self.head = ProjectionHead(encoder.embed_dim, hidden_dim, out_dim)
        self.temperature = float(temperature)
        self.gather_distributed = bool(gather_distributed)
        self.decoupled = bool(decoupled)

    def make_inputs(self, x, batch, augment: EMAugment, g: torch.Generator):
        views = _two_views(x, batch, augment, g)
        if "x_pair" in batch:  # emkit.learn.pairs.SameObjectPairs: the positive is another cutout of the object
            return *views, torch.as_tensor(batch["group"]).to(x.device)
        return views

    def forward(self, x_a: torch.Tensor, x_b: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
        z = self.head(self.encoder(torch.cat([x_a, x_b], dim=0)))
        z_a, z_b = z.chunk(2, dim=0)
        return nt_xent(z_a, z_b, self.temperature, self.gather_distributed, groups, self.decoupled)


class SimSiamObjective(nn.Module):
    """Encoder + SimSiam projector and predictor; ``forward(x_a, x_b)`` returns the loss (Chen & He 2021)."""

    def __init__(self, encoder: nn.Module, dim: int = 2048, pred_dim: int = 512):
        super().__init__()
        self.encoder = encoder
        self.projector = SimSiamProjector(encoder.embed_dim, dim)
        self.predictor = SimSiamPredictor(dim, pred_dim)

    def make_inputs(self, x, batch, augment: EMAugment, g: torch.Generator):
        return _two_views(x, batch, augment, g)

    def forward(self, x_a: torch.Tensor, x_b: torch.Tensor) -> torch.Tensor:
        z = self.projector(self.encoder(torch.cat([x_a, x_b], dim=0)))
        p = self.predictor(z)
        z_a, z_b = z.chunk(2, dim=0)
        p_a, p_b = p.chunk(2, dim=0)
        return simsiam_loss(p_a, p_b, z_a, z_b)


class SwAVObjective(nn.Module):
    """Encoder + projection head + K prototypes; ``forward(x_a, x_b)`` returns SwAV's loss (Caron et al. 2020).

    The prototypes are a bias-free linear layer whose rows are L2-normalised in the forward pass (SwAV normalises
    them in place after each step; here the gradient sees the normalisation, the scores are the same). With
    ``freeze_steps`` > 0 their gradient is cut for the first that many training forward passes, which SwAV does
    for its first epoch so that the codes of a random network do not drag them around. No negatives, so batches
    of :class:`emkit.learn.pairs.SameObjectPairs` need no group masking: the second view is simply cut from the
    partner cutout.
    """

    def __init__(self, encoder: nn.Module, hidden_dim: int = 512, out_dim: int = 128, n_prototypes: int = 32,
                 temperature: float = 0.1, epsilon: float = 0.05, sinkhorn_iters: int = 3, freeze_steps: int = 0):
        super().__init__()
        if n_prototypes < 2:
            raise ValueError(f"SwAV needs >= 2 prototypes; got {n_prototypes}")
        self.encoder = encoder
        self.head = ProjectionHead(encoder.embed_dim, hidden_dim, out_dim)
        self.prototypes = nn.Linear(out_dim, n_prototypes, bias=False)
        self.temperature, self.epsilon = float(temperature), float(epsilon)
        self.sinkhorn_iters, self.freeze_steps = int(sinkhorn_iters), int(freeze_steps)
        self.register_buffer("forward_steps", torch.zeros((), dtype=torch.long))  # in the state dict: resumes

    def make_inputs(self, x, batch, augment: EMAugment, g: torch.Generator):
        return _two_views(x, batch, augment, g)

    def scores(self, z: torch.Tensor) -> torch.Tensor:
        """``(N, K)`` cosine similarities of projections ``z`` ``(N, out_dim)`` to the prototypes."""
        w = self.prototypes.weight
        if self.training and int(self.forward_steps) < self.freeze_steps:
            w = w.detach()
        # in float32 even under autocast: bf16 scores (3 significant digits) would be amplified 1/epsilon = 20x
        # in the Sinkhorn exponent
        with torch.autocast(z.device.type, enabled=False):
            return F.normalize(z.float(), dim=1) @ F.normalize(w.float(), dim=1).t()

    def forward(self, x_a: torch.Tensor, x_b: torch.Tensor) -> torch.Tensor:
        s = self.scores(self.head(self.encoder(torch.cat([x_a, x_b], dim=0))))
        if self.training:
            self.forward_steps += 1
        s_a, s_b = s.chunk(2, dim=0)
        return swav_loss(s_a, s_b, self.temperature, self.epsilon, self.sinkhorn_iters)


class SupervisedObjective(nn.Module):
    """Encoder + linear head trained end to end with cross-entropy: ``forward(x, y)`` -> loss.

    Parameters
    ----------
    encoder : nn.Module with ``embed_dim``
    classes : sequence of class labels; ``batch[label_key]`` values are mapped to their index in it.
    label_key : the dataset field holding the label.
    """

    def __init__(self, encoder: nn.Module, classes: Sequence, label_key: str = "label"):
        super().__init__()
        self.encoder = encoder
        self.classes = list(classes)
        self.label_key = label_key
        self._index = {c: i for i, c in enumerate(self.classes)}
        self.head = nn.Linear(encoder.embed_dim, len(self.classes))

    def labels_to_index(self, batch: dict) -> torch.Tensor:
        labels = batch[self.label_key]
        if isinstance(labels, torch.Tensor):
            labels = labels.tolist()
        ids = batch["id"].tolist() if isinstance(batch.get("id"), torch.Tensor) else batch.get("id")
        out = []
        for i, lab in enumerate(labels):
            if lab not in self._index:
                pid = ids[i] if ids is not None else "?"
                raise ValueError(f"sample id={pid}: label {lab!r} is not one of the classes {self.classes}")
            out.append(self._index[lab])
        return torch.tensor(out, dtype=torch.long)

    @staticmethod
    def _missing(v) -> bool:
        return v is None or (isinstance(v, str) and v == "") or (isinstance(v, float) and v != v)

    def sample_mask(self, batch: dict) -> torch.Tensor:
        """``(N,)`` bool: False for samples without a label (None, "" or NaN), which the loop drops."""
        labels = batch[self.label_key]
        if isinstance(labels, torch.Tensor):
            labels = labels.tolist()
        return torch.tensor([not self._missing(v) for v in labels], dtype=torch.bool)

    def make_inputs(self, x, batch, augment: EMAugment, g: torch.Generator):
        return augment(x, g), self.labels_to_index(batch).to(x.device)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.head(self.encoder(x)).float(), y)

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities ``(N, n_classes)`` for ``x`` ``(N, C, D, H, W)``."""
        return torch.softmax(self.head(self.encoder(x)).float(), dim=1)
