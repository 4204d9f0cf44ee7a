import math

import pytest
import torch
import torch.nn.functional as F

from mmgraph.nn import (
    alignment_loss,
    bootstrap_cosine_loss,
    bpo_loss,
    bpr_loss,
    calibrated_uniformity_loss,
    emb_loss,
    mean_square_loss,
    nbpo_loss,
    reverse_bpr_loss,
    uniformity_loss,
)


def _sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def test_bpr_loss_hand_computed():
    pos = torch.tensor([2.0, 0.5])
    neg = torch.tensor([1.0, 1.5])
    ref = -(math.log(1e-10 + _sig(1.0)) + math.log(1e-10 + _sig(-1.0))) / 2
    assert math.isclose(float(bpr_loss(pos, neg)), ref, rel_tol=1e-6)
    ref_ls = -(math.log(_sig(1.0)) + math.log(_sig(-1.0))) / 2
    assert math.isclose(float(bpr_loss(pos, neg, form='logsigmoid')),
                        ref_ls, rel_tol=1e-6)
    # [B, k] negatives: mean over all B*k pairs
    neg2 = torch.tensor([[1.0, 3.0], [0.5, 1.5]])
    ref2 = -(math.log(_sig(1.0)) + math.log(_sig(-1.0)) + math.log(_sig(0.0))
             + math.log(_sig(-1.0))) / 4
    assert math.isclose(float(bpr_loss(pos, neg2, form='logsigmoid')), ref2,
                        rel_tol=1e-6)
    assert bpr_loss(pos, neg2, reduction='none').shape == (2, 2)
    # the 1e-10 floor: MMRec form saturates, logsigmoid keeps growing
    big = bpr_loss(torch.tensor([0.0]), torch.tensor([100.0]))
    assert math.isclose(float(big), -math.log(1e-10), rel_tol=1e-4)
    assert float(bpr_loss(torch.tensor([0.0]), torch.tensor([100.0]),
                          form='logsigmoid')) == pytest.approx(100.0)
    with pytest.raises(ValueError, match='bpr_loss'):
        bpr_loss(pos, torch.randn(3))
    with pytest.raises(ValueError, match='bpr_loss'):
        bpr_loss(pos, neg, form='hinge')


def test_reverse_bpr_loss_value_and_descent_direction():
    pos = torch.tensor([2.0, 0.5])
    neg = torch.tensor([1.0, 1.5])
    ref = -(math.log(_sig(-1.0)) + math.log(_sig(1.0))) / 2
    assert math.isclose(float(reverse_bpr_loss(pos, neg)), ref, rel_tol=1e-6)

    # one SGD step on the reverse loss must LOWER s_pos - s_neg (forgetting)
    torch.manual_seed(0)
    user = torch.randn(8, 4, requires_grad=True)
    item_pos = torch.randn(8, 4, requires_grad=True)
    item_neg = torch.randn(8, 4, requires_grad=True)

    def margin():
        with torch.no_grad():
            return float(((user * item_pos).sum(-1) -
                          (user * item_neg).sum(-1)).sum())

    before = margin()
    loss = reverse_bpr_loss((user * item_pos).sum(-1),
                            (user * item_neg).sum(-1))
    loss.backward()
    with torch.no_grad():
        for p in (user, item_pos, item_neg):
            p -= 0.1 * p.grad
    assert margin() < before
    # and the plain BPR step raises it
    for p in (user, item_pos, item_neg):
        p.grad = None
    before = margin()
    bpr_loss((user * item_pos).sum(-1), (user * item_neg).sum(-1)).backward()
    with torch.no_grad():
        for p in (user, item_pos, item_neg):
            p -= 0.1 * p.grad
    assert margin() > before


