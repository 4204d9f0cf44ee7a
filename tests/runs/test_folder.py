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
                          RESULTS, RESUME_FILE, RunFolder, load_run, run_dir_of_best,
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
    assert "\n" not in msg and "config.model.embedding_dim: 8 there, 16 now" \
        in msg
    folder.check_identity(other, force=True)
    other = dict(ident, dataset_fingerprint="0" * 64)
    with pytest.raises(RunFolderError, match="other data"):
        folder.check_identity(other)
    other = dict(ident, model="lightgcn")
    with pytest.raises(RunFolderError, match="'mf' model run, not 'lightgcn'"):
        folder.check_identity(other)
    # A folder written before a setting existed: the setting at its default
    # is the same run (resumable), at another value it is not.
    older = json.loads(json.dumps(ident))
    del older["config"]["train"]["precision"]
    folder.write_identity(older)
    folder.check_identity(ident)
    newer = json.loads(json.dumps(ident))
    newer["config"]["train"]["precision"] = "bfloat16"
    with pytest.raises(RunFolderError, match="config.train.precision"):
        folder.check_identity(newer)


def test_resume_on_other_data_is_refused(tiny_dataset, one_modality_dataset,
                                         tmp_path):
    out = tmp_path / "run"
    train_run("mf", tiny_dataset, _resolved(), out, show_progress=False)
    with pytest.raises(RunFolderError, match="other data"):
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


def test_a_run_on_one_of_several_inter_files_reloads_that_one(tmp_path):
    import shutil
    from mmgraph.data import load_dataset, make_synthetic
    make_synthetic(tmp_path / "d", num_users=80, num_items=50, avg_degree=8,
                   seed=0)
    shutil.copy(tmp_path / "d" / "synthetic.inter", tmp_path / "d" / "b.inter")
    ds = load_dataset(tmp_path / "d" / "b.inter")
    out = tmp_path / "run"
    train_run("mf", ds, _resolved(epochs=1), out, show_progress=False)
    assert json.loads((out / IDENTITY_FILE).read_text())["data"] == \
        str(tmp_path / "d" / "b.inter")
    _, again, _ = load_run(out)  # no "expected exactly one *.inter file"
    assert again.name == "b" and again.fingerprint() == ds.fingerprint()


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
    with pytest.raises(RunFolderError, match="changed since the run was "
                       "trained") as e:
        load_run(tmp_path / "run")
    assert "\n" not in str(e.value) and "--force" in str(e.value)
    _, ds, _ = load_run(tmp_path / "run", force=True)  # warns only
    assert ds.fingerprint() != json.loads(
        (tmp_path / "run" / IDENTITY_FILE).read_text())["dataset_fingerprint"]


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
    with pytest.raises(RunFolderError,
                       match="no checkpoint.pt, results.json, grid.json or search.json"):
        run_dir_of_best(tmp_path)
    folder = RunFolder(tmp_path)
    folder.file(RESULTS).write_text("{not json")
    with pytest.raises(RunFolderError, match="invalid JSON at line 1"):
        folder.read_results()
    folder.file(CHECKPOINT).write_bytes(b"garbage")
    with pytest.raises(RunFolderError, match="corrupt"):
        folder.load_checkpoint()


def _lock_in_child(path) -> str:
    r"""What a child process trying to lock ``path`` reports."""
    code = ("from mmgraph.runs import RunFolder\n"
            f"with RunFolder({str(path)!r}).lock(): print('got it')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True,
                          text=True)
    assert proc.returncode != 0 and "got it" not in proc.stdout
    return proc.stderr


def test_lock_is_exclusive_and_a_stale_lock_is_taken_over(tmp_path):
    folder = RunFolder(tmp_path / "run")
    with folder.lock():
        assert int(folder.file(LOCK_FILE).read_text()) == os.getpid()
        # Another process is kept out; this one may re-enter (a command
        # holds the lock of the folder it claimed while training into it).
        err = _lock_in_child(folder.path)
        assert f"locked by process {os.getpid()}" in err, err
        with RunFolder(tmp_path / "run").lock():
            pass
        assert folder.file(LOCK_FILE).exists()
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


