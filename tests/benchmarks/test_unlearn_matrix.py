r"""benchmarks/unlearn_matrix.py: the cells it runs, gold and fine-tune
shared between methods, resume by skipping finished cells, the table."""
import json
import shutil
from pathlib import Path

import pytest

from .scripts import load_script


@pytest.fixture(scope="module")
def matrix():
    return load_script("unlearn_matrix")


def test_matrix_runs_shares_gold_and_resumes(matrix, tmp_path, capsys):
    from tests.run_factory import make_prepared_folder
    data = make_prepared_folder(tmp_path / "data")
    out = tmp_path / "m"
    argv = ["--data", str(data), "--out", str(out), "--models", "lightgcn",
            "--kinds", "users", "--seeds", "0", "--set", "epochs=2",
            "--set", "n_layers=1", "--unlearn-args", "--epochs 1",
            "--threads", "1"]
    assert matrix.main(argv) == 0
    printed = capsys.readouterr().out
    cell = out / "lightgcn" / "seed0" / "users"
    # the gold in the request's own folder, fine-tune in the first cell
    assert (cell / "gold" / "results.json").is_file()
    assert (cell / "mmrecun" / "finetune").is_dir()
    assert not (cell / "mmrecun" / "gold").exists()
    assert not (cell / "targeted" / "gold").exists()
    records = json.loads((out / "matrix.json").read_text())
    assert {r["method"] for r in records} == {"mmrecun", "targeted"}
    for rec in records:
        assert rec["seeds"] == [0] and rec["train_epochs_cap"] == 2
        for role in ("original", "unlearned", "finetune", "gold"):
            assert 0.0 <= rec["roles"][role]["forget"][0] <= 1.0
            assert rec["roles"][role]["test"][0] >= 0.0
    targeted = next(r for r in records if r["method"] == "targeted")
    mmrecun = next(r for r in records if r["method"] == "mmrecun")
    assert targeted["roles"]["gold"] == mmrecun["roles"]["gold"]
    assert targeted["roles"]["unlearned"] != mmrecun["roles"]["unlearned"]
    assert "forget ~ gold" in printed and "lightgcn" in printed
    assert (out / "matrix.md").read_text().startswith("| model")
    assert (out / "matrix.png").read_bytes().startswith(b"\x89PNG")
    # A rerun finds every cell finished and runs nothing.
    stamp = (cell / "mmrecun" / "unlearn.json").stat().st_mtime_ns
    assert matrix.main(argv) == 0
    assert "$ " not in capsys.readouterr().out
    assert (cell / "mmrecun" / "unlearn.json").stat().st_mtime_ns == stamp
    # An arm added later runs only its own cells and shares the gold.
    assert matrix.main(argv + ["--arm", "reinit@users=--reinit-rows"]) == 0
    assert "--reinit-rows" in capsys.readouterr().out
    assert not (cell / "reinit" / "gold").exists()
    records = json.loads((out / "matrix.json").read_text())
    reinit = next(r for r in records if r["method"] == "reinit")
    assert reinit["roles"]["gold"] == mmrecun["roles"]["gold"]
    assert (cell / "reinit" / "unlearn.json").exists()
    # a report of the arm alone still finds the gold of its request
    assert matrix.main(["--out", str(out), "--models", "lightgcn",
                        "--kinds", "users", "--seeds", "0", "--methods", "",
                        "--arm", "reinit@users=--reinit-rows",
                        "--report", "--chart", str(tmp_path / "um.png")]) == 0
    alone = json.loads((out / "matrix.json").read_text())
    assert [r["method"] for r in alone] == ["reinit"]
    assert alone[0]["roles"]["gold"] == mmrecun["roles"]["gold"]
    assert (tmp_path / "um.png").read_bytes().startswith(b"\x89PNG")


