import pytest


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """Tiny tensors: extra intra-op threads only add contention (and one
    thread makes the same-seed comparisons bit-exact)."""

