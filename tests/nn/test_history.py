r"""ItemInputHistory: refresh fills every row, a step computes only its
seeds (with gradient) and reads the other rows from the table, and writes
the seeds back."""
import pytest
import torch

from mmgraph.nn.history import ItemInputHistory


class _Inputs(torch.nn.Module):
    # Two channels of a linear map of fixed features; counts encoded rows.
    def __init__(self, num_items=10):
        super().__init__()
        torch.manual_seed(0)
        self.features = torch.randn(num_items, 5)
        self.lin = torch.nn.Linear(5, 3)
        self.encoded = 0

    def forward(self, index=None):
        x = self.features if index is None else self.features[index]
        self.encoded += x.size(0)
        h = self.lin(x)
        return [h, 2 * h[:, :2]]


def test_refresh_fills_every_row_in_chunks():
    f = _Inputs()
    hist = ItemInputHistory(10, chunk_size=4)
    assert not hist.filled
    hist.refresh(f)
    assert hist.widths == [3, 2] and hist.table.shape == (10, 5)
    torch.testing.assert_close(hist.table, torch.cat(f(), 1).detach())
    assert not hist.table.requires_grad
    assert "widths=[3, 2]" in repr(hist)


def test_step_encodes_seeds_only_and_reads_the_rest_from_the_table():
    f = _Inputs()
    hist = ItemInputHistory(10)
    hist.refresh(f)
    stale = hist.table.clone()
    with torch.no_grad():  # the parameters move: the table is now stale
        f.lin.weight.add_(1.0)
    item_ids = torch.tensor([7, 2, 5, 0])
    seeds = torch.tensor([1, 3])  # items 2 and 0
    f.encoded = 0
    out = hist(item_ids, seeds, f)
    assert f.encoded == 2
    fresh = torch.cat(f(torch.tensor([2, 0])), 1)
    got = torch.cat(out, 1)
    torch.testing.assert_close(got[seeds], fresh)
    torch.testing.assert_close(got[torch.tensor([0, 2])],
                               stale[torch.tensor([7, 5])])
    # the seeds were written back; the other rows are untouched
    torch.testing.assert_close(hist.table[torch.tensor([2, 0])],
                               fresh.detach())
    torch.testing.assert_close(hist.table[torch.tensor([7, 5])],
                               stale[torch.tensor([7, 5])])
    # gradient reaches the encoder through the seeds only
    got.sum().backward()
    expected = torch.zeros_like(f.lin.weight)
    for k in (2, 0):
        expected += torch.ones(3, 1) * f.features[k]
        expected[:2] += 2 * f.features[k]
    torch.testing.assert_close(f.lin.weight.grad, expected)


def test_step_before_refresh_and_bad_sizes_raise():
    with pytest.raises(RuntimeError, match="refresh"):
        ItemInputHistory(4)(torch.tensor([0]), torch.tensor([0]), _Inputs())
    with pytest.raises(ValueError, match="num_items"):
        ItemInputHistory(0)
