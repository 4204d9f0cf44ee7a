r"""Mixed precision (``TrainConfig.precision='bfloat16'``): every registered
model trains under autocast with finite losses and gradients, the sparse
products stay in float32, and the losses follow float32's closely."""
import pytest
import torch

from mmgraph.config import ConfigError, TrainConfig
from mmgraph.models import create_model, list_models
from mmgraph.nn.sparse import EdgeGraph, edge_dot, edge_spmm, spmm
from mmgraph.train import Trainer

CFG = dict(epochs=1, batch_size=256, eval_batch_size=64, seed=0,
           metrics=["recall"], topk=[20])


@pytest.mark.parametrize("name", list_models())
def test_every_model_trains_in_bfloat16(name, tiny_dataset, single_thread):
    torch.manual_seed(0)
    model = create_model(name, tiny_dataset)
    trainer = Trainer(model, tiny_dataset,
                      TrainConfig(**CFG, precision="bfloat16"),
                      show_progress=False)
    batch = next(iter(trainer.batches(0)))
    terms = trainer.training_step(batch)
    assert all(torch.isfinite(torch.tensor(v)) for v in terms.values())
    params = [p for p in model.parameters() if p.requires_grad]
    assert all(p.dtype == torch.float32 for p in params)
    assert all(torch.isfinite(p).all() for p in params)


def test_bfloat16_losses_follow_float32(tiny_dataset, single_thread):
    losses = {}
    for precision in ("float32", "bfloat16"):
        torch.manual_seed(0)
        model = create_model("vbpr", tiny_dataset)
        trainer = Trainer(model, tiny_dataset,
                          TrainConfig(**CFG, precision=precision),
                          show_progress=False)
        losses[precision] = [trainer.training_step(b)["loss"]
                             for b in trainer.batches(0)]
    assert losses["bfloat16"] != losses["float32"]  # autocast did act
    assert losses["bfloat16"] == pytest.approx(losses["float32"], rel=0.05)


def test_sparse_products_stay_float32_under_autocast():
    adj = torch.eye(3).to_sparse_csr()
    x = torch.randn(3, 4, requires_grad=True)
    graph = EdgeGraph(torch.tensor([0, 1]), torch.tensor([1, 0]), 3)
    w = torch.ones(2, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = x @ torch.eye(4)  # bfloat16 under autocast
        assert h.dtype == torch.bfloat16
        out = spmm(adj, h) + edge_spmm(graph, w, h) + \
            edge_dot(graph, h, h).sum()
    assert out.dtype == torch.float32
    out.sum().backward()
    assert x.grad.dtype == torch.float32 and torch.isfinite(x.grad).all()
    assert w.grad.dtype == torch.float32


def test_precision_is_checked():
    with pytest.raises(ConfigError, match="precision"):
        TrainConfig(precision="float16")
