import math

import pytest
import torch

from emkit.learn.losses import nt_xent, simsiam_loss, sinkhorn_knopp, swav_loss


def _view_pairs(seed: int, n: int, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Projections of two views of n samples, (n, d) float64 each, drawn with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g, dtype=torch.float64), torch.randn(n, d, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("temperature", [0.07, 0.5])
def test_nt_xent_matches_pytorch_metric_learning(temperature):
    from pytorch_metric_learning.losses import NTXentLoss

    n = 6
    z_a, z_b = _view_pairs(seed=1, n=n, d=8)
    ours = nt_xent(z_a, z_b, temperature)
    # PML: one embeddings tensor (2N, D); the two views of sample i share label i -> exactly one positive per anchor,
    # the other 2N-2 rows are negatives; the loss is the mean over the 2N (anchor, positive) pairs.
    emb = torch.cat([z_a, z_b]).float()
    labels = torch.arange(n).repeat(2)
    ref = NTXentLoss(temperature=temperature)(emb, labels)
    assert abs(ours.item() - ref.item()) < 1e-5


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_nt_xent_groups_match_pytorch_metric_learning(temperature):
    """With groups, an anchor's negatives are the views of *other* groups only (false-negative elimination)."""
    from pytorch_metric_learning.losses import NTXentLoss

    n = 7
    groups = torch.tensor([0, 1, 0, 2, 1, 0, 3])
    z_a, z_b = _view_pairs(seed=2, n=n, d=5)
    ours = nt_xent(z_a, z_b, temperature, groups=groups)
    # PML with an explicit (a1, p, a2, neg) tuple: the positives are (i, i+n) and (i+n, i); the negatives of an
    # anchor are all views whose group differs from the anchor's.
    emb = torch.cat([z_a, z_b]).float()
    g2 = groups.repeat(2)
    a1 = torch.arange(2 * n)
    p = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    a2, neg = torch.nonzero(g2[:, None] != g2[None, :], as_tuple=True)
    ref = NTXentLoss(temperature=temperature)(emb, indices_tuple=(a1, p, a2, neg))
    assert abs(ours.item() - ref.item()) < 1e-5
    # distinct groups are plain SimCLR; masking same-group views removes terms from the denominator
    assert nt_xent(z_a, z_b, temperature, groups=torch.arange(n)).item() == pytest.approx(
        nt_xent(z_a, z_b, temperature).item(), abs=1e-12)
    assert ours.item() < nt_xent(z_a, z_b, temperature).item()
    with pytest.raises(ValueError, match="one entry per pair"):
        nt_xent(z_a, z_b, groups=groups[:3])


def test_nt_xent_properties():
    z = torch.nn.functional.normalize(torch.randn(4, 16), dim=1)
    perfect = nt_xent(z, z, 0.1)
    shuffled = nt_xent(z, z[[1, 2, 3, 0]], 0.1)
    assert perfect < shuffled
    # all-identical embeddings: uniform over 2N-1 candidates
    same = torch.ones(5, 3)
    assert math.isclose(nt_xent(same, same, 0.1).item(), math.log(9), rel_tol=1e-5)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        nt_xent(torch.randn(3, 4), torch.randn(4, 4))


def _decoupled_by_hand(z_a, z_b, temperature, groups=None):
    """DCL (Yeh et al. 2022, Eq. 5) term by term: -s(i, i')/tau + log sum over the anchor's negatives of exp(s/tau)."""
    z = torch.nn.functional.normalize(torch.cat([z_a, z_b]).double(), dim=1)
    n2 = z.shape[0]
    g2 = None if groups is None else groups.repeat(2)
    terms = []
    for i in range(n2):
        positive = (i + n2 // 2) % n2
        negatives = [k for k in range(n2) if k not in (i, positive) and (g2 is None or g2[k] != g2[i])]
        sims = [float(z[i] @ z[k]) / temperature for k in negatives]
        terms.append(-float(z[i] @ z[positive]) / temperature + math.log(sum(math.exp(v) for v in sims)))
    return sum(terms) / n2


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_decoupled_nt_xent_leaves_the_positive_out_of_the_denominator(temperature):
    n = 6
    z_a, z_b = _view_pairs(seed=3, n=n, d=5)
    ours = nt_xent(z_a, z_b, temperature, decoupled=True)
    assert ours.item() == pytest.approx(_decoupled_by_hand(z_a, z_b, temperature), rel=1e-5)
    # with groups, same-group views leave the denominator as in the coupled loss
    groups = torch.tensor([0, 1, 0, 2, 1, 3])
    assert nt_xent(z_a, z_b, temperature, groups=groups, decoupled=True).item() == pytest.approx(
        _decoupled_by_hand(z_a, z_b, temperature, groups), rel=1e-5)
    # removing the positive's term from the denominator lowers every anchor's loss
    assert ours.item() < nt_xent(z_a, z_b, temperature).item()
    # all-identical embeddings: log of the 2N - 2 negatives' count, the positive's term cancelling the rest
    same = torch.ones(5, 3)
    assert math.isclose(nt_xent(same, same, 0.1, decoupled=True).item(), math.log(8), rel_tol=1e-5)
    a = z_a.clone().requires_grad_(True)
    nt_xent(a, z_b, temperature, decoupled=True).backward()
    assert torch.isfinite(a.grad).all() and a.grad.abs().sum() > 0


def test_nt_xent_gradient_flows_to_both_views():
    a = torch.randn(4, 8, requires_grad=True)
    b = torch.randn(4, 8, requires_grad=True)
    nt_xent(a, b).backward()
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0


def test_simsiam_stop_gradient():
    p_a, p_b = torch.randn(4, 8, requires_grad=True), torch.randn(4, 8, requires_grad=True)
    z_a, z_b = torch.randn(4, 8, requires_grad=True), torch.randn(4, 8, requires_grad=True)
    loss = simsiam_loss(p_a, p_b, z_a, z_b)
    loss.backward()
    assert z_a.grad is None and z_b.grad is None  # stop-gradient
    assert p_a.grad is not None
    assert math.isclose(simsiam_loss(z_a, z_b, z_b, z_a).item(), -1.0, rel_tol=1e-6)


def _scores(b, k, seed=0, dim=6):
    g = torch.Generator().manual_seed(seed)
    z = torch.nn.functional.normalize(torch.randn(b, dim, generator=g), dim=1)
    c = torch.nn.functional.normalize(torch.randn(k, dim, generator=g), dim=1)
    return z @ c.t()


def test_sinkhorn_converges_to_the_entropic_transport_plan_with_equal_clusters():
    b, k, eps = 24, 4, 0.1
    s = _scores(b, k)
    q = sinkhorn_knopp(s, epsilon=eps, n_iters=500).double()
    # marginals: every sample a distribution, every prototype b / k samples
    assert torch.allclose(q.sum(1), torch.ones(b, dtype=torch.double), atol=1e-6)
    assert torch.allclose(q.sum(0), torch.full((k,), b / k, dtype=torch.double), atol=1e-4)
    # and the form diag(u) exp(S / eps) diag(v) (Sinkhorn 1967: the unique such matrix with these marginals):
    # log q - S / eps is a row term plus a column term, so its double-centred residual vanishes
    r = q.log() - s.double() / eps
    resid = r - r.mean(1, keepdim=True) - r.mean(0, keepdim=True) + r.mean()
    assert resid.abs().max() < 1e-5
    # three iterations (SwAV's setting) are close to balanced already; rows are exact by construction
    q3 = sinkhorn_knopp(s, epsilon=eps, n_iters=3)
    assert torch.allclose(q3.sum(1), torch.ones(b), atol=1e-5)
    assert (q3.sum(0) - b / k).abs().max() < 0.5 * b / k


def test_sinkhorn_spreads_a_collapsed_batch_evenly_and_keeps_tiny_epsilon_finite():
    # all samples with the same scores: the codes must not follow the argmax (that is SwAV's guard against collapse)
    s = torch.tensor([[0.9, 0.1, -0.3]]).repeat(12, 1)
    q = sinkhorn_knopp(s, epsilon=0.05, n_iters=3)
    assert torch.allclose(q, torch.full_like(q, 1 / 3), atol=1e-6)
    q = sinkhorn_knopp(_scores(16, 5), epsilon=0.01)  # exp(100) would overflow without the max shift
    assert torch.isfinite(q).all() and torch.allclose(q.sum(1), torch.ones(16), atol=1e-5)
    with pytest.raises(ValueError, match=r"\(B, K\)"):
        sinkhorn_knopp(torch.zeros(3))


def test_swav_loss_is_the_swapped_cross_entropy_with_fixed_codes():
    s_a = _scores(10, 4, seed=1).requires_grad_(True)
    s_b = _scores(10, 4, seed=2).requires_grad_(True)
    loss = swav_loss(s_a, s_b, temperature=0.2, epsilon=0.05, n_iters=3)
    q_a = sinkhorn_knopp(s_a.detach(), 0.05, 3)
    q_b = sinkhorn_knopp(s_b.detach(), 0.05, 3)
    ce_ab = -(q_b * torch.log_softmax(s_a / 0.2, dim=1)).sum(1).mean()
    ce_ba = -(q_a * torch.log_softmax(s_b / 0.2, dim=1)).sum(1).mean()
    assert loss.item() == pytest.approx(((ce_ab + ce_ba) / 2).item(), rel=1e-6)
    loss.backward()
    # no gradient through the codes: d loss / d s_a = (softmax(s_a / tau) - q_b) / (2 tau B)
    expect = (torch.softmax(s_a.detach() / 0.2, dim=1) - q_b) / (2 * 0.2 * 10)
    assert torch.allclose(s_a.grad, expect, atol=1e-6)
    with pytest.raises(ValueError, match="both be"):
        swav_loss(s_a, s_b[:5])


def _gather_worker(rank, world, store, out, cases):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        for sizes in cases:
            g = torch.Generator().manual_seed(0)
            m = sum(sizes)
            z_a, z_b = torch.randn(m, 5, generator=g), torch.randn(m, 5, generator=g)
            lo = sum(sizes[:rank])
            a = z_a[lo:lo + sizes[rank]].clone().requires_grad_(True)
            b = z_b[lo:lo + sizes[rank]].clone().requires_grad_(True)
            loss = nt_xent(a, b, 0.2, gather_distributed=True)
            loss.backward()
            groups = (torch.arange(m) % 2)[lo:lo + sizes[rank]]
            loss_g = nt_xent(a.detach(), b.detach(), 0.2, gather_distributed=True, groups=groups)
            loss_d = nt_xent(a.detach(), b.detach(), 0.2, gather_distributed=True, groups=groups, decoupled=True)
            codes = sinkhorn_knopp(_scores(m, 3, seed=5)[lo:lo + sizes[rank]], epsilon=0.1, n_iters=3)
            tag = "_".join(map(str, sizes))
            torch.save({"loss": loss.detach(), "ga": a.grad, "gb": b.grad, "loss_g": loss_g, "loss_d": loss_d,
                        "codes": codes},
                       f"{out}/{tag}_{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # spawns two processes (8-15 s on the shared 2-core machine)
def test_nt_xent_and_sinkhorn_span_all_ranks(tmp_path):
    import torch.multiprocessing as mp

    cases = ((3, 3), (3, 2))  # equal and unequal per-rank batches (the gather pads and trims)
    mp.spawn(_gather_worker, args=(2, str(tmp_path / "store"), str(tmp_path), cases), nprocs=2)
    for sizes in cases:
        tag = "_".join(map(str, sizes))
        res = [torch.load(tmp_path / f"{tag}_{r}.pt") for r in range(2)]
        g = torch.Generator().manual_seed(0)
        m = sum(sizes)
        z_a = torch.randn(m, 5, generator=g).requires_grad_(True)
        z_b = torch.randn(m, 5, generator=g).requires_grad_(True)
        ref = nt_xent(z_a, z_b, 0.2)
        # the global loss is the anchor-count-weighted mean of the per-rank losses
        combined = sum(r["loss"] * n for r, n in zip(res, sizes)) / m
        assert abs(combined.item() - ref.item()) < 1e-6
        # with groups (two groups across ranks): the masks use the gathered groups of every rank
        combined_g = sum(r["loss_g"] * n for r, n in zip(res, sizes)) / m
        ref_g = nt_xent(z_a.detach(), z_b.detach(), 0.2, groups=torch.arange(m) % 2)
        assert abs(combined_g.item() - ref_g.item()) < 1e-6
        combined_d = sum(r["loss_d"] * n for r, n in zip(res, sizes)) / m  # decoupled (DCL) across ranks
        ref_d = nt_xent(z_a.detach(), z_b.detach(), 0.2, groups=torch.arange(m) % 2, decoupled=True)
        assert abs(combined_d.item() - ref_d.item()) < 1e-6
        # SwAV codes: the prototype sums run over the global batch, so each rank gets its rows of the global codes
        codes = torch.cat([r["codes"] for r in res])
        assert torch.allclose(codes, sinkhorn_knopp(_scores(m, 3, seed=5), epsilon=0.1, n_iters=3), atol=1e-6)
        if sizes[0] == sizes[1]:
            # each rank's gradient is the gradient of the sum of all ranks' losses = world * d(global)/dz
            ref.backward()
            ga = torch.cat([r["ga"] for r in res])
            gb = torch.cat([r["gb"] for r in res])
            assert torch.allclose(ga, 2 * z_a.grad, atol=1e-6) and torch.allclose(gb, 2 * z_b.grad, atol=1e-6)
