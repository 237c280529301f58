"""Self-supervised objectives: NT-Xent (SimCLR), the SimSiam negative-cosine loss and SwAV's swapped prediction.

- NT-Xent: Chen, Kornblith, Norouzi & Hinton 2020, "A Simple Framework for Contrastive Learning of Visual
  Representations" (ICML), Eq. 1. Written in plain torch because pytorch-metric-learning's ``NTXentLoss`` builds all
  pairs explicitly (time and memory grow ~batch^3, ecosystem notes); the test checks that both give the same value.
  With ``groups`` (e.g. the object each pair was cut from, when positives are two cutouts of one object as in
  SegCLR, Dorkenwald et al. 2023), candidates of the anchor's own group other than its positive are left out of the
  denominator: false-negative elimination (Huynh et al. 2022, "Boosting Contrastive Self-Supervised Learning with
  False Negative Cancellation", WACV). With ``decoupled=True`` the positive is also left out of the denominator:
  the decoupled contrastive loss (Yeh, Hong, Hsu, Liu, Chen & LeCun 2022, "Decoupled Contrastive Learning", ECCV,
  Eq. 5, DCL without its weighting), which removes the positive-negative coupling that slows SimCLR at small batch.
- SimSiam: Chen & He 2021, "Exploring Simple Siamese Representation Learning" (CVPR), Eq. 3-4: symmetric negative
  cosine similarity between the predictor output of one view and the stop-gradient projection of the other.
- SwAV: Caron, Misra, Mairal, Goyal, Bojanowski & Joulin 2020, "Unsupervised Learning of Visual Features by
  Contrasting Cluster Assignments" (NeurIPS), Eq. 1-3: each view's soft assignment to K prototypes, computed with
  the Sinkhorn-Knopp algorithm under an equal-partition constraint, is predicted from the other view.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

__all__ = ["nt_xent", "NTXent", "simsiam_loss", "SimSiamLoss", "sinkhorn_knopp", "swav_loss"]


class _GatherWithGrad(torch.autograd.Function):
    """all_gather of (n_r, D) tensors of possibly different n_r, with gradients flowing back to every rank.

    Backward all-reduces (sums) the gradients of the gathered copies, so each rank receives the gradient of *every*
    rank's loss with respect to its own rows (the cross-replica behaviour of SimCLR's TPU implementation). Written
    here because torch.distributed.nn.all_gather needs reduce-scatter/all-to-all, which gloo lacks on CPU.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor):
        world = dist.get_world_size()
        n = torch.tensor([x.shape[0]], device=x.device)
        sizes = [torch.zeros_like(n) for _ in range(world)]
        dist.all_gather(sizes, n)
        sizes = [int(s.item()) for s in sizes]
        m = max(sizes)
        pad = torch.zeros((m - x.shape[0], *x.shape[1:]), dtype=x.dtype, device=x.device)
        buf = [torch.empty((m, *x.shape[1:]), dtype=x.dtype, device=x.device) for _ in range(world)]
        dist.all_gather(buf, torch.cat([x, pad]).contiguous())
        ctx.sizes, ctx.rank, ctx.m = sizes, dist.get_rank(), m
        return tuple(b[:s] for b, s in zip(buf, sizes))

    @staticmethod
    def backward(ctx, *grads):
        m = ctx.m
        full = torch.stack([torch.cat([g, g.new_zeros((m - g.shape[0], *g.shape[1:]))]) for g in grads])
        dist.all_reduce(full)  # sum over ranks of d(loss_r)/d(gathered rows)
        return full[ctx.rank][: ctx.sizes[ctx.rank]]


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def nt_xent(z_a: torch.Tensor, z_b: torch.Tensor, temperature: float = 0.1,
            gather_distributed: bool = False, groups: torch.Tensor | None = None,
            decoupled: bool = False) -> torch.Tensor:
    """Normalized temperature-scaled cross-entropy over the 2N views of a batch (Chen et al. 2020).

    Parameters
    ----------
    z_a, z_b : (N, D) tensors
        Projections of the two augmented views; row i of ``z_a`` and row i of ``z_b`` are the positive pair, every
        other row of either tensor is a negative. Not required to be normalized (L2-normalized here).
    temperature : float
        tau in Eq. 1 (0.07-0.5 are usual; seed 003 used 0.07 and 0.1).
    gather_distributed : bool
        Under ``torch.distributed`` with several processes, use the views of *all* ranks as negatives (the global
        batch of the SimCLR paper): each rank's anchors are its own 2N views, the candidates all 2M views. With
        equal per-rank batches the mean over ranks equals the single-process loss on the concatenated batch, and
        (after DDP's gradient averaging) so does the gradient. No effect without a process group.
    groups : (N,) integer tensor, optional
        Group of pair i (both views share it), e.g. the object both cutouts come from. An anchor's candidates of its
        own group, other than its positive, are not counted as negatives (they are removed from the denominator).
        None: every other view is a negative (plain SimCLR).
    decoupled : bool
        Leave the positive out of the denominator too (DCL, Yeh et al. 2022): the loss of anchor i becomes
        ``-s_ii'/tau + log sum_{k != i, i'} exp(s_ik/tau)``. It can be negative.

    Returns
    -------
    scalar tensor
        Mean over the (local) 2N anchors of ``-log(exp(s_ii'/tau) / sum_{k != i} exp(s_ik/tau))`` with cosine
        similarity s (the sum without k = i' when ``decoupled``).
    """
    if z_a.shape != z_b.shape or z_a.ndim != 2:
        raise ValueError(f"z_a and z_b must both be (N, D); got {tuple(z_a.shape)} and {tuple(z_b.shape)}")
    n = z_a.shape[0]
    if groups is not None:
        groups = torch.as_tensor(groups, device=z_a.device).reshape(-1)
        if groups.shape[0] != n:
            raise ValueError(f"groups must have one entry per pair ({n}); got {groups.shape[0]}")
    z_a = F.normalize(z_a.float(), dim=1)  # float32 for a stable logsumexp
    z_b = F.normalize(z_b.float(), dim=1)
    if gather_distributed and _distributed():
        all_a = _GatherWithGrad.apply(z_a)
        all_b = _GatherWithGrad.apply(z_b)
        rank = dist.get_rank()
        offset = sum(t.shape[0] for t in all_a[:rank])
        m = sum(t.shape[0] for t in all_a)
        cand = torch.cat([*all_a, *all_b], dim=0)  # (2M, D)
        anchors = torch.cat([z_a, z_b], dim=0)  # (2N, D)
        sim = anchors @ cand.t() / temperature  # (2N, 2M)
        own = torch.cat([torch.arange(offset, offset + n), torch.arange(m + offset, m + offset + n)])
        target = torch.cat([torch.arange(m + offset, m + offset + n), torch.arange(offset, offset + n)])
        if groups is not None:
            all_g = torch.cat(_GatherWithGrad.apply(groups))  # integer ids: gathered, no gradient
            _mask_own_group(sim, groups.repeat(2), all_g.repeat(2), target.to(sim.device))
        sim[torch.arange(2 * n), own.to(sim.device)] = float("-inf")  # an anchor is never its own negative
        return _contrastive_cross_entropy(sim, target.to(sim.device), decoupled)
    z = torch.cat([z_a, z_b], dim=0)  # (2N, D)
    sim = z @ z.t() / temperature  # (2N, 2N)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    if groups is not None:
        g2 = groups.repeat(2)
        _mask_own_group(sim, g2, g2, target)
    sim.fill_diagonal_(float("-inf"))  # an anchor is never its own negative
    return _contrastive_cross_entropy(sim, target, decoupled)


