"""RowSparseAdam ("lazy" Adam for tables read by row) and the
``sparse_features`` training option."""
import pytest
import torch
import torch.nn.functional as F

from mmgraph.config import ConfigError
from mmgraph.distributed import coalesced_rows
from mmgraph.models import create_model
from mmgraph.train import Trainer
from mmgraph.train.row_sparse_adam import RowSparseAdam, clip_grad_norm_


def _run(rows_per_step, sparse, steps=4, **adam):
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(12, 5))
    b = torch.nn.Parameter(torch.randn(5))  # a dense parameter beside it
    opt = RowSparseAdam([w, b], lr=0.05, **adam) if sparse else \
        torch.optim.Adam([w, b], lr=0.05, **adam)
    gen = torch.Generator().manual_seed(1)
    for rows in rows_per_step[:steps]:
        rows = torch.tensor(rows)
        target = torch.randn(len(rows), 5, generator=gen)
        x = F.embedding(rows, w, sparse=sparse) if sparse else \
            w.index_select(0, rows)
        loss = ((x + b - target) ** 2).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return w.detach().clone(), b.detach().clone(), opt


ALL_ROWS = [list(range(12)) + [3, 3]] * 4  # every row, with repeats


@pytest.mark.parametrize("adam", [{}, {"weight_decay": 0.1},
                                  {"weight_decay": 0.1,
                                   "decoupled_weight_decay": True}])
