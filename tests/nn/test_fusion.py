import math

import pytest
import torch
import torch.nn.functional as F

from mmgraph.nn import (
    AttentionFusion,
    ConcatFusion,
    MeanFusion,
    ProgressiveWeightCopyingFusion,
    SphericalBezierFusion,
    pwc_schedule,
    slerp,
)


def _unit(*shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g, dtype=dtype), dim=-1)


def _classic_slerp(a, b, t):
    theta = torch.arccos((a * b).sum(-1, keepdim=True))
    return (torch.sin((1 - t) * theta) * a + torch.sin(t * theta) * b) / \
        torch.sin(theta)


def test_slerp_matches_classic_formula():
    a, b = _unit(50, 8, seed=0), _unit(50, 8, seed=1)
    t = torch.rand(50, dtype=torch.float64)
    out = slerp(a, b, t)
    assert torch.allclose(out, _classic_slerp(a, b, t[:, None]), atol=1e-12)
    assert torch.allclose(out.norm(dim=-1), torch.ones(50,
                                                       dtype=torch.float64))
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-12)
    assert torch.allclose(slerp(a, b, 1.0), b, atol=1e-12)
    # the geodesic is traversed at constant speed
    mid = slerp(a, b, 0.5)
    assert torch.allclose((mid * a).sum(-1), (mid * b).sum(-1), atol=1e-12)


def test_slerp_degenerate_cases_and_gradients():
    a = _unit(20, 6, seed=2, dtype=torch.float32).requires_grad_()
    # identical: fixed point, finite gradients
    out = slerp(a, a.detach(), 0.3)
    assert torch.allclose(out, a, atol=1e-6)
    out.sum().backward()
    assert torch.isfinite(a.grad).all()
    # near-parallel: matches normalised lerp
    b = F.normalize(a.detach() + 1e-8, dim=-1)
    assert torch.allclose(slerp(a.detach(), b, 0.5), a.detach(), atol=1e-6)
    # antipodal: unit norm everywhere, endpoints exact, 90 degrees at t=1/2
    a = a.detach()
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        out = slerp(a, -a, t)
        assert torch.allclose(out.norm(dim=-1), torch.ones(20), atol=1e-6)
        assert torch.allclose((out * a).sum(-1),
                              torch.full((20, ), math.cos(math.pi * t)),
                              atol=1e-5)
    # mixed batch: finite gradients through every branch
    b = torch.cat([a[:5], -a[5:10], _unit(10, 6, seed=3,
                                          dtype=torch.float32)])
    a = a.clone().requires_grad_()
    slerp(a, b, torch.rand(20)).sum().backward()
    assert torch.isfinite(a.grad).all()
    with pytest.raises(ValueError, match='slerp'):
        slerp(a, a[:, :3], 0.5)


def test_spherical_bezier_properties():
    torch.manual_seed(0)
    fusion = SphericalBezierFusion(alpha=0.5)
    assert str(fusion) == 'SphericalBezierFusion(alpha=0.5, eval_t=0.5)'
    pts = [_unit(40, 8, seed=s) for s in range(4)]
    t = torch.rand(40, dtype=torch.float64)

    # unit norm output for unit inputs (training: random Beta draw per row)
    out = fusion(pts)
    assert out.shape == (40, 8)
    assert torch.allclose(out.norm(dim=-1), torch.ones(40,
                                                       dtype=torch.float64))
    assert fusion.last_t.shape == (40, )
    # two modalities reduce exactly to SLERP
    assert torch.allclose(fusion(pts[:2], t=t), slerp(pts[0], pts[1], t),
                          atol=1e-12)
    # one modality: identity after normalisation
    raw = 3.0 * pts[0]
    assert torch.allclose(fusion([raw]), pts[0], atol=1e-12)
    # identical inputs are a fixed point
    assert torch.allclose(fusion([pts[1]] * 3, t=t), pts[1], atol=1e-12)
    # endpoints: t=0 first control point, t=1 last
    assert torch.allclose(fusion(pts, t=0.0), pts[0], atol=1e-12)
    assert torch.allclose(fusion(pts, t=1.0), pts[-1], atol=1e-10)
    # de Casteljau with 3 points = slerp of the two level-1 slerps
    lvl = [slerp(pts[0], pts[1], t), slerp(pts[1], pts[2], t)]
    assert torch.allclose(fusion(torch.stack(pts[:3]), t=t),
                          slerp(lvl[0], lvl[1], t), atol=1e-12)


