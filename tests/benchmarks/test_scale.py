"""benchmarks/scale.py: the generator's shape and the per-model table in
both modes (the worker runs in subprocesses, hence slow)."""
import json
from pathlib import Path

import numpy as np
import pytest

from .scripts import load_script

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scale():
    return load_script("scale", "bench_scale")


def test_generator_shape(scale):
    data = scale.generate(users=200, items=100, interactions=2000,
                          image_dim=8, text_dim=4, min_degree=5, seed=1)
    user, item = data["user"], data["item"]
    deg = np.bincount(user, minlength=200)
    assert deg.min() >= 5
    assert len(np.unique(user * 100 + item)) == len(user)  # no duplicates
    assert data["features"]["image"].shape == (100, 8)
    # popularity-skewed: the top 10 % of items hold well over 10 %
    pop = np.sort(np.bincount(item, minlength=100))[::-1]
    assert pop[:10].sum() > 0.2 * pop.sum()


@pytest.mark.slow
def test_tiny_full_and_sampled_rows(scale, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    small = ["--shape", "tiny", "--users", "300", "--items", "150",
             "--interactions", "3000", "--batches", "2", "--out",
             str(tmp_path)]
    assert scale.main(small + ["--models", "lightgcn,freedom,bm3,vbpr",
                               "--mode", "sampled"]) == 0
    assert scale.main(small + ["--models", "lightgcn"]) == 0
    sampled = json.loads((tmp_path / "scale-sampled-p1.json").read_text())
    full = json.loads((tmp_path / "scale-full-p1.json").read_text())
    light, freedom, bm3, vbpr = sampled["rows"]
    assert light["mode"] == "sampled" and light["batches_per_epoch"] == \
        full["rows"][0]["batches_per_epoch"]
    assert light["batch_s"] > 0 and light["peak_eval_gib"] > 0
    assert freedom["mode"] == "sampled" and freedom["batch_s"] > 0
    assert bm3["mode"] == "sampled" and bm3["batch_s"] > 0
    # a sampled step touches part of the graph (its share is reported)
    assert 0 < bm3["subgraph_node_share"] <= 1
    assert "does not support sampled training" in vbpr["error"]


@pytest.mark.slow
def test_whole_epoch_is_measured(scale, tmp_path, monkeypatch):
    # --batches 0 trains every batch of the epoch and reports its seconds
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    assert scale.main(["--shape", "tiny", "--users", "300", "--items", "150",
                       "--interactions", "3000", "--batches", "0",
                       "--models", "lightgcn", "--mode", "sampled",
                       "--no-eval", "--out", str(tmp_path)]) == 0
    row, = json.loads((tmp_path / "scale-sampled-p1.json").read_text())["rows"]
    assert row["epoch_s"] > 0 and row["epoch_cpu_s"] > 0
    assert row["batches_per_epoch"] >= 2
    assert "epoch_s" in (tmp_path / "scale-sampled-p1.md").read_text()


def test_reports_merge_rows_measured_under_the_same_settings(scale, tmp_path):
    settings = {"shape": {"users": 10}, "mode": "sampled", "procs": 1,
                "num_neighbors": [10, 10], "item_neighbors": -1,
                "batch_size": 0, "sparse_features": False,
                "item_history": False, "malloc": "reuse"}
    path = tmp_path / "scale-sampled-p1.json"
    path.write_text(json.dumps(dict(settings, rows=[
        {"model": "lightgcn", "batch_s": 2.0},
        {"model": "bm3", "batch_s": 9.0}])))
    # a later run of one model keeps the other's row and replaces its own
    rows = scale.merged_rows(path, dict(settings, rows=[
        {"model": "bm3", "batch_s": 3.0}]))
    assert rows == [{"model": "lightgcn", "batch_s": 2.0},
                    {"model": "bm3", "batch_s": 3.0}]
    # rows measured at another fan-out are not mixed into the table
    other = dict(settings, num_neighbors=[5, 5],
                 rows=[{"model": "bm3", "batch_s": 3.0}])
    assert scale.merged_rows(path, other) == other["rows"]
    larger = dict(settings, batch_size=8192,
                  rows=[{"model": "bm3", "batch_s": 3.0}])
    assert scale.merged_rows(path, larger) == larger["rows"]
    # rows measured with glibc's allocator settings are kept apart too
    system = dict(settings, malloc="system",
                  rows=[{"model": "bm3", "batch_s": 3.0}])
    assert scale.merged_rows(path, system) == system["rows"]
    path.write_text("{half-written")
    assert scale.merged_rows(path, other) == other["rows"]


def test_negative_batches_are_refused(scale, tmp_path, capsys):
    with pytest.raises(SystemExit):
        scale.main(["--batches", "-3", "--out", str(tmp_path)])
    assert "--batches: expected 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        scale.main(["--batch-size", "-1", "--out", str(tmp_path)])
    assert "--batch-size: expected 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        scale.main(["--item-history", "--out", str(tmp_path)])
    assert "--item-history: needs --mode sampled" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing generated


@pytest.mark.slow
def test_sparse_features_rows_have_their_own_table(scale, tmp_path,
                                                   monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    assert scale.main(["--shape", "tiny", "--users", "300", "--items", "150",
                       "--interactions", "3000", "--batches", "2",
                       "--models", "bm3,lightgcn", "--mode", "sampled",
                       "--sparse-features", "--no-eval",
                       "--out", str(tmp_path)]) == 0
    report = json.loads(
        (tmp_path / "scale-sampled-p1-sparse.json").read_text())
    bm3, light = report["rows"]
    assert report["sparse_features"] and bm3["sparse_features"]
    assert bm3["batch_s"] > 0
    assert "does not read its feature tables by row" in light["error"]
    assert not (tmp_path / "scale-sampled-p1.json").exists()


@pytest.mark.slow
def test_item_history_rows_have_their_own_table(scale, tmp_path,
                                                monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    assert scale.main(["--shape", "tiny", "--users", "300", "--items", "150",
                       "--interactions", "3000", "--batches", "2",
                       "--models", "cm3,bm3", "--mode", "sampled",
                       "--item-history", "--no-eval",
                       "--out", str(tmp_path)]) == 0
    report = json.loads(
        (tmp_path / "scale-sampled-p1-history.json").read_text())
    cm3, bm3 = report["rows"]
    assert report["item_history"] and cm3["item_history"]
    assert report["malloc"] == cm3["malloc"] == "reuse"
    # the once-per-epoch refresh is timed and counted in the epoch
    assert cm3["history_refresh_s"] > 0
    assert cm3["epoch_s_extrapolated"] == pytest.approx(
        cm3["batch_s"] * cm3["batches_per_epoch"] + cm3["history_refresh_s"])
    assert "does not compute its item inputs from content" in bm3["error"]


def test_chart_draws_reports_side_by_side(scale, tmp_path, capsys):
    base = {"shape": {"users": 10}, "procs": 1, "num_neighbors": [5, 5],
            "item_neighbors": -1, "sparse_features": False,
            "item_history": False}
    full = dict(base, mode="full", rows=[
        {"model": "lightgcn", "batch_s": 2.0}, {"model": "bm3", "batch_s": 3.0}])
    again = dict(base, mode="full", rows=[{"model": "lightgcn", "batch_s": 1.5}])
    sampled = dict(base, mode="sampled", item_neighbors=3, item_history=True,
                   rows=[{"model": "lightgcn", "batch_s": 0.25},
                         {"model": "bm3", "error": "refused"}])
    paths = []
    for k, report in enumerate((full, again, sampled)):
        paths.append(tmp_path / f"r{k}.json")
        paths[-1].write_text(json.dumps(report))
    assert scale.report_label(sampled) == "sampled [5, 5] kNN 3 history"
    assert scale.report_label(dict(full, procs=2)) == "full, 2 procs"
    fig = tmp_path / "fig.png"
    assert scale.main(["--chart", str(fig)] + [str(p) for p in paths]) == 0
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = tmp_path / "bad.json"
    bad.write_text("{half")
    with pytest.raises(SystemExit, match="bad.json: not a readable scale"):
        scale.main(["--chart", str(tmp_path / "x.png"), str(bad)])
    with pytest.raises(SystemExit):
        scale.main(["--chart", str(fig)])
    assert "--chart: expected FIG.png" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        scale.main([])
    assert "--out: required" in capsys.readouterr().err