def test_resume_with_a_smaller_epoch_budget_is_refused(tiny_dataset,
                                                        tmp_path):
    out = tmp_path / "run"
    train_run("mf", tiny_dataset, _resolved(epochs=3), out,
              show_progress=False)
    before = {n: (out / n).read_bytes()
              for n in (IDENTITY_FILE, RESULTS, CHECKPOINT)}
    with pytest.raises(RunFolderError) as e:
        train_run("mf", tiny_dataset, _resolved(epochs=1), out, resume=True,
                  show_progress=False)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(str(out))
    assert "trained for 3 epochs" in msg and "epochs=1" in msg
    # nothing was rewritten: the record still says 3 epochs
    assert {n: (out / n).read_bytes() for n in before} == before
    # the same budget (nothing left to train) and a larger one still resume
    train_run("mf", tiny_dataset, _resolved(epochs=3), out, resume=True,
              show_progress=False)
    res, _ = train_run("mf", tiny_dataset, _resolved(epochs=4), out,
                       resume=True, show_progress=False)
    assert res["epochs"] == 4 and res["config"]["train"]["epochs"] == 4


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


def test_legacy_folder_is_checked_on_its_results(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    train_run("mf", tiny_dataset, _resolved(), out, show_progress=False)
    (out / IDENTITY_FILE).unlink()  # a folder from before run.json
    with pytest.raises(RunFolderError, match="results.json: .*'mf' model run, "
                       "not 'lightgcn'"):
        train_run("lightgcn", tiny_dataset, _resolved(), out, resume=True,
                  show_progress=False)


def test_resume_from_a_checkpoint_that_does_not_fit(tiny_dataset, tmp_path):
    out = tmp_path / "run"
    train_run("mf", tiny_dataset, _resolved(), out, show_progress=False)
    (out / IDENTITY_FILE).unlink()
    results = json.loads((out / RESULTS).read_text())
    results["config"]["model"]["embedding_dim"] = 4  # lies about the model
    (out / RESULTS).write_text(json.dumps(results))
    cfg = _resolved(epochs=3)
    cfg["model"]["embedding_dim"] = 4
    with pytest.raises(RunFolderError, match="checkpoint.pt: cannot resume"):
        train_run("mf", tiny_dataset, cfg, out, resume=True,
                  show_progress=False)


def _finished(path):
    folder = RunFolder(path)
    folder.write_results({"finished": True, "model": "mf", "data": "synthetic",
                          "config": {"model": {}, "train": {}}})
    folder.save_checkpoint({"x": torch.zeros(1)})
    (folder.path / "notes.txt").write_text("mine")
    return folder


def test_claim_refuses_a_finished_run_and_overwrite_clears_it(tmp_path):
    folder = _finished(tmp_path / "run")
    before = {p.name: p.read_bytes() for p in folder.path.iterdir()}
    with pytest.raises(RunFolderError, match="finished run.*--overwrite"):
        with folder.claim():
            pass
    assert {p.name: p.read_bytes() for p in folder.path.iterdir()} == before
    with folder.claim(resume=True):  # resuming keeps everything
        assert folder.has_checkpoint()
    with folder.claim(overwrite=True):
        # The old run's files are gone before anything new is written;
        # the user's own file stays; the lock is held.
        assert sorted(p.name for p in folder.path.iterdir()) == \
            [LOCK_FILE, "notes.txt"]
        assert "locked by process" in _lock_in_child(folder.path)
        with folder.lock():  # re-entrant in the claiming process
            pass
        assert folder.file(LOCK_FILE).exists()
    assert not folder.file(LOCK_FILE).exists()


def test_claim_leaves_no_empty_folder_on_failure(tmp_path):
    out = RunFolder(tmp_path / "new")
    with pytest.raises(RuntimeError):
        with out.claim():
            raise RuntimeError("boom")
    assert not out.path.exists()
    with pytest.raises(RunFolderError, match="nothing to resume"):
        with out.claim(resume=True):
            pass
    assert not out.path.exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match="not a folder"):
        with RunFolder(tmp_path / "file").claim():
            pass