def test_records_rebuild_the_report_without_the_runs(matrix, tmp_path,
                                                     monkeypatch):
    from tests.run_factory import make_prepared_folder
    make_prepared_folder(tmp_path / "data")
    # relative paths, as the docs give them: the cells' run folders land
    # where the caller means (they went to the checkout's folder, and the
    # report, reading the caller's, found no cell)
    monkeypatch.chdir(tmp_path)
    data, out, kept = Path("data"), Path("m"), Path("kept")
    common = ["--models", "lightgcn", "--kinds", "users", "--seeds", "0"]
    assert matrix.main(["--data", str(data), "--out", str(out), *common,
                        "--methods", "mmrecun", "--set", "epochs=2",
                        "--set", "n_layers=1", "--unlearn-args",
                        "--epochs 1", "--threads", "1",
                        "--records", str(kept)]) == 0
    cell = Path("lightgcn") / "seed0" / "users" / "mmrecun" / "unlearn.json"
    assert (kept / cell).read_bytes() == (out / cell).read_bytes()
    assert [p.name for p in kept.rglob("*") if p.is_file()] == [
        "unlearn.json"]                  # no checkpoint, no run folder
    # a second copy writes nothing that is already there
    assert matrix.keep_records(out, kept) == []
    expected = json.loads((out / "matrix.json").read_text())
    shutil.rmtree(out)
    assert matrix.main(["--out", str(kept), *common, "--methods", "mmrecun",
                        "--report"]) == 0
    assert json.loads((kept / "matrix.json").read_text()) == expected


def _record(model, kind, method, unlearned, gold=(0.01, 0.012, 0.011)):
    def role(forget):
        return {"forget": list(forget), "test": [0.1] * 3,
                "mia_auc": [0.5 + f for f in forget],
                "seconds": [1.0] * 3, "cpu_seconds": [1.0] * 3}
    return {"model": model, "kind": kind, "method": method,
            "seeds": [0, 1, 2], "train_epochs_cap": 50,
            "roles": {"original": role((0.4, 0.41, 0.39)),
                      "unlearned": role(unlearned), "finetune":
                      role((0.3,) * 3), "gold": role(gold)}}


def test_chart_draws_every_cell_against_its_gold(matrix, tmp_path,
                                                 monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    records = [_record("lightgcn", "users", "mmrecun", (0.3, 0.31, 0.32)),
               _record("lightgcn", "users", "targeted", (0.0, 0.0, 0.001)),
               _record("freedom", "items", "mmrecun", (0.02, 0.01, 0.0))]
    drawn = []
    real_subplots = plt.subplots

    def spy(*args, **kwargs):
        fig, axes = real_subplots(*args, **kwargs)
        drawn.append(axes)
        return fig, axes

    monkeypatch.setattr(plt, "subplots", spy)
    path = matrix.chart(records, tmp_path / "sub" / "um.png")
    assert path.read_bytes().startswith(b"\x89PNG")
    axes = drawn[0]
    assert axes.shape == (2, 2)  # users and items rows; forget and AUC
    users_forget = axes[0][0]
    heights = sorted(round(b.get_height(), 4) for b in users_forget.patches
                     if b.get_width() < 0.45)  # the bars, not the band
    assert heights == [0.0003, 0.31]  # mean over seeds per method
    # the gold line sits at gold's mean across the model's group
    from matplotlib.collections import LineCollection
    gold = [c for c in users_forget.collections
            if isinstance(c, LineCollection) and c.get_color()[0][:3].sum() == 0]
    assert gold and abs(gold[0].get_segments()[0][0][1] - 0.011) < 1e-9
    with pytest.raises(SystemExit, match="no finished cell"):
        matrix.chart([], tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()
    # a path it cannot write is a one-line error; the earlier chart stays
    before = path.read_bytes()
    (tmp_path / "sub" / "um.png.d").mkdir()
    with pytest.raises(SystemExit, match="cannot write the chart"):
        matrix.chart(records, tmp_path / "sub" / "um.png.d")
    assert path.read_bytes() == before


def _figures(forget, test, auc, seconds=None, cpu=None, nested=True):
    metric = (lambda v: {"recall@20": v}) if nested else (lambda v: v)
    out = {"forget": metric(forget), "test": metric(test), "mia_auc": auc}
    if seconds is not None:
        out["seconds"] = seconds
    if cpu is not None:
        out["cpu_seconds"] = cpu
    return out


def _write_cell(out, model, seed, kind, method, roles):
    path = out / model / f"seed{seed}" / kind / method / "unlearn.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({
        "models": roles, "request": {"num_ids": 5, "forget_edges": 40},
        "settings": {"train_epochs_cap": 50}}))


