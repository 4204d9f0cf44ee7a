import torch

from mmgraph.train.utils import adam


def _run(make, steps=5):
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(50, 8))
    b = torch.nn.Parameter(torch.randn(8))
    opt = make([{"params": [w], "lr": 1e-2, "weight_decay": 1e-3},
                {"params": [b], "lr": 1e-1}])
    x = torch.randn(20, 50)
    for _ in range(steps):
        opt.zero_grad()
        (x @ w + b).pow(2).mean().backward()
        opt.step()
    return opt, w.detach(), b.detach()


def test_adam_is_fused_where_supported_and_takes_the_same_steps():
    opt, w, b = _run(adam)
    assert opt.defaults["fused"] is True
    _, w_ref, b_ref = _run(lambda g: torch.optim.Adam(g, foreach=False))
    torch.testing.assert_close(w, w_ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(b, b_ref, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(w, _run(lambda g: torch.optim.SGD(g))[1])


def test_adam_falls_back_where_fused_is_not_supported():
    # torch rejects fused=True together with differentiable=True.
    p = torch.nn.Parameter(torch.randn(3))
    opt = adam([p], lr=1e-3, differentiable=True)
    assert not opt.defaults.get("fused")
