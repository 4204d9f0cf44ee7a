"""narrow_blocks: the rows of a smaller block, with one-buffer gradients."""
import pytest
import torch

from mmgraph.nn.trimmed import narrow_blocks


def test_narrow_blocks_values_and_gradient_equal_slicing():
    torch.manual_seed(0)
    x = torch.randn(4 + 6, 3, requires_grad=True)  # block (4 users, 6 items)
    out = narrow_blocks(x, (4, 6), (2, 3))
    expected = torch.cat([x[:2], x[4:7]])
    assert torch.equal(out, expected)
    weight = torch.randn_like(out)
    grad, = torch.autograd.grad((out * weight).sum(), x)
    naive, = torch.autograd.grad((expected * weight).sum(), x)
    assert torch.equal(grad, naive)
    assert torch.equal(grad[2:4], torch.zeros(2, 3))  # rows outside: zero
    assert torch.equal(grad[7:], torch.zeros(3, 3))
    # the same block is returned as it is; a larger one is refused
    assert narrow_blocks(x, (4, 6), (4, 6)) is x
    with pytest.raises(ValueError, match=r"block \(5, 6\) is not inside"):
        narrow_blocks(x, (4, 6), (5, 6))