def test_spherical_bezier_beta_draw_and_eval():
    pts = [_unit(4000, 4, seed=s, dtype=torch.float32) for s in range(2)]
    fusion = SphericalBezierFusion(alpha=0.1)
    torch.manual_seed(1)
    out1 = fusion(pts)
    t1 = fusion.last_t
    torch.manual_seed(1)
    assert torch.equal(fusion(pts), out1)  # follows the global seed
    assert not torch.equal(fusion(pts), out1)  # fresh draw every forward
    # Beta(0.1, 0.1): mean 1/2, mass near the ends, one draw per row
    assert abs(float(t1.mean()) - 0.5) < 0.05
    assert float(((t1 < 0.05) | (t1 > 0.95)).float().mean()) > 0.6
    assert torch.allclose(fusion(pts, t=t1), out1)
    fusion.eval()
    assert torch.allclose(fusion(pts), slerp(pts[0], pts[1], 0.5), atol=1e-6)
    assert fusion.modality_weights().tolist() == [0.5, 0.5]
    fusion([pts[0]] * 3)
    assert fusion.modality_weights().tolist() == [0.25, 0.5, 0.25]
    with pytest.raises(ValueError, match='SphericalBezierFusion'):
        SphericalBezierFusion(alpha=0.0)
    with pytest.raises(ValueError, match='SphericalBezierFusion'):
        fusion(pts, t=torch.rand(3))


# LIRDRec w1 after the update at the start of epoch e, computed from the
# progressive weight copying rule (LIRDRec reference code, PWC.update_w):
# w1 <- w1 b^e / (w1 b^e + w2), w2 <- w2 / (w1 b^e + w2).
PWC_TABLE = {
    0.90: [0.890, 0.868, 0.827, 0.758, 0.649, 0.496, 0.320, 0.169, 0.073,
           0.027, 0.009, 0.002, 0.001],
    0.95: [0.945, 0.933, 0.910, 0.869, 0.796, 0.675, 0.499, 0.300, 0.142,
           0.055, 0.018, 0.005, 0.001],
    0.99: [0.989, 0.986, 0.981, 0.972, 0.953, 0.915, 0.838, 0.690, 0.464,
           0.232, 0.086, 0.026, 0.007],
}


@pytest.mark.parametrize('decay_weight', sorted(PWC_TABLE))
def test_pwc_schedule_matches_spec_table(decay_weight):
    values = pwc_schedule(decay_weight, 0.9, 15)
    assert [round(v, 3) for v in values[:13]] == PWC_TABLE[decay_weight]
    assert values[14] < 0.001
    # closed form of the ratio: (w1/w2)_e = (w1/w2)_0 * base^(e(e+1)/2)
    w0 = decay_weight / (1 - decay_weight)
    for e, w1 in enumerate(values, start=1):
        assert math.isclose(w1 / (1 - w1), w0 * 0.9**(e * (e + 1) / 2),
                            rel_tol=1e-9)

    fusion = ProgressiveWeightCopyingFusion(5, 4, decay_weight=decay_weight)
    for e in range(13):
        fusion.on_epoch_start(e)
        assert round(float(fusion.w1), 3) == PWC_TABLE[decay_weight][e]
        assert math.isclose(float(fusion.w1 + fusion.w2), 1.0)


