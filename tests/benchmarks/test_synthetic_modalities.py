"""benchmarks/synthetic_modalities.py: the controlled setting and a --fast
end-to-end run."""
import json

import numpy as np
import pytest

from .scripts import load_script


@pytest.fixture(scope="module")
def sm():
    return load_script("synthetic_modalities", "bench_synthetic_modalities")


def _r2(features: np.ndarray, factors: np.ndarray) -> float:
    # How much of the hidden item factors a linear map of the features
    # explains (least squares).
    coef, *_ = np.linalg.lstsq(features, factors, rcond=None)
    resid = factors - features @ coef
    return 1.0 - resid.var() / factors.var()


@pytest.mark.parametrize("informative", ["image", "text"])
def test_setting_puts_the_signal_in_one_modality(sm, informative):
    ds = sm.setting(informative, fast=True)
    other = "text" if informative == "image" else "image"
    q = ds.synthetic.item_factors
    assert ds.features["image"].shape[1] == ds.features["text"].shape[1]
    assert _r2(ds.features[informative].numpy(), q) > 0.9
    assert _r2(ds.features[other].numpy(), q) < 0.5
    stats = sm.data_stats(ds)
    assert stats["train_per_item_median"] <= 8  # sparse by construction
    with pytest.raises(ValueError, match="informative"):
        sm.setting("audio", fast=True)


def test_swap_keeps_the_interactions(sm):
    a, b = sm.setting("image", fast=True), sm.setting("text", fast=True)
    assert np.array_equal(a.train_edge_index.numpy(),
                          b.train_edge_index.numpy())
    assert not np.allclose(a.features["image"].numpy(),
                           b.features["image"].numpy())


def test_weight_rows_compare_informative_to_noise(sm):
    results = {"main": {"cm3": {"weights": {"image": 0.2, "text": 0.5,
                                            "fused": 0.3}}},
               "swapped": {"cm3": {"weights": {"image": 0.2, "text": 0.5,
                                               "fused": 0.3}}}}
    rows = sm.weight_rows(results)
    assert [r[:3] for r in rows] == [["main", "cm3", "image"],
                                     ["swapped", "cm3", "text"]]
    assert rows[0][5] == pytest.approx(-0.3) and rows[0][6] == "NO"
    assert rows[1][5] == pytest.approx(0.3) and rows[1][6] == "yes"
    assert rows[0][7] == "fused 0.3000"


def test_fast_run_reports_every_model_and_normalised_weights(sm, tmp_path,
                                                             capsys):
    summary = sm.main(["--fast", "--epochs", "2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    saved = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "synthetic_modalities.png").stat().st_size > 0
    assert set(saved["results"]["main"]) == set(sm.MODELS)
    assert set(saved["results"]["swapped"]) == \
        set(sm.MODELS) - sm.FEATURE_FREE
    for by_model in summary["results"].values():
        for name, r in by_model.items():
            assert name in out
            for split in ("valid", "test"):
                assert 0.0 <= r[split]["recall@20"] <= 1.0
            if name in sm.FUSION_MODELS:
                w = r["weights"]
                assert {"image", "text"} <= set(w)
                assert sum(w.values()) == pytest.approx(1.0, abs=1e-5)
                # one record per epoch start, each normalised too
                assert len(r["trajectory"]) == r["epochs"]
                for t in r["trajectory"]:
                    assert sum(v for k, v in t.items() if k != "epoch") == \
                        pytest.approx(1.0, abs=1e-5)
            else:
                assert r["weights"] is None
    assert "favours signal" in out and "test R@20 - LightGCN" in out
