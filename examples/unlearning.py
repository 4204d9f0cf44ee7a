r"""Machine unlearning with MMRecUn's reverse BPR on the built-in synthetic
data: train LightGCN, then make it forget one user and, separately, one item,
and watch the forgotten items sink in the rankings.

Run::

    python examples/unlearning.py

The same from the command line, on a trained run folder::

    mmgraph train --model lightgcn --out runs/lgcn
    mmgraph unlearn --run runs/lgcn --forget-fraction users:0.05 --gold \
        --out runs/lgcn-forget-users
"""
import torch

import mmgraph
from mmgraph.config import TrainConfig
from mmgraph.report import format_table
from mmgraph.unlearn import ForgetRequest, Unlearner

torch.manual_seed(0)
dataset = mmgraph.load_dataset("synthetic", num_users=300, num_items=200,
                               avg_degree=15, seed=0)
config = TrainConfig(epochs=40, learning_rate=0.01, batch_size=512, seed=0)
model = mmgraph.create_model("lightgcn", dataset)
original = mmgraph.Trainer(model, dataset, config, show_progress=False).fit()
trained = {k: v.clone() for k, v in model.state_dict().items()}


def ranks(model, users, items):
    r"""Rank (1 = top) of ``items[b]`` among all items for ``users[b]``,
    training items included: what the model remembers."""
    with torch.no_grad():
        model.eval()
        scores = model.score(users)
    target = scores.gather(1, items.view(-1, 1))
    return (scores > target).sum(1) + 1


def unlearn(request):
    m = mmgraph.create_model("lightgcn", dataset)
    m.load_state_dict(trained)
    forget, _ = request.split(dataset)
    before = ranks(m, *forget)
    un = Unlearner(m, dataset, request, config=config, show_progress=False)
    res = un.fit()
    after = ranks(m, *forget)
    return forget, before, after, res


user = int(dataset.train_edge_index[0, 0])
item = int(torch.bincount(dataset.train_edge_index[1]).argmax())  # popular
rows = []
requests = (ForgetRequest("users", [user]), ForgetRequest("items", [item]))
for request in requests:
    forget, before, after, res = unlearn(request)
    rows.append([repr(request), forget.size(1),
                 float(before.float().mean()), float(after.float().mean()),
                 res["unlearn"]["stop_reason"], res["best_epoch"] + 1,
                 original["test"]["recall@20"], res["test"]["recall@20"],
                 float(res["wall_seconds"])])
    print(f"{request!r}: forgotten pairs (user, item, rank before -> after)")
    for (u, i), b, a in list(zip(forget.t().tolist(), before.tolist(),
                                 after.tolist()))[:5]:
        print(f"  user {u:3d} item {i:3d}: rank {b:3d} -> {a:3d}")
print()
print(format_table(rows, ["request", "pairs", "mean rank before",
                          "mean rank after", "stopped because",
                          "epochs", "test recall@20 before", "after",
                          "seconds"]))
print(f"\n({dataset.num_items} items; rank 1 = top of the list)")
