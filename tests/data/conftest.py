"""Small fixtures written by the tests themselves."""
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

HEADER = "userID\titemID\trating\ttimestamp\tx_label\n"


def write_inter(path: Path, rows, header: str = HEADER) -> Path:
    path.write_text(header + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


@pytest.fixture
def tiny_rows():
    # 3 users, 4 items; every split non-empty; user 2 only in test (cold)
    return [
        (0, 0, 5, 1, 0), (0, 1, 4, 2, 0), (0, 2, 3, 3, 1), (0, 3, 5, 4, 2),
        (1, 1, 5, 1, 0), (1, 2, 4, 2, 0), (1, 3, 3, 3, 2),
        (2, 0, 1, 1, 2),
    ]


@pytest.fixture
def mmrec_folder(tmp_path, tiny_rows):
    folder = tmp_path / "tiny"
    folder.mkdir()
    write_inter(folder / "tiny.inter", tiny_rows)
    rng = np.random.default_rng(0)
    np.save(folder / "image_feat.npy", rng.standard_normal((4, 6)).astype(np.float32))
    np.save(folder / "text_feat.npy", rng.standard_normal((4, 3)).astype(np.float32))
    return folder


@pytest.fixture(scope="session")
def small_synthetic():
    from mmgraph.data import make_synthetic
    return make_synthetic(num_users=200, num_items=120, avg_degree=12, seed=1)