def _contrastive_cross_entropy(sim: torch.Tensor, target: torch.Tensor, decoupled: bool) -> torch.Tensor:
    """Mean of ``-sim[k, target_k] + logsumexp_l sim[k, l]`` over anchors k; without the target in the sum if
    ``decoupled`` (then ``sim`` is changed in place)."""
    if not decoupled:
        return F.cross_entropy(sim, target)
    rows = torch.arange(sim.shape[0], device=sim.device)
    positive = sim[rows, target].clone()
    sim[rows, target] = float("-inf")
    return (torch.logsumexp(sim, dim=1) - positive).mean()


def _mask_own_group(sim: torch.Tensor, anchor_groups: torch.Tensor, cand_groups: torch.Tensor,
                    target: torch.Tensor) -> None:
    """Set ``sim[k, l] = -inf`` (in place) where anchor k and candidate l share a group and l is not k's positive."""
    same = anchor_groups[:, None] == cand_groups[None, :]
    same[torch.arange(sim.shape[0], device=sim.device), target] = False
    sim.masked_fill_(same, float("-inf"))


class NTXent(nn.Module):
    """Module form of :func:`nt_xent`: ``loss = NTXent(0.1)(z_a, z_b)`` with ``z_a, z_b`` of shape (N, D)."""

    def __init__(self, temperature: float = 0.1, gather_distributed: bool = False, decoupled: bool = False):
        super().__init__()
        self.temperature = float(temperature)
        self.gather_distributed = bool(gather_distributed)
        self.decoupled = bool(decoupled)

    def forward(self, z_a: torch.Tensor, z_b: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
        return nt_xent(z_a, z_b, self.temperature, self.gather_distributed, groups, self.decoupled)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, decoupled={self.decoupled}"


def simsiam_loss(p_a: torch.Tensor, p_b: torch.Tensor, z_a: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    """Symmetric SimSiam loss ``D(p_a, sg(z_b))/2 + D(p_b, sg(z_a))/2`` with ``D = -cosine`` (Chen & He 2021).

    Parameters
    ----------
    p_a, p_b : (N, D) tensors
        Predictor outputs for views a and b.
    z_a, z_b : (N, D) tensors
        Projector outputs for views a and b; detached here (the stop-gradient that prevents collapse).

    Returns
    -------
    scalar tensor in [-1, 1]; -1 is perfect agreement.
    """
    return -(F.cosine_similarity(p_a.float(), z_b.detach().float(), dim=1).mean()
             + F.cosine_similarity(p_b.float(), z_a.detach().float(), dim=1).mean()) / 2


class SimSiamLoss(nn.Module):
    """Module form of :func:`simsiam_loss`."""

    def forward(self, p_a, p_b, z_a, z_b) -> torch.Tensor:
        return simsiam_loss(p_a, p_b, z_a, z_b)


@torch.no_grad()
def sinkhorn_knopp(scores: torch.Tensor, epsilon: float = 0.05, n_iters: int = 3) -> torch.Tensor:
    """Soft cluster assignments of a batch with equal-sized clusters (Caron et al. 2020, Eq. 3; Cuturi 2013).

    Parameters
    ----------
    scores : (B, K) tensor
        Cosine similarities of B (normalized) projections to K (normalized) prototypes.
    epsilon : float
        Entropy regularisation; smaller gives harder assignments (SwAV: 0.05).
    n_iters : int
        Alternating normalisations of rows (samples) and columns (prototypes); SwAV uses 3.

    Returns
    -------
    (B, K) float32 tensor, no gradient
        Each row sums to 1 exactly (a distribution over prototypes). Each column sums to B / K once the
        alternation has converged, and roughly so after SwAV's three iterations: the batch is spread evenly over
        the prototypes, which rules out the trivial solution of one cluster for everything. Under
        ``torch.distributed`` B is the global batch and the column sums run over every rank's rows.
    """
    if scores.ndim != 2:
        raise ValueError(f"scores must be (B, K); got {tuple(scores.shape)}")
    # exp(s / eps) overflows float32 for eps << 1; subtracting the global max leaves Q unchanged after normalising
    logits = scores.float() / epsilon
    top = logits.max()
    if _distributed():
        dist.all_reduce(top, op=dist.ReduceOp.MAX)
    q = torch.exp(logits - top).t()  # (K, B)
    n_prototypes = q.shape[0]
    n_samples = torch.tensor(float(q.shape[1]), device=q.device)
    total = q.sum()
    if _distributed():
        dist.all_reduce(total)
        dist.all_reduce(n_samples)
    q /= total
    for _ in range(n_iters):
        rows = q.sum(dim=1, keepdim=True)  # mass per prototype
        if _distributed():
            dist.all_reduce(rows)
        q /= rows
        q /= n_prototypes
        q /= q.sum(dim=0, keepdim=True)  # mass per sample
        q /= n_samples
    return (q * n_samples).t()


def swav_loss(scores_a: torch.Tensor, scores_b: torch.Tensor, temperature: float = 0.1, epsilon: float = 0.05,
              n_iters: int = 3) -> torch.Tensor:
    """SwAV's swapped prediction: predict view b's code from view a's scores and vice versa (Caron et al. 2020).

    Parameters
    ----------
    scores_a, scores_b : (B, K) tensors
        Cosine similarities of the two views' normalized projections to the normalized prototypes.
    temperature : float
        tau of the softmax over prototypes (SwAV: 0.1).
    epsilon, n_iters : Sinkhorn-Knopp parameters of the codes (see :func:`sinkhorn_knopp`).

    Returns
    -------
    scalar tensor
        ``-(sum_k q_b log p_a + sum_k q_a log p_b) / 2`` averaged over the batch, with ``p = softmax(scores / tau)``
        and codes ``q`` from :func:`sinkhorn_knopp` (no gradient flows through the codes).
    """
    if scores_a.shape != scores_b.shape or scores_a.ndim != 2:
        raise ValueError(f"scores_a and scores_b must both be (B, K); got {tuple(scores_a.shape)} and "
                         f"{tuple(scores_b.shape)}")
    q_a = sinkhorn_knopp(scores_a.detach(), epsilon, n_iters)
    q_b = sinkhorn_knopp(scores_b.detach(), epsilon, n_iters)
    log_p_a = F.log_softmax(scores_a.float() / temperature, dim=1)
    log_p_b = F.log_softmax(scores_b.float() / temperature, dim=1)
    return -((q_b * log_p_a).sum(dim=1).mean() + (q_a * log_p_b).sum(dim=1).mean()) / 2