def test_pwc_forward_and_weight_copying():
    torch.manual_seed(0)
    U, d = 6, 4
    fusion = ProgressiveWeightCopyingFusion(U, d, num_channels=3)
    assert str(fusion) == ('ProgressiveWeightCopyingFusion(6, 4, '
                           'num_channels=3, decay_weight=0.9, '
                           'decay_base=0.9)')
    embs = [torch.randn(U, d) for _ in range(3)]
    theta0 = fusion.theta.detach().clone()

    fusion.on_epoch_start(1)  # epoch 1: nothing recorded, theta unchanged
    assert torch.equal(fusion.theta, theta0)
    assert fusion.modality_weights().tolist() == pytest.approx([1 / 3] * 3)

    out = fusion(embs)
    scores = torch.cat([f(h) for f, h in zip(fusion.scorers, embs)], dim=-1)
    att = torch.softmax(float(fusion.w1) * scores +
                        float(fusion.w2) * theta0, dim=-1)
    ref = torch.cat([att[:, c:c + 1] * embs[c] for c in range(3)], dim=-1)
    assert out.shape == (U, 3 * d)
    assert torch.allclose(out, ref, atol=1e-6)
    assert torch.allclose(fusion.modality_weights(), att.mean(0), atol=1e-6)

    # a subset forward records only its rows; eval forwards record nothing
    idx = torch.tensor([4, 1])
    sub = fusion([e[idx] for e in embs], index=idx)
    assert torch.allclose(sub, ref[idx], atol=1e-6)
    fusion.eval()
    fusion([e * 5 for e in embs])
    assert torch.allclose(fusion.last_att, att.detach(), atol=1e-6)
    fusion.train()

    fusion.on_epoch_start(2)  # softmax output copied into the logits
    assert torch.allclose(fusion.theta, att, atol=1e-6)
    assert fusion.theta.requires_grad
    # state (schedule, last attention) survives a state_dict round trip
    clone = ProgressiveWeightCopyingFusion(U, d)
    clone.load_state_dict(fusion.state_dict())
    assert int(clone.epoch) == 2 and float(clone.w1) == float(fusion.w1)
    fusion.reset_parameters()
    assert int(fusion.epoch) == 0 and float(fusion.w1) == 0.9

    with pytest.raises(ValueError, match='index'):
        fusion([e[:3] for e in embs])
    with pytest.raises(ValueError, match='ProgressiveWeightCopyingFusion'):
        ProgressiveWeightCopyingFusion(U, d, decay_weight=1.0)


def test_mean_and_concat_fusion():
    x = torch.randn(3, 5, 4)
    mean, cat = MeanFusion(), ConcatFusion()
    assert str(mean) == 'MeanFusion()' and str(cat) == 'ConcatFusion()'
    assert torch.allclose(mean(x), (x[0] + x[1] + x[2]) / 3)
    assert torch.equal(cat(list(x)), torch.cat([x[0], x[1], x[2]], dim=1))
    assert mean.modality_weights().tolist() == pytest.approx([1 / 3] * 3)
    with pytest.raises(ValueError, match='MeanFusion'):
        mean([x[0], x[1][:, :2]])
    with pytest.raises(ValueError, match='ConcatFusion'):
        cat(torch.randn(5, 4))


def test_attention_fusion_global_and_per_user():
    x = torch.randn(3, 6, 4)
    glob = AttentionFusion(3)
    assert str(glob) == "AttentionFusion(3, mode='sum')"
    assert torch.allclose(glob(x), x.mean(0), atol=1e-6)  # zero logits
    with torch.no_grad():
        glob.theta.copy_(torch.tensor([2.0, 0.0, -1.0]))
    w = torch.softmax(torch.tensor([2.0, 0.0, -1.0]), 0)
    assert torch.allclose(glob.modality_weights(), w)
    assert torch.allclose(glob(x), (w.view(-1, 1, 1) * x).sum(0), atol=1e-6)
    assert int(glob.modality_weights().argmax()) == 0

    torch.manual_seed(0)
    per = AttentionFusion(3, num_users=6, mode='concat')
    assert str(per) == "AttentionFusion(3, num_users=6, mode='concat')"
    a = torch.softmax(per.theta.detach(), dim=-1)
    ref = torch.cat([a[:, m:m + 1] * x[m] for m in range(3)], dim=-1)
    assert torch.allclose(per(x), ref, atol=1e-6)
    idx = torch.tensor([5, 0])
    assert torch.allclose(per(x[:, idx], index=idx), ref[idx], atol=1e-6)
    assert torch.allclose(per.modality_weights(idx), a[idx])
    assert torch.allclose(per.modality_weights(), a.mean(0))
    per(x).sum().backward()
    assert per.theta.grad is not None
    with pytest.raises(ValueError, match='AttentionFusion'):
        per(x[:2])
    with pytest.raises(ValueError, match='AttentionFusion'):
        AttentionFusion(3, mode='max')