def test_equals_adam_when_every_row_is_touched(adam):
    w_lazy, b_lazy, _ = _run(ALL_ROWS, sparse=True, **adam)
    w_adam, b_adam, _ = _run(ALL_ROWS, sparse=False, **adam)
    torch.testing.assert_close(w_lazy, w_adam, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(b_lazy, b_adam, rtol=1e-5, atol=1e-6)


def test_untouched_rows_and_their_moments_stay():
    steps = [[0, 1, 2, 3], [1, 3], [1, 3]]
    w1, _, opt1 = _run(steps, sparse=True, steps=1)
    w3, _, opt3 = _run(steps, sparse=True, steps=3)
    w3_adam, _, _ = _run(steps, sparse=False, steps=3)
    untouched = [0, 2]  # touched at step 1 only
    assert torch.equal(w3[untouched], w1[untouched])
    m = opt3.state[opt3.param_groups[0]["params"][0]]["exp_avg"]
    m1 = opt1.state[opt1.param_groups[0]["params"][0]]["exp_avg"]
    assert torch.equal(m[untouched], m1[untouched])
    # dense Adam keeps moving them by momentum: the two rules differ there
    assert not torch.allclose(w3_adam[untouched], w1[untouched])
    # rows never touched are never moved by either
    assert torch.equal(w3[4:], w3_adam[4:])
    # the touched rows differ from dense Adam only through the moments
    # of their own history, which is the same: equal
    torch.testing.assert_close(w3[[1, 3]], w3_adam[[1, 3]])


def test_state_dict_round_trip_continues_the_same_steps():
    steps = [[0, 1, 5], [5, 6], [0, 6, 7]]
    w_ref, _, _ = _run(steps, sparse=True, steps=3)
    torch.manual_seed(0)
    w, _, opt = _run(steps, sparse=True, steps=2)
    state = opt.state_dict()
    assert set(state["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}
    # a fresh optimiser loaded from the state takes the third step alike
    torch.manual_seed(0)
    w2 = torch.nn.Parameter(w.clone())
    b2 = torch.nn.Parameter(opt.param_groups[0]["params"][1].detach()
                            .clone())
    opt2 = RowSparseAdam([w2, b2], lr=0.05)
    opt2.load_state_dict(state)
    gen = torch.Generator().manual_seed(1)
    for rows in steps[:2]:  # replay the generator to the third target
        torch.randn(len(rows), 5, generator=gen)
    rows = torch.tensor(steps[2])
    target = torch.randn(len(rows), 5, generator=gen)
    loss = ((F.embedding(rows, w2, sparse=True) + b2 - target) ** 2).sum()
    loss.backward()
    opt2.step()
    torch.testing.assert_close(w2.detach(), w_ref)


def test_clip_grad_norm_counts_sparse_values():
    w = torch.nn.Parameter(torch.ones(6, 2))
    d = torch.nn.Parameter(torch.ones(3))
    (F.embedding(torch.tensor([1, 1, 4]), w, sparse=True).sum() * 3 +
     d.sum() * 4).backward()
    dense_w = w.grad.to_dense()
    expected = torch.sqrt(dense_w.pow(2).sum() + d.grad.pow(2).sum())
    total = clip_grad_norm_([w, d], 1.0)
    torch.testing.assert_close(total, expected)
    clipped = torch.sqrt(w.grad.to_dense().pow(2).sum() + d.grad.pow(2).sum())
    torch.testing.assert_close(clipped, torch.tensor(1.0), atol=1e-5,
                               rtol=0)


@pytest.mark.parametrize("name", ["bm3", "freedom"])
def test_sparse_features_training_moves_only_the_batch_rows(tiny_dataset,
                                                            name):
    # Step 1 equals dense Adam everywhere (zero moments); from step 2 dense
    # Adam moves rows the step did not read, RowSparseAdam does not.
    ds = tiny_dataset
    runs = {}
    for sparse in (False, True):
        torch.manual_seed(0)
        model = create_model(name, ds)
        trainer = Trainer(model, ds, dict(epochs=1, batch_size=64,
                                          sparse_features=sparse),
                          show_progress=False)
        torch.manual_seed(1)
        batches = list(trainer.batches(0))[:2]
        table = model.encoders.feat_image
        states = [table.detach().clone()]
        for k, batch in enumerate(batches):
            torch.manual_seed(10 + k)
            trainer.training_step(batch)
            states.append(table.detach().clone())
        runs[sparse] = (states, batches, table.grad)
    (dense, batches, _), (lazy, _, grad) = runs[False], runs[True]
    assert grad.is_sparse
    torch.testing.assert_close(lazy[1], dense[1])
    read = batches[1].pos_items if name == "bm3" else torch.cat(
        [batches[1].pos_items, batches[1].neg_items.reshape(-1)])
    unread = torch.ones(ds.num_items, dtype=torch.bool)
    unread[read] = False
    assert torch.equal(lazy[2][unread], lazy[1][unread])
    moved = (dense[2][unread] != dense[1][unread]).any(1)
    assert bool(moved.any())  # dense Adam's momentum moved unread rows
    assert bool((lazy[2][~unread] != lazy[1][~unread]).any())


def test_sparse_features_refused_where_it_cannot_apply(tiny_dataset):
    with pytest.raises(ConfigError, match="'lightgcn' does not read its "
                       "feature tables by row; expected one of .*bm3"):
        Trainer(create_model("lightgcn", tiny_dataset), tiny_dataset,
                dict(sparse_features=True), show_progress=False)
    with pytest.raises(ConfigError, match="needs optimizer 'adam'"):
        Trainer(create_model("bm3", tiny_dataset), tiny_dataset,
                dict(sparse_features=True, optimizer="sgd"),
                show_progress=False)
    with pytest.raises(ConfigError, match="no trainable feature tables"):
        Trainer(create_model("bm3", tiny_dataset, train_features=False),
                tiny_dataset, dict(sparse_features=True),
                show_progress=False)


def test_sparse_features_with_sampled_training(tiny_dataset):
    torch.manual_seed(0)
    model = create_model("bm3", tiny_dataset)
    res = Trainer(model, tiny_dataset, dict(
        epochs=3, batch_size=64, topk=[10, 20], sampled=True,
        num_neighbors=[5, 5], sparse_features=True, learning_rate=1e-2),
        show_progress=False).fit()
    losses = [h["loss"] for h in res["history"]]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]


def test_a_later_dense_trainer_switches_the_tables_back(tiny_dataset):
    # The switch lives on the model's encoders: a Trainer without
    # sparse_features must turn it off again, or plain Adam would get
    # sparse gradients from a model an earlier Trainer switched on.
    model = create_model("bm3", tiny_dataset)
    Trainer(model, tiny_dataset, dict(sparse_features=True),
            show_progress=False)
    assert model.encoders.sparse_grad
    trainer = Trainer(model, tiny_dataset, dict(batch_size=64),
                      show_progress=False)
    assert not model.encoders.sparse_grad
    trainer.training_step(next(iter(trainer.batches(0))))
    assert not model.encoders.feat_image.grad.is_sparse


def test_coalesced_rows_marks_sorted_distinct_rows_without_a_copy():
    w = torch.nn.Parameter(torch.randn(10, 3))
    torch.nn.functional.embedding(torch.tensor([1, 4, 8]), w,
                                  sparse=True).pow(2).sum().backward()
    assert not w.grad.is_coalesced()  # autograd drops the flag
    out = coalesced_rows(w.grad)
    assert out.is_coalesced()
    assert out.values().data_ptr() == w.grad._values().data_ptr()
    torch.testing.assert_close(out.to_dense(), w.grad.to_dense())


@pytest.mark.parametrize("rows", [[8, 1, 4], [4, 4, 1], [2, 2]])
def test_coalesced_rows_sums_repeats_and_sorts(rows):
    w = torch.nn.Parameter(torch.randn(10, 3))
    torch.nn.functional.embedding(torch.tensor(rows), w,
                                  sparse=True).pow(2).sum().backward()
    out = coalesced_rows(w.grad)
    assert out.is_coalesced()
    assert out.indices()[0].tolist() == sorted(set(rows))
    torch.testing.assert_close(out.to_dense(), w.grad.to_dense())


def test_coalesced_rows_refuses_more_than_one_sparse_dimension():
    matrix = torch.eye(3).to_sparse()
    with pytest.raises(ValueError, match="one sparse dimension"):
        coalesced_rows(matrix)
