"""Checks on the shared real data; skipped cleanly when it is not present."""
import numpy as np
import pytest

from mmgraph.data.formats import read_nbpo_json, read_sequence
from mmgraph.data.prepare import prepare_interactions

from .conftest import SHARED_DATA

pytestmark = pytest.mark.realdata


@pytest.mark.parametrize("name,users,items,inter", [
    ("amazon-beauty", 22363, 12101, 198502),
    ("amazon-sports", 35598, 18357, 296337),
])
def test_sequence_counts(name, users, items, inter):
    folder = SHARED_DATA / name
    if not (folder / "user_sequence.txt").exists():
        pytest.skip(f"{folder} not available")
    raw = read_sequence(folder / "user_sequence.txt")
    assert len(raw) == inter
    data = prepare_interactions(raw, k_core=5, split="mmrec", seed=999)  # already 5-core
    assert (data.num_users, data.num_items, len(data.user)) == (users, items, inter)
    counts = np.bincount(data.label, minlength=3)
    assert counts[1] >= users and counts[2] >= users  # every user has >= 5 -> 1+1 held out


def test_nbpo_counts():
    folder = SHARED_DATA / "nbpo-amazon-electronics"
    if not folder.exists():
        pytest.skip(f"{folder} not available")
    inter = read_nbpo_json(folder)
    assert np.bincount(inter.label).tolist() == [31887, 4044, 4044]
    assert len(np.unique(inter.user)) == 1435 and len(np.unique(inter.item)) == 1522
