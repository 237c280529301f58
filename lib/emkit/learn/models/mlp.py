"""Small MLP heads: the SimCLR projection head, the SimSiam projector/predictor, and an embedding classifier.

- :class:`ProjectionHead`: Chen et al. 2020 (SimCLR) 2-layer MLP ``Linear-BN-ReLU-Linear``; the representation used
  downstream is the encoder output *before* this head.
- :class:`SimSiamProjector`, :class:`SimSiamPredictor`: Chen & He 2021 ("Exploring Simple Siamese Representation
  Learning", CVPR): a 3-layer projector ending in a BN without affine, and a 2-layer bottleneck predictor.
- :class:`MLPClassifier`: embeddings ``(N, D)`` -> logits ``(N, n_classes)`` (the downstream classifier of seed 000,
  which trains an MLP on SegCLR embeddings to predict cell types).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ProjectionHead", "SimSiamProjector", "SimSiamPredictor", "MLPClassifier"]


class ProjectionHead(nn.Module):
    """SimCLR projection head g(h): ``(N, in_dim)`` -> ``(N, out_dim)`` (Chen et al. 2020)."""

    def __init__(self, in_dim: int, hidden_dim: int = 512, out_dim: int = 128, batch_norm: bool = True):
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(in_dim, hidden_dim, bias=not batch_norm)]
        if batch_norm:
            layers.append(nn.BatchNorm1d(hidden_dim))
        layers += [nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim)]
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class SimSiamProjector(nn.Module):
    """SimSiam projector: 3 linear layers with BN, the output BN without affine (Chen & He 2021, Sec. 4)."""

    def __init__(self, in_dim: int, dim: int = 2048):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, dim, bias=False), nn.BatchNorm1d(dim), nn.ReLU(inplace=True),
            nn.Linear(dim, dim, bias=False), nn.BatchNorm1d(dim), nn.ReLU(inplace=True),
            nn.Linear(dim, dim, bias=False), nn.BatchNorm1d(dim, affine=False),
        )
        self.out_dim = dim

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class SimSiamPredictor(nn.Module):
    """SimSiam predictor h: a 2-layer bottleneck MLP ``dim -> pred_dim -> dim`` (Chen & He 2021)."""

    def __init__(self, dim: int = 2048, pred_dim: int = 512):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, pred_dim, bias=False), nn.BatchNorm1d(pred_dim), nn.ReLU(inplace=True),
            nn.Linear(pred_dim, dim),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MLPClassifier(nn.Module):
    """Embeddings ``(N, in_dim)`` -> class logits ``(N, n_classes)``.

    Parameters
    ----------
    in_dim : int
        Embedding dimension (64 for the published SegCLR embeddings).
    n_classes : int
    hidden : sequence of int
        Hidden layer widths; ``()`` gives a linear classifier.
    dropout : float
        Dropout after every hidden layer.
    batch_norm : bool
        BatchNorm1d after every hidden linear layer.
    """

    def __init__(self, in_dim: int, n_classes: int, hidden: Sequence[int] = (256, 128), dropout: float = 0.2,
                 batch_norm: bool = True):
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for h in hidden:
            layers.append(nn.Linear(d, h))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(nn.ReLU(inplace=True))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            d = h
        layers.append(nn.Linear(d, n_classes))
        self.net = nn.Sequential(*layers)
        self.in_dim, self.n_classes = in_dim, n_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @torch.no_grad()
    def predict_proba(self, x) -> torch.Tensor:
        """Softmax probabilities ``(N, n_classes)`` for embeddings ``(N, in_dim)`` (eval mode for the call)."""
        was = self.training
        self.eval()
        try:
            x = torch.as_tensor(x, dtype=torch.float32, device=next(self.parameters()).device)
            return torch.softmax(self.net(x), dim=1)
        finally:
            self.train(was)

    def predict(self, x) -> np.ndarray:
        """Class indices ``(N,)`` for embeddings ``(N, in_dim)``."""
        return self.predict_proba(x).argmax(dim=1).cpu().numpy()

    def fit(self, x, y, *, epochs: int = 100, batch_size: int = 64, lr: float = 1e-3, weight_decay: float = 1e-4,
            class_weight: str | None = None, seed: int = 0, progress: bool = False) -> list[float]:
        """Train on embeddings ``x`` ``(N, in_dim)`` and integer labels ``y`` ``(N,)`` with AdamW + cross-entropy.

        A small, seeded mini-batch loop (the embeddings fit in memory; the 3D training loop in
        :mod:`emkit.learn.train` is for cutouts). ``class_weight="balanced"`` weights classes by
        ``N / (n_classes * count)`` (as scikit-learn does) for unbalanced cell-type tables.

        Returns
        -------
        list of float: the mean training loss of every epoch.
        """
        dev = next(self.parameters()).device
        x = torch.as_tensor(np.asarray(x), dtype=torch.float32, device=dev)
        y = torch.as_tensor(np.asarray(y), dtype=torch.long, device=dev)
        if x.ndim != 2 or x.shape[1] != self.in_dim or len(x) != len(y):
            raise ValueError(f"x must be (N, {self.in_dim}) and y (N,); got {tuple(x.shape)} and {tuple(y.shape)}")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= self.n_classes):
            bad = int(torch.nonzero((y < 0) | (y >= self.n_classes))[0])
            raise ValueError(f"row {bad}: label {int(y[bad])} outside 0..{self.n_classes - 1}")
        weight = None
        if class_weight == "balanced":
            counts = torch.bincount(y, minlength=self.n_classes).float().clamp_min(1)
            weight = len(y) / (self.n_classes * counts)
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        opt = torch.optim.AdamW(self.parameters(), lr=lr, weight_decay=weight_decay)
        losses = []
        it = range(epochs)
        if progress:
            from tqdm.auto import tqdm

            it = tqdm(it, desc="MLPClassifier", unit="epoch")
        self.train()
        for _ in it:
            perm = torch.randperm(len(x), generator=g).to(dev)
            tot = 0.0
            for i in range(0, len(x), batch_size):
                idx = perm[i:i + batch_size]
                if len(idx) < 2 and any(isinstance(m, nn.BatchNorm1d) for m in self.modules()):
                    continue  # BatchNorm cannot train on a single sample
                loss = F.cross_entropy(self.net(x[idx]), y[idx], weight=weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                tot += float(loss.detach()) * len(idx)
            losses.append(tot / max(1, len(x)))
        self.eval()
        return losses