def test_unlearn_out_is_never_the_source_run(tmp_path):
    from mmgraph.runs import check_unlearn_out
    folder = _finished(tmp_path / "run")
    for out in (folder.path, folder.path / "sub", tmp_path / "x" / ".." / "run"):
        with pytest.raises(RunFolderError, match="--out is \\(inside\\) the --run"):
            check_unlearn_out(folder.path, out)
    assert check_unlearn_out(folder.path, tmp_path / "u") == folder.path


def test_run_dir_of_best_follows_a_search_folder(tmp_path):
    from mmgraph.runs import run_dir_of_best
    search = tmp_path / "s"
    (search / "trials" / "abc").mkdir(parents=True)
    (search / "trials" / "abc" / "checkpoint.pt").write_bytes(b"")
    (search / "search.json").write_text('{"best_run": "trials/abc"}')
    assert run_dir_of_best(search) == search / "trials" / "abc"
    (search / "search.json").write_text('{"best_run": null}')
    with pytest.raises(RunFolderError, match="search.json names no best run"):
        run_dir_of_best(search)


def test_checkpoint_written_before_a_setting_existed_resumes(tiny_dataset,
                                                             tmp_path):
    # The checkpoint stores the training config too: a setting the code
    # gained since (here item_neighbors), at its default, resumes; at
    # another value it is refused.
    out = tmp_path / "run"
    train_run("mf", tiny_dataset, _resolved(epochs=2), out,
              show_progress=False)
    ckpt = out / CHECKPOINT
    state = torch.load(ckpt, weights_only=False)
    del state["config"]["item_neighbors"]
    folder = RunFolder(out)
    ident = json.loads(folder.file(IDENTITY_FILE).read_text())
    del ident["config"]["train"]["item_neighbors"]
    torch.save(state, ckpt)
    folder.write_identity(ident)
    res, _ = train_run("mf", tiny_dataset, _resolved(epochs=3), out,
                       resume=True, show_progress=False)
    assert len(res["history"]) == 3
    with pytest.raises(RunFolderError, match="item_neighbors"):
        train_run("mf", tiny_dataset, _resolved(epochs=4, item_neighbors=3),
                  out, resume=True, show_progress=False)


def _scripted(trainer, monkeypatch, scores, crash_at=None):
    # Validation recall@20 follows `scores`; training raises
    # KeyboardInterrupt (a kill) at epoch `crash_at`; returns the list of
    # epochs trained.
    from tests.train.test_trainer import fake_valid_scores
    fake_valid_scores(trainer, monkeypatch, scores)
    trained, original = [], trainer.train_epoch

    def train_epoch(epoch):
        if epoch == crash_at:
            raise KeyboardInterrupt
        trained.append(epoch)
        return original(epoch)

    monkeypatch.setattr(trainer, "train_epoch", train_epoch)
    return trained


def _trainer(dataset, out, **kw):
    return Trainer(create_model("lightgcn", dataset), dataset,
                   _cfg(**{"epochs": 6, "patience": 100, **kw}),
                   callbacks=RunFolder(out).callbacks(), show_progress=False)


def test_resume_continues_from_the_last_epoch_not_the_best(
        tiny_dataset, tmp_path, monkeypatch, single_thread):
    # Best at epoch 1; killed in epoch 4, after epochs 2-3 brought nothing:
    # the resumed run trains epochs 4-5 only (the checkpoint alone would
    # repeat 2-3) and ends exactly as the uninterrupted run.
    scores = [0.1, 0.3, 0.2, 0.2, 0.2, 0.2]
    full_trainer = _trainer(tiny_dataset, tmp_path / "full")
    _scripted(full_trainer, monkeypatch, scores)
    full = full_trainer.fit()

    cut = _trainer(tiny_dataset, tmp_path / "cut")
    _scripted(cut, monkeypatch, scores, crash_at=4)
    with pytest.raises(KeyboardInterrupt):
        cut.fit()
    folder = RunFolder(tmp_path / "cut")
    assert folder.load_checkpoint()["epoch"] == 1
    assert folder.load_checkpoint(name=RESUME_FILE)["epoch"] == 3
    cpu_before = folder.load_checkpoint(name=RESUME_FILE)["cpu_seconds"]
    assert cpu_before > 0

    resumed = _trainer(tiny_dataset, tmp_path / "cut")
    trained = _scripted(resumed, monkeypatch, scores[4:])
    res = resumed.fit(resume=True)
    assert trained == [4, 5]
    assert res["best_epoch"] == full["best_epoch"] == 1
    assert res["test"] == full["test"]
    assert [h["loss"] for h in res["history"]] == \
        [h["loss"] for h in full["history"]]
    # wall_seconds covers both calls, not only the resumed one
    assert res["wall_seconds"] >= sum(h["train_seconds"] + h["eval_seconds"]
                                      for h in res["history"])
    # and so does cpu_seconds (this process's CPU time in both calls)
    assert res["cpu_seconds"] > cpu_before
    assert folder.read_results()["cpu_seconds"] == res["cpu_seconds"]
    # the run reached its epoch budget: it keeps the state to extend from
    assert folder.file(RESUME_FILE).is_file() and \
        res["stopped_by"] == "max_epochs"


