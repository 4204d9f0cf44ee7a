import json
import os
import subprocess
import sys

import pytest
import torch

from mmgraph.config import TrainConfig
from mmgraph.errors import RunFolderError
from mmgraph.models import create_model
from mmgraph.runs import (CHECKPOINT, GRID_FILE, IDENTITY_FILE, LOCK_FILE,
                          RESULTS, RunFolder, load_run, run_dir_of_best,
                          train_run)
from mmgraph.train import Trainer


def _cfg(**kw):
    base = dict(epochs=2, batch_size=256, topk=[10, 20], seed=1)
    base.update(kw)
    return TrainConfig(**base)


def _resolved(**train):
    return {"model": {"embedding_dim": 8}, "train": _cfg(**train).to_dict(),
            "objective": {}}


def test_identity_records_the_run_and_refuses_another(tiny_dataset,
                                                      tmp_path):
    folder = RunFolder(tmp_path / "run")
    train_run("mf", tiny_dataset, _resolved(), folder.path,
              show_progress=False)
    ident = json.loads(folder.file(IDENTITY_FILE).read_text())
    assert ident["model"] == "mf"
    assert ident["config"]["model"] == {"embedding_dim": 8}
    assert ident["config"]["train"]["learning_rate"] == 1e-3
    assert ident["dataset_fingerprint"] == tiny_dataset.fingerprint()
    assert {"torch", "mmgraph"} <= set(ident["versions"])
    assert ident["code_version"]
    # The same run with a longer budget is a resume; anything else is not.
    folder.check_identity(ident)
    longer = json.loads(json.dumps(ident))
    longer["config"]["train"]["epochs"] = 50
    folder.check_identity(longer)
    other = json.loads(json.dumps(ident))
    other["config"]["model"]["embedding_dim"] = 16
    with pytest.raises(RunFolderError) as e:
        folder.check_identity(other)
    msg = str(e.value)
    assert "\n" not in msg and "config.model.embedding_dim: 8 here, 16 now" \
        in msg
    folder.check_identity(other, force=True)
    other = dict(ident, dataset_fingerprint="0" * 64)
    with pytest.raises(RunFolderError, match="another dataset"):
        folder.check_identity(other)


def test_resume_on_other_data_is_refused(tiny_dataset, one_modality_dataset,
                                         tmp_path):
    out = tmp_path / "run"
    train_run("mf", tiny_dataset, _resolved(), out, show_progress=False)
    with pytest.raises(RunFolderError, match="dataset_fingerprint"):
        train_run("mf", one_modality_dataset, _resolved(), out, resume=True,
                  show_progress=False)


def test_load_run_rebuilds_the_selected_model(tiny_dataset, tmp_path):
    res, model = train_run("mf", tiny_dataset, _resolved(), tmp_path,
                           show_progress=False)
    loaded, ds, results = load_run(tmp_path, dataset=tiny_dataset)
    assert results["test"] == res["test"]
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    assert not loaded.training


def test_load_run_checks_the_data_fingerprint(tmp_path):
    from mmgraph.data import make_synthetic
    data = tmp_path / "data"
    make_synthetic(out=data, num_users=60, num_items=40, avg_degree=8,
                   seed=0)
    from mmgraph.data import load_dataset
    train_run("mf", load_dataset(str(data)), _resolved(), tmp_path / "run",
              data_spec=str(data), show_progress=False)
    load_run(tmp_path / "run")  # the same data: fine
    make_synthetic(out=data, num_users=60, num_items=40, avg_degree=8,
                   seed=1)  # the folder now holds other interactions
    with pytest.raises(RunFolderError, match="differ from those"):
        load_run(tmp_path / "run")


def test_grid_folder_stores_the_best_run_relative(tiny_dataset, tmp_path):
    from mmgraph.experiment import train_model
    grid = tmp_path / "grid"
    train_model("mf", tiny_dataset, overrides={"epochs": 1,
                                               "batch_size": 256,
                                               "embedding_dim": [4, 8]},
                out_dir=grid, show_progress=False)
    saved = json.loads((grid / GRID_FILE).read_text())
    assert not os.path.isabs(saved["best_run"])
    assert saved["best_run"].startswith("runs")
    # The grid folder can move: its best run is found relative to it.
    moved = tmp_path / "moved"
    grid.rename(moved)
    best = run_dir_of_best(moved)
    assert best == moved / saved["best_run"] and (best / CHECKPOINT).exists()
    load_run(moved, dataset=tiny_dataset)


def test_missing_and_corrupt_folders_raise_one_line_errors(tmp_path):
    with pytest.raises(RunFolderError, match="no checkpoint.pt, grid.json or search.json"):
        run_dir_of_best(tmp_path)
    folder = RunFolder(tmp_path)
    folder.file(RESULTS).write_text("{not json")
    with pytest.raises(RunFolderError, match="not readable JSON"):
        folder.read_results()
    folder.file(CHECKPOINT).write_bytes(b"garbage")
    with pytest.raises(RunFolderError, match="corrupt"):
        folder.load_checkpoint()


def test_lock_is_exclusive_and_a_stale_lock_is_taken_over(tmp_path):
    folder = RunFolder(tmp_path / "run")
    with folder.lock():
        assert int(folder.file(LOCK_FILE).read_text()) == os.getpid()
        with pytest.raises(RunFolderError, match=f"process {os.getpid()}"):
            with RunFolder(tmp_path / "run").lock():
                pass
    assert not folder.file(LOCK_FILE).exists()
    # A lock whose process has exited is stale.
    dead = subprocess.run([sys.executable, "-c",
                           "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    folder.file(LOCK_FILE).write_text(dead + "\n")
    with folder.lock():
        assert int(folder.file(LOCK_FILE).read_text()) == os.getpid()
    assert not folder.file(LOCK_FILE).exists()


def test_writes_are_atomic(tmp_path, monkeypatch):
    folder = RunFolder(tmp_path)
    folder.write_results({"a": 1})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        folder.write_results({"a": 2})
    assert folder.read_results() == {"a": 1}
    assert sorted(os.listdir(tmp_path)) == [RESULTS]


def test_results_are_written_every_epoch(tiny_dataset, tmp_path):
    from mmgraph.train.callbacks import Callback
    seen = []

    class Peek(Callback):
        def on_epoch_end(self, trainer, epoch, record):
            seen.append(json.loads((tmp_path / RESULTS).read_text()))

    model = create_model("mf", tiny_dataset)
    folder = RunFolder(tmp_path)
    Trainer(model, tiny_dataset, _cfg(epochs=3),
            callbacks=folder.callbacks() + [Peek()],
            show_progress=False).fit()
    assert [len(s["history"]) for s in seen] == [1, 2, 3]
    assert not any(s["finished"] for s in seen)
    assert folder.read_results()["finished"]


def test_run_dir_of_best_follows_a_search_folder(tmp_path):
    from mmgraph.runs import run_dir_of_best
    search = tmp_path / "s"
    (search / "trials" / "abc").mkdir(parents=True)
    (search / "search.json").write_text('{"best_run": "trials/abc"}')
    assert run_dir_of_best(search) == search / "trials" / "abc"
    (search / "search.json").write_text('{"best_run": null}')
    with pytest.raises(RunFolderError, match="search.json names no best run"):
        run_dir_of_best(search)
