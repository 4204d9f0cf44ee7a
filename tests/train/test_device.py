r"""CUDA checks (skipped without a GPU; run by benchmarks/gpu_check.sh):
full-graph and sampled training run on the device, and the device computes
the same embeddings as the CPU."""
import pytest
import torch

from mmgraph.data import load_dataset
from mmgraph.models import create_model
from mmgraph.train import Trainer
from mmgraph.train.sampled import SubgraphBatches

pytestmark = [pytest.mark.device,
              pytest.mark.skipif(not torch.cuda.is_available(),
                                 reason="needs a CUDA device")]


@pytest.fixture(scope="module")
def ds():
    return load_dataset("synthetic", num_users=60, num_items=40,
                        avg_degree=6, seed=0)


@pytest.mark.parametrize("name", ["lightgcn", "freedom", "bm3", "cm3",
                                  "lirdrec", "vbpr", "mf"])
def test_full_graph_training_on_cuda(ds, name):
    model = create_model(name, ds)
    res = Trainer(model, ds, dict(epochs=2, batch_size=64, topk=[10, 20],
                                  device="cuda"), show_progress=False).fit()
    assert next(model.parameters()).is_cuda
    assert 0.0 <= res["test"]["recall@20"] <= 1.0


def test_sampled_training_on_cuda_matches_cpu_embeddings(ds):
    torch.manual_seed(0)
    model = create_model("lightgcn", ds).eval()
    trainer = Trainer(model, ds, dict(batch_size=32, topk=[10, 20]),
                      show_progress=False)
    b = next(iter(SubgraphBatches(ds, [-1, -1])(trainer, 0)))
    cpu_u, _ = model.subgraph_embeddings(b)
    gpu = model.to("cuda")
    gpu_u, _ = gpu.subgraph_embeddings(b.to("cuda"))
    torch.testing.assert_close(gpu_u.cpu(), cpu_u, rtol=1e-4, atol=1e-5)
    res = Trainer(create_model("lightgcn", ds), ds,
                  dict(epochs=2, batch_size=64, topk=[10, 20],
                       device="cuda", sampled=True, num_neighbors=[5, 5]),
                  show_progress=False).fit()
    assert res["epochs"] == 2