def test_a_run_killed_after_its_stopping_epoch_stops_on_resume(
        tiny_dataset, tmp_path, monkeypatch):
    # patience 1: epochs 1 and 2 bring nothing, so epoch 2 stops the run;
    # a kill before the test evaluation leaves resume.pt at epoch 2, and
    # the resumed run trains nothing more.
    out = tmp_path / "run"
    cut = _trainer(tiny_dataset, out, patience=1)
    _scripted(cut, monkeypatch, [0.3, 0.1, 0.1, 0.1])
    monkeypatch.setattr(cut, "finish", lambda *a, **kw: (
        _ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        cut.fit()
    resumed = _trainer(tiny_dataset, out, patience=1)
    trained = _scripted(resumed, monkeypatch, [])
    res = resumed.fit(resume=True)
    assert trained == [] and res["epochs"] == 3
    assert res["stopped_by"] == "early_stopping" and res["best_epoch"] == 0
    # stopped for good: the resume state is gone, the checkpoint stays
    assert not (out / RESUME_FILE).exists() and (out / CHECKPOINT).is_file()


def test_a_resume_state_of_another_selection_is_refused_a_stale_one_ignored(
        tiny_dataset, tmp_path, monkeypatch):
    out = tmp_path / "run"
    cut = _trainer(tiny_dataset, out)
    _scripted(cut, monkeypatch, [0.1, 0.3, 0.2, 0.2], crash_at=3)
    with pytest.raises(KeyboardInterrupt):
        cut.fit()
    folder = RunFolder(out)
    last = folder.load_checkpoint(name=RESUME_FILE)
    # resume.pt claims another selected epoch than checkpoint.pt holds
    folder.save_checkpoint({**last, "best_epoch": 0}, RESUME_FILE)
    with pytest.raises(RunFolderError, match="resume.pt.*selected epoch 0"):
        _trainer(tiny_dataset, out).fit(resume=True)
    # a corrupt one is refused with the way out
    folder.file(RESUME_FILE).write_bytes(b"not a checkpoint")
    with pytest.raises(RunFolderError,
                       match=r"resume.pt: cannot be read.*delete resume.pt"):
        _trainer(tiny_dataset, out).fit(resume=True)
    # one older than the checkpoint (a kill between the two writes of an
    # improving epoch) is ignored: the run resumes after the checkpoint
    folder.save_checkpoint({**last, "epoch": 0}, RESUME_FILE)
    resumed = _trainer(tiny_dataset, out, epochs=3)
    trained = _scripted(resumed, monkeypatch, [0.2])
    resumed.fit(resume=True)
    assert trained == [2]


def test_unlearning_writer_keeps_no_resume_state(tiny_dataset, tmp_path,
                                                monkeypatch):
    # callbacks(resume=False): a run that is never resumed writes no
    # resume.pt, even at epochs that do not improve.
    out = tmp_path / "run"
    trainer = Trainer(create_model("mf", tiny_dataset), tiny_dataset,
                      _cfg(epochs=3, patience=100),
                      callbacks=RunFolder(out).callbacks(resume=False),
                      show_progress=False)
    seen = []
    monkeypatch.setattr(RunFolder, "save_checkpoint",
                        lambda self, state, name=CHECKPOINT: seen.append(name))
    _scripted(trainer, monkeypatch, [0.3, 0.1, 0.1])
    trainer.fit()
    assert seen == [CHECKPOINT]