def _transcribed(seed, forget, gold_forget, source="docs at abc1234"):
    # a cell as an older table printed it: recall@20 and CPU s, no wall s
    return {"model": "lightgcn", "kind": "users", "method": "mmrecun",
            "seed": seed, "source": source, "roles": {
                "original": _figures(0.5, 0.1, 0.8, nested=False),
                "unlearned": _figures(forget, 0.1, 0.6, cpu=10,
                                      nested=False),
                "finetune": _figures(0.3, 0.1, 0.7, nested=False),
                "gold": _figures(gold_forget, 0.1, 0.5, cpu=300,
                                 nested=False)}}


def test_transcribed_cells_join_the_report_and_are_counted(matrix, tmp_path,
                                                           capsys):
    out = tmp_path / "kept"
    _write_cell(out, "lightgcn", 1, "users", "mmrecun", {
        "original": _figures(0.4, 0.1, 0.8, 900, 800),
        "unlearned": _figures(0.2, 0.1, 0.6, 20, 18),
        "finetune": _figures(0.3, 0.1, 0.7, 100, 90),
        "gold": _figures(0.02, 0.1, 0.5, 1000, 600)})
    cells = [_transcribed(0, 0.1, 0.01),
             _transcribed(1, 0.9, 0.9),          # seed 1 has a record
             {**_transcribed(0, 0.1, 0.01), "model": "bm3"}]  # not asked
    path = tmp_path / "seed0.json"
    path.write_text(json.dumps(cells))
    assert matrix.main(["--out", str(out), "--models", "lightgcn",
                        "--kinds", "users", "--methods", "mmrecun",
                        "--seeds", "0,1", "--report",
                        "--transcribed", str(path)]) == 0
    printed = capsys.readouterr().out
    [rec] = json.loads((out / "matrix.json").read_text())
    assert rec["seeds"] == [0, 1] and rec["transcribed_seeds"] == [0]
    # seed 0 from the transcription, seed 1 from its record (not 0.9)
    assert rec["roles"]["unlearned"]["forget"] == [0.1, 0.2]
    assert rec["roles"]["gold"]["forget"] == [0.01, 0.02]
    assert rec["roles"]["gold"]["seconds"] == [None, 1000]
    assert rec["roles"]["gold"]["cpu_seconds"] == [300, 600]
    assert rec["train_epochs_cap"] == 50
    assert "2 (1 transcribed)" in printed
    assert "0.150 ± 0.071" in printed            # forget over both seeds
    # wall seconds of the one seed that has them, and the CPU of both
    assert "20.0 (n=1) / 1000.0 (n=1)" in printed
    assert "14.0 ± 5.7 / 450.0 ± 212.1" in printed
    assert "50.0x" in printed                    # 1000 / 20, seed 1 alone
    assert "transcribed, not from a record: lightgcn seed 0: docs at " \
        "abc1234" in printed
    # transcribed alone: no seed timed by the clock, no speed-up claimed
    assert matrix.main(["--out", str(out), "--models", "lightgcn",
                        "--kinds", "users", "--methods", "mmrecun",
                        "--seeds", "0", "--report",
                        "--transcribed", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "nan" not in printed and "- / -" in printed


@pytest.mark.parametrize("edit, message", [
    (lambda c: c, "expected a JSON list of cells, got dict"),
    (lambda c: [{**c, "seed": "0"}], "cell 0: 'seed' missing or not a int"),
    (lambda c: [c, {**c, "kind": "groups"}], "cell 1: unknown kind"),
    (lambda c: [{**c, "roles": {k: v for k, v in c["roles"].items()
                                if k != "gold"}}], "cell 0: roles.gold "
                                                   "missing"),
    (lambda c: [{**c, "roles": {**c["roles"], "unlearned": {
        **c["roles"]["unlearned"], "forget": "0.1"}}}],
     "roles.unlearned.forget: expected a number"),
])
def test_transcribed_refuses_a_bad_cell_before_running(matrix, tmp_path,
                                                        edit, message):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(edit(_transcribed(0, 0.1, 0.01))))
    with pytest.raises(SystemExit, match=message) as err:
        # --report: were the file taken, no matrix would run
        matrix.main(["--out", str(tmp_path / "m"), "--models", "lightgcn",
                     "--seeds", "0", "--report", "--transcribed", str(path)])
    assert str(path) in str(err.value)
    assert not (tmp_path / "m").exists()


def test_chart_refuses_a_directory_before_running(matrix, tmp_path, capsys):
    with pytest.raises(SystemExit):
        matrix.main(["--out", str(tmp_path / "m"), "--models", "lightgcn",
                     "--seeds", "0", "--chart", str(tmp_path)])
    assert "--chart: " in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_records_refuses_a_file_before_running(matrix, tmp_path, capsys):
    kept = tmp_path / "kept.json"
    kept.write_text("{}")
    with pytest.raises(SystemExit):
        matrix.main(["--out", str(tmp_path / "m"), "--models", "lightgcn",
                     "--seeds", "0", "--records", str(kept)])
    assert "--records: " in capsys.readouterr().err
    assert not (tmp_path / "m").exists() and kept.read_text() == "{}"


def test_a_dry_run_plans_gold_once_per_request(matrix, tmp_path, capsys):
    assert matrix.main(["--out", str(tmp_path / "m"), "--models", "lightgcn",
                        "--seeds", "0", "--arm", "reinit@users=--reinit-rows",
                        "--dry-run"]) == 0
    printed = capsys.readouterr().out
    calls = [line for line in printed.splitlines() if "$ mmgraph unlearn" in line]
    assert len(calls) == 7  # 3 kinds x 2 methods + the arm's users cell
    assert sum("--gold" in line for line in calls) == 3  # one per kind
    # retrained into the request's own folder, where a stopped job resumes
    assert f"--gold-dir {tmp_path / 'm' / 'lightgcn' / 'seed0' / 'users' / 'gold'}" \
        in calls[0] and "--gold" not in calls[1]


def test_a_dry_run_measures_a_request_level_gold_run(matrix, tmp_path,
                                                     capsys):
    # users and items: the request-level gold folder is passed either way
    # (unlearn retrains, resumes or measures it); interactions: a gold in a
    # finished cell's unlearn.json is shared, and only fine-tune is missing
    base = tmp_path / "m" / "lightgcn" / "seed0"
    (base / "users" / "gold").mkdir(parents=True)
    (base / "users" / "gold" / "results.json").write_text(
        json.dumps({"finished": True}))
    (base / "interactions" / "mmrecun").mkdir(parents=True)
    (base / "interactions" / "mmrecun" / "unlearn.json").write_text(
        json.dumps({"models": {"gold": {}}}))
    assert matrix.main(["--out", str(tmp_path / "m"), "--models", "lightgcn",
                        "--seeds", "0", "--dry-run"]) == 0
    calls = [line for line in capsys.readouterr().out.splitlines()
             if "$ mmgraph unlearn" in line]
    users, items, inter = calls[:2], calls[2:4], calls[4:]
    assert f"--gold-dir {base / 'users' / 'gold'}" in users[0]
    assert "--finetune" in users[0] and "--gold" not in users[1]
    assert f"--gold-dir {base / 'items' / 'gold'}" in items[0] and \
        "--finetune" in items[0]
    assert len(inter) == 1 and "--finetune" in inter[0] and \
        "--gold" not in inter[0]


def test_matrix_rejects_unknown_kind(matrix, tmp_path):
    with pytest.raises(SystemExit):
        matrix.main(["--out", str(tmp_path), "--kinds", "groups"])


@pytest.mark.parametrize("arm, message", [
    ("reinit", "expected NAME"), ("re init=--x", "expected NAME"),
    ("r@groups=--x", "unknown kind 'groups'"),
    ("targeted=--x", "already name"), ("gold=--x", "gold run folder")])
def test_matrix_rejects_a_bad_arm(matrix, tmp_path, capsys, arm, message):
    with pytest.raises(SystemExit):
        matrix.main(["--out", str(tmp_path), "--arm", arm, "--dry-run"])
    assert message in capsys.readouterr().err