def _logits(B=6, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    pos = (2 * torch.randn(B, generator=g, dtype=torch.float64))
    neg = (2 * torch.randn(B, k, generator=g, dtype=torch.float64))
    gpos = (2 * torch.randn(B, generator=g, dtype=torch.float64))
    gneg = (2 * torch.randn(B, k, generator=g, dtype=torch.float64))
    return [t.requires_grad_() for t in (pos, neg, gpos, gneg)]


def test_bpo_loss_gradients_match_reference_table():
    pos, neg, _, _ = _logits()
    k = neg.size(1)
    loss = bpo_loss(pos, neg)
    ref = -(k * F.logsigmoid(pos).sum() + F.logsigmoid(-neg).sum())
    assert torch.allclose(loss, ref)
    g_pos, g_neg = torch.autograd.grad(loss, (pos, neg))
    # `_BPO.py` ascent: observed sigma(-R) per pair, unvoted -sigma(R)
    assert torch.allclose(-g_pos, k * torch.sigmoid(-pos.detach()))
    assert torch.allclose(-g_neg, -torch.sigmoid(neg.detach()))
    assert math.isclose(bpo_loss(pos, neg, reduction='mean').item(),
                        loss.item() / pos.numel() / k, rel_tol=1e-9)


def test_nbpo_loss_gradients_match_reference_table():
    pos, neg, gpos, gneg = _logits()
    k = neg.size(1)
    loss = nbpo_loss(pos, neg, gpos, gneg)
    g_pos, g_neg, g_gpos, g_gneg = torch.autograd.grad(loss,
                                                      (pos, neg, gpos, gneg))
    R_p, R_n = pos.detach(), neg.detach()
    rho_p, rho_n = torch.sigmoid(gpos.detach()), torch.sigmoid(gneg.detach())
    sig = torch.sigmoid
    # `_NBPO.py (final)` ascent row; descent = minus; observed counted k times
    assert torch.allclose(-g_pos, k * (1 - rho_p) * sig(-R_p))
    assert torch.allclose(-g_gpos, k * (-sig(R_p) * rho_p))
    assert torch.allclose(-g_neg, rho_n * sig(-R_n) - sig(R_n))
    assert torch.allclose(-g_gneg, sig(R_n) * (1 - rho_n))

    # value: minus the stop-gradient objective
    obs = (1 - rho_p) * torch.log(sig(R_p)) + sig(R_p) * torch.log(1 - rho_p)
    unv = (rho_n * torch.log(sig(R_n)) + torch.log(sig(-R_n)) +
           sig(R_n) * torch.log(rho_n))
    assert torch.allclose(loss, -(k * obs.sum() + unv.sum()))


def test_nbpo_reduces_to_bpo_when_rho_is_zero():
    pos, neg, _, _ = _logits(seed=1)
    gpos = torch.full_like(pos, -60.0)  # rho = sigma(-60) ~ 1e-26
    gneg = torch.full_like(neg, -60.0)
    loss = nbpo_loss(pos, neg, gpos, gneg)
    assert torch.isfinite(loss)
    g_nbpo = torch.autograd.grad(loss, (pos, neg))
    g_bpo = torch.autograd.grad(bpo_loss(pos, neg), (pos, neg))
    for a, b in zip(g_nbpo, g_bpo):
        assert torch.allclose(a, b, atol=1e-12)
    # values differ only by -sum sg(sigma(R)) log(rho) over unvoted pairs
    extra = -(torch.sigmoid(neg.detach()) * F.logsigmoid(gneg)).sum()
    assert torch.allclose(loss, bpo_loss(pos, neg) + extra, rtol=1e-9)


def test_nbpo_extreme_logits_are_finite():
    pos = torch.tensor([40.0, -40.0], requires_grad=True)
    neg = torch.tensor([[-40.0], [40.0]], requires_grad=True)
    gpos = torch.tensor([80.0, -80.0], requires_grad=True)
    gneg = torch.tensor([[-80.0], [80.0]], requires_grad=True)
    loss = nbpo_loss(pos, neg, gpos, gneg)
    grads = torch.autograd.grad(loss, (pos, neg, gpos, gneg))
    assert torch.isfinite(loss) and all(torch.isfinite(g).all() for g in grads)
    with pytest.raises(ValueError, match='nbpo_loss'):
        nbpo_loss(pos, neg, gpos, gneg.view(-1))


def test_emb_loss_and_mean_square_loss():
    a = torch.tensor([[3.0, 4.0], [0.0, 0.0]])  # ||a||_F = 5
    b = torch.tensor([[1.0, 0.0], [0.0, 2.0], [2.0, 0.0]])  # ||b||_F = 3
    # un-squared norms divided by the rows of the LAST argument
    assert float(emb_loss(a, b)) == pytest.approx((5 + 3) / 3)
    assert float(emb_loss(b, a)) == pytest.approx((5 + 3) / 2)
    assert float(mean_square_loss(a, b)) == pytest.approx(25 / 4 + 9 / 6)


def test_alignment_and_uniformity_hand_computed():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    y = torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    # squared distances 2, 0, 4
    assert float(alignment_loss(x, y)) == pytest.approx(2.0)
    assert float(alignment_loss(x, y, alpha=1)) == pytest.approx(
        (math.sqrt(2) + 0 + 2) / 3)
    # pairs (0,1): 2, (0,2): 4, (1,2): 2
    ref = math.log((2 * math.exp(-4) + math.exp(-8)) / 3)
    assert float(uniformity_loss(x)) == pytest.approx(ref, rel=1e-6)
    ref1 = math.log((2 * math.exp(-2) + math.exp(-4)) / 3)
    assert float(uniformity_loss(x, t=1)) == pytest.approx(ref1, rel=1e-6)


def test_uniformity_matches_pdist_and_duplicates_are_safe():
    torch.manual_seed(0)
    x = F.normalize(torch.randn(30, 8), dim=-1)
    ref = torch.pdist(x).pow(2).mul(-2).exp().mean().log()
    assert torch.allclose(uniformity_loss(x), ref, atol=1e-5)
    dup = torch.cat([x[:5], x[:5]]).requires_grad_()  # repeated rows
    uniformity_loss(dup).backward()
    assert torch.isfinite(dup.grad).all()


def test_calibrated_uniformity_loss():
    torch.manual_seed(0)
    x = F.normalize(torch.randn(12, 6), dim=-1)
    m = torch.randn(12, 5, requires_grad=True)
    loss = calibrated_uniformity_loss(x, m, t=2.0, min_sim=0.0, max_sim=0.8)
    # naive reference over pairs a < b in pdist order
    vals = []
    for a in range(12):
        for b in range(a + 1, 12):
            d2 = float((x[a] - x[b]).pow(2).sum())
            s = float(F.cosine_similarity(m[a].detach(), m[b].detach(), dim=0))
            s = min(max(s, 0.0), 0.8)
            vals.append(math.exp(-2.0 * (d2 - 2.0 + 2.0 * s)))
    assert loss.item() == pytest.approx(math.log(sum(vals) / len(vals)),
                                        rel=1e-5)
    # s = 0 recovers plain uniformity up to the constant 2t
    zero = calibrated_uniformity_loss(x, m, max_sim=0.0)
    assert zero.item() == pytest.approx(float(uniformity_loss(x)) + 4.0,
                                        rel=1e-5)
    # m is not detached: gradients reach the calibration features
    loss.backward()
    assert m.grad is not None and float(m.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match='calibrated_uniformity_loss'):
        calibrated_uniformity_loss(x, m[:5])


def _naive_pair_loss(x, t, offset=None):
    # The autograd expression the fused pair losses replace.
    sq = x.pow(2).sum(-1)
    dist = (sq.view(-1, 1) + sq.view(1, -1) - 2 * x @ x.t()).clamp_min(0)
    if offset is not None:
        dist = dist + offset
    n = x.size(0)
    eye = torch.eye(n, dtype=torch.bool)
    logits = (-t * dist).masked_fill(eye, float('-inf'))
    return torch.logsumexp(logits.view(-1), 0) - math.log(n * (n - 1))


@pytest.mark.parametrize('t', [1.0, 2.0])
def test_uniformity_fused_backward_matches_autograd(t):
    torch.manual_seed(1)
    x = torch.randn(40, 6, dtype=torch.float64)
    x[7] = x[3]  # a duplicate row (its distance clamps at 0)
    m = torch.randn(40, 5, dtype=torch.float64)
    for calibrated in (False, True):
        a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
        ma, mb = m.clone().requires_grad_(), m.clone().requires_grad_()
        if calibrated:
            fused = calibrated_uniformity_loss(a, ma, t, -0.2, 0.6)
            mn = F.normalize(mb, dim=-1)
            ref = _naive_pair_loss(
                b, t, 2 * (mn @ mn.t()).clamp(-0.2, 0.6) - 2)
        else:
            fused, ref = uniformity_loss(a, t), _naive_pair_loss(b, t)
        (3 * fused).backward()
        (3 * ref).backward()
        assert fused.dtype == torch.float64
        assert fused.item() == pytest.approx(ref.item(), abs=1e-12)
        assert torch.allclose(a.grad, b.grad, atol=1e-12)
        if calibrated:
            assert torch.allclose(ma.grad, mb.grad, atol=1e-12)
    assert torch.autograd.gradcheck(
        lambda z, w: calibrated_uniformity_loss(z, w, t, -0.5, 0.5),
        (torch.randn(12, 4, dtype=torch.float64, requires_grad=True),
         torch.randn(12, 3, dtype=torch.float64, requires_grad=True)))


def test_uniformity_fused_retain_graph_and_autocast():
    torch.manual_seed(2)
    x = F.normalize(torch.randn(64, 8), dim=-1).requires_grad_()
    loss = uniformity_loss(x)
    loss.backward(retain_graph=True)
    first = x.grad.clone()
    loss.backward()  # the saved buffer is not consumed by the first pass
    assert torch.allclose(x.grad, 2 * first)
    # Under bfloat16 autocast the pairs are still computed in float32.
    xb = x.detach().to(torch.bfloat16).requires_grad_()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        low = uniformity_loss(xb)
    low.backward()
    assert low.dtype == torch.bfloat16 and xb.grad.dtype == torch.bfloat16
    assert low.item() == pytest.approx(loss.item(), abs=0.02)
    assert torch.allclose(xb.grad.float(), first, atol=0.02 * first.abs()
                          .max().item())


def test_bootstrap_cosine_loss():
    online = torch.tensor([[1.0, 0.0], [0.0, 2.0]], requires_grad=True)
    target = torch.tensor([[1.0, 1.0], [0.0, 3.0]], requires_grad=True)
    loss = bootstrap_cosine_loss(online, target)
    assert loss.item() == pytest.approx(1 - (1 / math.sqrt(2) + 1) / 2)
    loss.backward()
    assert target.grad is None and online.grad is not None  # stop-gradient
    # dropout on the target view: cosine ignores the 1/(1-p) rescale
    torch.manual_seed(0)
    z = torch.randn(64, 16)
    h = torch.randn(64, 16)
    torch.manual_seed(1)
    out = bootstrap_cosine_loss(z, h, dropout=0.5)
    torch.manual_seed(1)
    mask = F.dropout(torch.ones_like(h), p=0.5, training=True) > 0
    ref = 1 - F.cosine_similarity(z, h * mask, dim=-1).mean()
    assert torch.allclose(out, ref, atol=1e-6)
    assert 0.0 <= float(bootstrap_cosine_loss(z, z)) < 1e-6
