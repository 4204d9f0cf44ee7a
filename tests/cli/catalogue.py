r"""The catalogue of bad inputs and faults of the ``mmgraph`` command line.

Each :class:`Case` is one command a user could type (``argv``, with
``{tmp}``, ``{ds}``, ``{run}`` and ``{seq}`` filled in by the test), an
optional ``setup`` that damages or creates files first, the exit status it
must end with, and what its one-line message must name (the file, line or
option). ``tests/cli/test_catalogue.py`` runs every case; ``docs/cli-errors.md``
is generated from this table (``python -m tests.cli.catalogue`` rewrites it, a
test checks that it is current).

Placeholders:

* ``{ds}`` a prepared dataset (raw user ids ``u0..``, item ids ``i0..``),
* ``{run}`` a finished MF run on it,
* ``{seq}`` its raw ``user_sequence.txt``,
* ``{tmp}`` an empty folder of the case's own.

``protect`` lists the folders (placeholders allowed) whose files must be
byte-for-byte unchanged after the command (the earlier dataset or run).
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import numpy as np

__all__ = ["Case", "CASES", "GROUPS", "render_page"]

GROUPS = {
    "readers": "Malformed input files",
    "prepare": "prepare: options and output folders",
    "values": "Values and options of train",
    "folders": "Output folders and permissions",
    "run-data": "evaluate / recommend against a run and its data",
    "corrupt": "Corrupt run and dataset files",
    "signals": "Signals and pipes",
    "resume-identity": "--resume into a run of another model, setting or dataset",
    "concurrent-writers": "Concurrent writers (the lock)",
    "changed-data": "evaluate / recommend / unlearn against changed data; moved grid folders",
    "unlearning-requests": "Unlearning requests and the unlearning output folder",
}


@dataclass
class Case:
    r"""One catalogue entry.

    Args:
        id: a short unique name.
        group: a key of :data:`GROUPS`.
        what: one sentence for the documentation.
        argv: the command after ``mmgraph``, with placeholders.
        names: what the one-line message must contain (placeholders allowed);
            ``None`` for a success.
        code: the exit status.
        setup: ``setup(env)`` run before the command.
        check: ``check(env, stdout, stderr)`` after a success.
        protect: folders (with placeholders) whose files must not change.
        subprocess: run in a child process (signals, pipes).
        needs_no_cuda: skipped where a CUDA device exists.
    """
    id: str
    group: str
    what: str
    argv: str
    names: Optional[str] = None
    code: int = 2
    setup: Optional[Callable] = None
    check: Optional[Callable] = None
    protect: Sequence[str] = ()
    subprocess: bool = False
    needs_no_cuda: bool = False


# ----------------------------------------------------------------- helpers
def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def copy_run(env, name: str = "r") -> Path:
    dst = env.tmp / name
    shutil.copytree(env.run, dst)
    return dst


def copy_ds(env, name: str = "d") -> Path:
    dst = env.tmp / name
    shutil.copytree(env.ds, dst)
    return dst


def inter(rows: List[tuple], header="userID\titemID\trating\ttimestamp\tx_label") -> str:
    return header + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows)


GOOD_ROWS = [(u, (u + j) % 5, 1, j, 0 if j < 3 else (1 if j == 3 else 2))
             for u in range(6) for j in range(5)]


def mmrec_input(env, features: Optional[np.ndarray] = None, name="in") -> Path:
    folder = env.tmp / name
    write(folder / "x.inter", inter(GOOD_ROWS))
    if features is not None:
        np.save(folder / "image_feat.npy", features)
    return folder


def delimited(env, text: str, name="r.csv") -> Path:
    return write(env.tmp / name, text)


DELIM_OK = "uid,iid,ts\n" + "".join(f"u{u},i{(u + j) % 6},{u * 10 + j}\n"
                                    for u in range(8) for j in range(5))


def nbpo(env, train="[[0, 1], [1, 2]]", valid="[[2], [0]]", test="[[3], [3]]",
         skip=None) -> Path:
    folder = env.tmp / "nb"
    folder.mkdir(exist_ok=True)
    for fname, body in (("train_data.json", train), ("validation_data.json", valid),
                        ("test_data.json", test)):
        if fname != skip:
            write(folder / fname, body)
    return folder


# ------------------------------------------------------------- success checks
def check_quoted_separator(env, out, err):
    ids = (env.tmp / "o" / "i_id_mapping.csv").read_text().splitlines()[1:]
    assert {line.split("\t")[0] for line in ids} >= {"i,0", "i,1"}, ids


def check_overwrite_replaced(env, out, err):
    d = env.tmp / "d"
    names = sorted(p.name for p in d.iterdir())
    assert names == ["i_id_mapping.csv", "new.inter", "prepare.json", "u_id_mapping.csv"], \
        names
    manifest = json.loads((d / "prepare.json").read_text())
    assert manifest["name"] == "new" and "new.inter" in manifest["files"]


def check_train_overwrite(env, out, err):
    run = env.tmp / "r"
    results = json.loads((run / "results.json").read_text())
    assert results["epochs"] == 1 and len(results["history"]) == 1, results["epochs"]
    assert (run / "notes.txt").read_text() == "mine"


def check_no_out_note(env, out, err):
    assert "nothing was saved" in err and "valid@5" in out and "\nrecall " in out


def check_fewer_than_k(env, out, err):
    from mmgraph.data import load_dataset
    ds = load_dataset(env.ds)
    raw_items = ds.id_mapping("item")
    row = [line for line in out.splitlines() if line.strip().startswith("u0 ")][0]
    items = row.split()[1:]
    seen = {raw_items[i] for i in ds.train_edge_index[1][ds.train_edge_index[0] == 0].tolist()}
    assert items and not seen & set(items), (items, seen)
    assert len(items) == ds.num_items - len(seen), (items, ds.num_items, seen)


def check_raw_ids(env, out, err):
    row = [line for line in out.splitlines() if line.strip().startswith("u3 ")]
    assert row and all(tok.startswith("i") for tok in row[0].split()[1:]), out


def check_raw_ids_u0(env, out, err):
    row = [line for line in out.splitlines() if line.strip().startswith("u0 ")]
    assert row and all(tok.startswith("i") for tok in row[0].split()[1:]), out


def check_internal_ids(env, out, err):
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert rows and all(tok.isdigit() for r in rows for tok in r), out


def check_resumed_longer(env, out, err):
    run = env.tmp / "r"
    results = json.loads((run / "results.json").read_text())
    before = json.loads((env.run / "results.json").read_text())
    assert results["epochs"] == 3 and len(results["history"]) == 3, results["epochs"]
    for a, b in zip(results["history"][:2], before["history"]):
        assert a["loss"] == b["loss"] and a["valid"] == b["valid"]  # continued, not redone
    assert json.loads((run / "run.json").read_text())["config"]["train"]["epochs"] == 3


def check_stale_lock_taken(env, out, err):
    run = env.tmp / "new"
    assert not (run / ".lock").exists()
    assert json.loads((run / "results.json").read_text())["finished"]
    assert "stale lock" in err


def check_forced_warning(env, out, err):
    assert "WARNING" in err and "changed since the run was trained" in err, err
    assert "--force" in err, err


def check_evaluated(env, out, err):
    # evaluate prints one row per metric, one column per split@k
    assert "test@5" in out and "recall" in out, out


def check_recommended(env, out, err):
    check_forced_warning(env, out, err)
    assert any(line.strip().startswith("u0 ") for line in out.splitlines()), out


def check_unlearned_run_loads(env, out, err):
    from mmgraph.cli import main
    u = env.tmp / "u"
    assert (u / "unlearn.json").exists() and (u / "run.json").exists()
    assert not (u / ".lock").exists()
    assert main(["evaluate", "--run", str(u)]) == 0  # its data check passes


def check_moved_grid(env, out, err):
    check_evaluated(env, out, err)
    grid = json.loads((env.tmp / "moved" / "grid.json").read_text())
    assert not Path(grid["best_run"]).is_absolute(), grid["best_run"]


# -------------------------------------------------------------------- cases
P = "prepare --name x --out {tmp}/o"          # the usual prepare tail
T = "train --model mf --data {ds} --no-progress --set valid_metric=recall@5"
TR = T + " --set batch_size=16"                # resuming {run} (trained with it)

CASES: List[Case] = [
    # ------------------------------------------------------------- readers
    Case("seq-missing", "readers", "the interaction file does not exist",
         P + " --format sequence --interactions {tmp}/nope.txt", "{tmp}/nope.txt"),
    Case("seq-dir", "readers", "a folder where a file is expected",
         P + " --format sequence --interactions {tmp}", "expected a file"),
    Case("seq-user-only", "readers", "a sequence line with a user and no item",
         P + " --format sequence --interactions {tmp}/s.txt", "{tmp}/s.txt, line 2",
         setup=lambda e: write(e.tmp / "s.txt", "u1 a b\nu2\n")),
    Case("seq-not-utf8", "readers", "a file that is not UTF-8 text",
         P + " --format sequence --interactions {tmp}/s.txt", "{tmp}/s.txt",
         setup=lambda e: (e.tmp / "s.txt").write_bytes(b"u1 \xff\xfe a\n")),
    Case("seq-empty", "readers", "an empty interaction file",
         P + " --format sequence --interactions {tmp}/s.txt", "{tmp}/s.txt",
         setup=lambda e: write(e.tmp / "s.txt", "")),
    Case("delim-no-columns", "readers", "delimited input without --columns",
         P + " --format delimited --interactions {tmp}/r.csv", "--columns",
         setup=lambda e: delimited(e, DELIM_OK)),
    Case("delim-unknown-column", "readers", "--columns names a column the header lacks",
         P + " --format delimited --interactions {tmp}/r.csv --columns user=uid,item=asin",
         "'asin'", setup=lambda e: delimited(e, DELIM_OK)),
    Case("delim-unknown-role", "readers", "--columns uses an unknown role",
         P + " --format delimited --interactions {tmp}/r.csv --columns user=uid,itm=iid",
         "--columns", setup=lambda e: delimited(e, DELIM_OK)),
    Case("delim-no-role-eq", "readers", "--columns entry without '='",
         P + " --format delimited --interactions {tmp}/r.csv --columns uid,iid",
         "--columns", setup=lambda e: delimited(e, DELIM_OK)),
    Case("delim-bad-time", "readers", "a non-numeric time value",
         P + " --format delimited --interactions {tmp}/r.csv --columns user=uid,item=iid,"
         "time=ts", "{tmp}/r.csv, line 3, field 'ts'",
         setup=lambda e: delimited(e, "uid,iid,ts\nu1,i1,5\nu2,i2,soon\n")),
    Case("delim-bad-quote", "readers", "an unterminated quoted field",
         P + " --format delimited --interactions {tmp}/r.csv --columns user=uid,item=iid",
         "{tmp}/r.csv, line 3",
         setup=lambda e: delimited(e, 'uid,iid\nu1,i1\nu2,"i2\n')),
    Case("delim-quoted-sep", "readers",
         "quoted fields holding the separator are one field (kept in the id map)",
         "prepare --name x --out {tmp}/o --format delimited --interactions {tmp}/r.csv "
         "--columns user=uid,item=iid --split loo", None, 0,
         setup=lambda e: delimited(e, "uid,iid\n" + "".join(
             f'u{u},"i,{(u + j) % 4}"\n' for u in range(6) for j in range(4))),
         check=check_quoted_separator),
    Case("delim-tab-in-id", "readers", "an id holding a tab (the id maps are tab-separated)",
         P + " --format delimited --interactions {tmp}/r.csv --columns user=uid,item=iid",
         "{tmp}/r.csv, line 3",
         setup=lambda e: delimited(e, 'uid,iid\nu1,i1\nu2,"i\t2"\n')),
    Case("delim-empty-id", "readers", "an empty user id",
         P + " --format delimited --interactions {tmp}/r.csv --columns user=uid,item=iid",
         "{tmp}/r.csv, line 3, field 'uid'",
         setup=lambda e: delimited(e, "uid,iid\nu1,i1\n,i2\n")),
    Case("delim-short-row", "readers", "a row with too few fields",
         P + " --format delimited --interactions {tmp}/r.csv --columns user=uid,item=iid",
         "{tmp}/r.csv, line 3", setup=lambda e: delimited(e, "uid,iid\nu1,i1\nu2\n")),
    Case("delim-noheader-names", "readers", "--no-header with column names, not indices",
         P + " --format delimited --interactions {tmp}/r.csv --columns user=uid,item=iid "
         "--no-header", "--columns", setup=lambda e: delimited(e, DELIM_OK)),
    Case("delim-bad-label", "readers", "a split label outside 0/1/2",
         P + " --format delimited --interactions {tmp}/r.csv --columns user=uid,item=iid,"
         "label=x", "{tmp}/r.csv, line 3, field 'x'",
         setup=lambda e: delimited(e, "uid,iid,x\nu1,i1,0\nu1,i2,7\n")),
    Case("delim-empty", "readers", "an empty delimited file",
         P + " --format delimited --interactions {tmp}/r.csv --columns user=uid,item=iid",
         "{tmp}/r.csv", setup=lambda e: delimited(e, "")),
    Case("delim-sep-long", "readers", "--sep of more than one character",
         P + " --format delimited --interactions {tmp}/r.csv --columns user=uid,item=iid "
         "--sep ::", "--sep", setup=lambda e: delimited(e, DELIM_OK)),
    Case("nbpo-missing-file", "readers", "an NBPO folder without its test file",
         P + " --format nbpo-json --interactions {tmp}/nb", "test_data.json",
         setup=lambda e: nbpo(e, skip="test_data.json")),
    Case("nbpo-bad-json", "readers", "invalid JSON in an NBPO split",
         P + " --format nbpo-json --interactions {tmp}/nb", "{tmp}/nb/train_data.json, line 1",
         setup=lambda e: nbpo(e, train="[[0, 1], [1, 2")),
    Case("nbpo-negative", "readers", "a negative item id in an NBPO split",
         P + " --format nbpo-json --interactions {tmp}/nb", "field '[1][0]'",
         setup=lambda e: nbpo(e, valid="[[2], [-1]]")),
    Case("nbpo-not-folder", "readers", "an NBPO input that is a file",
         P + " --format nbpo-json --interactions {tmp}/r.csv", "{tmp}/r.csv",
         setup=lambda e: delimited(e, DELIM_OK)),
    Case("mmrec-two-inter", "readers", "an MMRec folder with two .inter files",
         P + " --format mmrec --interactions {tmp}/in", "expected exactly one *.inter",
         setup=lambda e: write(mmrec_input(e) / "y.inter", inter(GOOD_ROWS))),
    Case("mmrec-feat-rows", "readers", "a feature matrix with a row per item missing",
         P + " --format mmrec --interactions {tmp}/in", "{tmp}/in/image_feat.npy",
         setup=lambda e: mmrec_input(e, np.ones((3, 4), np.float32))),
    Case("mmrec-feat-nan", "readers", "a feature matrix holding NaN",
         P + " --format mmrec --interactions {tmp}/in", "{tmp}/in/image_feat.npy",
         setup=lambda e: mmrec_input(e, np.full((5, 4), np.nan, np.float32))),
    Case("mmrec-feat-zero-width", "readers", "a feature matrix with zero columns",
         P + " --format mmrec --interactions {tmp}/in", "{tmp}/in/image_feat.npy",
         setup=lambda e: mmrec_input(e, np.ones((5, 0), np.float32))),
    Case("mmrec-feat-pickle", "readers", "a feature file of pickled objects (unsafe)",
         P + " --format mmrec --interactions {tmp}/in", "{tmp}/in/image_feat.npy",
         setup=lambda e: mmrec_input(e, np.array([{"a": 1}] * 5, dtype=object)[:, None])),
    Case("mmrec-feat-garbage", "readers", "a feature file that is not .npy",
         P + " --format mmrec --interactions {tmp}/in", "{tmp}/in/image_feat.npy",
         setup=lambda e: write(mmrec_input(e) / "image_feat.npy", "not numpy")),
    Case("mmrec-bad-label", "readers", "an .inter split label outside 0/1/2",
         P + " --format mmrec --interactions {tmp}/in", "{tmp}/in/x.inter, line 3",
         setup=lambda e: write(e.tmp / "in" / "x.inter", inter([(0, 0, 1, 0, 0),
                                                                (0, 1, 1, 0, 5)]))),
    Case("mmrec-no-label-col", "readers", "an .inter file without x_label",
         P + " --format mmrec --interactions {tmp}/in", "field 'x_label'",
         setup=lambda e: write(e.tmp / "in" / "x.inter",
                               inter([(0, 0)], header="userID\titemID"))),
    Case("item-text-missing", "readers", "--item-text names a missing file",
         P + " --format sequence --interactions {seq} --item-text {tmp}/names.txt",
         "{tmp}/names.txt"),
    # ------------------------------------------------------------- prepare
    Case("name-path", "prepare", "--name holding a path",
         "prepare --format sequence --interactions {seq} --name ../evil --out {tmp}/o",
         "--name"),
    Case("name-dotdot", "prepare", "--name '..'",
         "prepare --format sequence --interactions {seq} --name .. --out {tmp}/o", "--name"),
    Case("out-not-empty", "prepare",
         "--out holds an earlier dataset (no --overwrite): refused, nothing changes",
         "prepare --format sequence --interactions {seq} --name x --out {ds}", "{ds}",
         protect=("{ds}",)),
    Case("second-name", "prepare",
         "a second --name into the same folder: refused, the first dataset is kept",
         "prepare --format sequence --interactions {seq} --name other --out {ds} --split loo",
         "--overwrite", protect=("{ds}",)),
    Case("overwrite-replaces", "prepare",
         "--overwrite replaces exactly the earlier preparation (no stale features or maps)",
         "prepare --format sequence --interactions {seq} --name new --out {tmp}/d "
         "--overwrite", None, 0,
         setup=lambda e: _stale_features(copy_ds(e)),
         check=check_overwrite_replaced),
    Case("overwrite-legacy", "prepare",
         "--overwrite on a folder prepared before manifests: its prepared files are replaced",
         "prepare --format sequence --interactions {seq} --name new --out {tmp}/d "
         "--overwrite", None, 0, setup=lambda e: _legacy(copy_ds(e)),
         check=check_overwrite_replaced),
    Case("overwrite-stray", "prepare",
         "--overwrite with an .inter the manifest does not list: refused, nothing changes",
         "prepare --format sequence --interactions {seq} --name x --out {tmp}/d --overwrite",
         "stray.inter", setup=lambda e: write(copy_ds(e) / "stray.inter", inter(GOOD_ROWS)),
         protect=("{tmp}/d",)),
    Case("overwrite-bad-input", "prepare",
         "--overwrite with bad input: the earlier dataset stays intact",
         "prepare --format sequence --interactions {tmp}/s.txt --name x --out {ds} "
         "--overwrite", "{tmp}/s.txt, line 1",
         setup=lambda e: write(e.tmp / "s.txt", "lonely\n"), protect=("{ds}",)),
    Case("overwrite-bad-manifest", "prepare", "--overwrite with a corrupt manifest",
         "prepare --format sequence --interactions {seq} --name x --out {tmp}/d --overwrite",
         "{tmp}/d/prepare.json",
         setup=lambda e: write(copy_ds(e) / "prepare.json", "{broken")),
    Case("out-is-file", "prepare", "--out is a file",
         "prepare --format sequence --interactions {seq} --name x --out {seq}", "{seq}"),
    Case("out-unwritable", "prepare", "--out cannot be created (read-only place)",
         "prepare --format sequence --interactions {seq} --name x --out /sys/mmgraph-out",
         "/sys/mmgraph-out"),
    Case("temporal-sequence", "prepare",
         "--split temporal on a sequence file (an order, not a time): refused",
         P + " --format sequence --interactions {seq} --split temporal", "--split"),
    Case("temporal-no-time", "prepare", "--split temporal without a time column: refused",
         P + " --format delimited --interactions {tmp}/r.csv --columns user=uid,item=iid "
         "--split temporal", "--split", setup=lambda e: delimited(e, DELIM_OK)),
    Case("temporal-constant", "prepare", "--split temporal when every row has the same time",
         P + " --format delimited --interactions {tmp}/r.csv --columns user=uid,item=iid,"
         "time=ts --split temporal", "--split",
         setup=lambda e: delimited(e, "uid,iid,ts\n" + "".join(
             f"u{u},i{j},7\n" for u in range(5) for j in range(4)))),
    Case("nbpo-split", "prepare", "--split on input that keeps its own split",
         P + " --format nbpo-json --interactions {tmp}/nb --split loo", "--split",
         setup=lambda e: nbpo(e)),
    Case("k-core-negative", "prepare", "--k-core below 0",
         P + " --format sequence --interactions {seq} --k-core -1", "--k-core"),
    Case("k-core-empty", "prepare", "a k-core filter that leaves nothing",
         P + " --format sequence --interactions {seq} --k-core 1000", "{seq}"),
    Case("format-unknown", "prepare", "an unregistered --format",
         P + " --format amazon --interactions {seq}", "--format"),
    Case("columns-wrong-format", "prepare", "--columns given to a format that has none",
         P + " --format sequence --interactions {seq} --columns user=a,item=b", "--columns"),
    Case("no-header-wrong-format", "prepare", "--no-header given to a sequence file",
         P + " --format sequence --interactions {seq} --no-header", "--no-header"),
    Case("prepare-seed-negative", "prepare", "--seed below 0",
         P + " --format sequence --interactions {seq} --seed -5", "--seed"),
    Case("prepare-batch-zero", "prepare", "--batch-size 0",
         P + " --format sequence --interactions {seq} --batch-size 0", "--batch-size"),
    Case("prepare-cuda", "prepare", "--device cuda without CUDA",
         P + " --format sequence --interactions {seq} --device cuda", "--device",
         needs_no_cuda=True),
    Case("prepare-missing-name", "prepare", "no --name",
         "prepare --format sequence --interactions {seq} --out {tmp}/o", "--name"),
    # -------------------------------------------------------------- values
    Case("epochs-zero", "values", "--epochs 0", T + " --epochs 0", "--epochs"),
    Case("epochs-text", "values", "--epochs that is not a number", T + " --epochs ten",
         "--epochs"),
    Case("lr-zero", "values", "learning rate 0", T + " --set learning_rate=0",
         "learning_rate"),
    Case("lr-negative", "values", "a negative learning rate", T + " --set learning_rate=-1e-3",
         "learning_rate"),
    Case("lr-nan", "values", "a learning rate that is not finite", T + " --set learning_rate=nan",
         "learning_rate"),
    Case("batch-zero", "values", "batch size 0", T + " --set batch_size=0", "batch_size"),
    Case("batch-grid", "values", "a grid axis holding an impossible batch size",
         T + " --set batch_size=[64,0]", "batch_size"),
    Case("lr-diverges", "values", "a learning rate so large that the loss stops being finite",
         T + " --epochs 3 --set learning_rate=1e30", "training diverged"),
    Case("set-epochs-zero", "values", "epochs 0 through --set", T + " --set epochs=0",
         "epochs"),
    Case("topk-zero", "values", "a cut-off of 0", T + " --set topk=[0,20]", "topk"),
    Case("topk-empty", "values", "no cut-off at all", T + " --set topk=[]", "topk"),
    Case("metric-unknown", "values", "an unknown metric name (with a suggestion)",
         T + " --set metrics=[recal,ndcg]", "Did you mean 'recall'"),
    Case("valid-metric-k", "values", "a selection metric whose cut-off is not reported",
         T + " --set valid_metric=recall@7", "valid_metric"),
    Case("valid-metric-name", "values", "an unknown selection metric",
         T + " --set valid_metric=hitrate@20", "valid_metric"),
    Case("valid-metric-items", "values",
         "a selection cut-off larger than the number of items (20 > 8)",
         "train --model mf --data {ds} --epochs 1", "valid_metric"),
    Case("seeds-empty-item", "values", "--seeds with an empty entry", T + " --seeds 1,,2",
         "--seeds"),
    Case("seeds-repeated", "values", "--seeds repeating a seed", T + " --seeds 1,1",
         "--seeds"),
    Case("seeds-text", "values", "--seeds that are not integers", T + " --seeds a,b",
         "--seeds"),
    Case("seed-negative", "values", "--seed below 0", T + " --seed -1", "--seed"),
    Case("seed-and-seeds", "values", "--seed together with --seeds", T + " --seed 1 --seeds 2,3",
         "--seeds"),
    Case("model-typo", "values", "an unknown model (with a suggestion)",
         "train --model lightgnc --data {ds}", "Did you mean 'lightgcn'"),
    Case("objective-unknown", "values", "an unknown objective",
         T + " --objective nbpp", "nbpp"),
    Case("key-typo", "values", "an unknown --set key (with a suggestion)",
         "train --model lightgcn --data {ds} --set n_layer=3", "Did you mean 'n_layers'"),
    Case("set-no-equals", "values", "--set without '='", T + " --set epochs", "--set"),
    Case("sampled-refused", "values", "--sampled for a model without a subgraph forward (MF)",
         T + " --sampled", "model 'mf' does not support sampled training"),
    Case("sampled-objective", "values", "--sampled with an objective it does not support",
         "train --model lightgcn --data {ds} --no-progress --set valid_metric=recall@5 "
         "--sampled --objective nbpo", "objective 'nbpo'"),
    Case("num-neighbors-zero", "values", "a fan-out of 0 in num_neighbors",
         T + " --sampled --set num_neighbors=[10,0]", "num_neighbors"),
    Case("item-neighbors-zero", "values", "a kNN fan-out of 0 (item_neighbors)",
         T + " --sampled --set item_neighbors=0", "item_neighbors"),
    Case("sparse-features-id-model", "values",
         "sparse_features on a model without row-read feature tables",
         T + " --set sparse_features=true", "sparse_features"),
    Case("item-history-full-graph", "values",
         "item_history without --sampled",
         T + " --set item_history=true", "needs sampled training"),
    Case("train-cuda", "values", "--device cuda without CUDA", T + " --device cuda",
         "--device", needs_no_cuda=True),
    Case("option-typo", "values", "an unknown option of the verb (with a suggestion)",
         T + " --epoch 2", "Did you mean '--epochs'"),
    Case("epochs-conflict", "values", "--epochs and --set epochs with other values",
         T + " --epochs 1 --set epochs=2", "--epochs"),
    Case("model-range", "values", "a value the model refuses (a negative layer count)",
         "train --model lightgcn --data {ds} --no-progress --set valid_metric=recall@5 "
         "--set n_layers=-1",
         "model 'lightgcn'"),
    Case("embedding-dim-zero", "values", "embedding_dim 0",
         "train --model lightgcn --data {ds} --no-progress --set valid_metric=recall@5 "
         "--set embedding_dim=0",
         "embedding_dim"),
    Case("grid-axis-empty", "values", "a grid axis with no values",
         "train --model lightgcn --data {ds} --no-progress --set n_layers=[]", "n_layers"),
    Case("optimizer-params-refused", "values",
         "optimizer_params the optimiser does not take (Adam has no momentum)",
         T + " --set optimizer_params={{momentum:0.9}}", "optimizer_params"),
    Case("scheduler-params-missing", "values",
         "a schedule without its required parameter (exponential needs gamma)",
         T + " --set lr_scheduler=exponential", "lr_scheduler_params"),
    Case("native-objective-missing", "values", "--objective native for a model without one",
         "train --model lightgcn --data {ds} --no-progress --set valid_metric=recall@5 "
         "--objective native",
         "--objective"),
    Case("multimodal-no-features", "values",
         "a multimodal model on a dataset without feature files",
         "train --model bm3 --data {ds} --no-progress --set valid_metric=recall@5", "{ds}"),
    Case("config-missing", "values", "--config names a missing file",
         T + " --config {tmp}/c.yaml", "{tmp}/c.yaml"),
    Case("config-bad-yaml", "values", "--config that is not YAML",
         T + " --config {tmp}/c.yaml", "{tmp}/c.yaml",
         setup=lambda e: write(e.tmp / "c.yaml", "train: [unclosed\n")),
    Case("config-bad-value", "values", "--config setting an impossible learning rate",
         T + " --config {tmp}/c.yaml", "learning_rate",
         setup=lambda e: write(e.tmp / "c.yaml", "train:\n  learning_rate: -1\n")),
    Case("data-missing", "values", "--data names a missing folder",
         "train --model mf --data {tmp}/none", "{tmp}/none"),
    Case("missing-model", "values", "no --model", "train --data {ds}", "--model"),
    Case("unknown-verb", "values", "an unknown command", "trian --model mf", "trian"),
    Case("unknown-flag", "values", "an unknown option", T + " --epoch 3", "--epoch"),
    Case("unlearn-alpha", "values", "unlearn --alpha outside [0, 1]",
         "unlearn --run {run} --forget-fraction users:0.1 --alpha 2 --out {tmp}/u", "--alpha"),
    Case("unlearn-fraction", "values", "unlearn --forget-fraction of an unknown kind",
         "unlearn --run {run} --forget-fraction people:0.1 --out {tmp}/u",
         "--forget-fraction", protect=("{run}",)),
    Case("unlearn-fraction-range", "values", "unlearn --forget-fraction outside (0, 1)",
         "unlearn --run {run} --forget-fraction users:1.5 --out {tmp}/u",
         "--forget-fraction", protect=("{run}",)),
    Case("unlearn-forget-lr", "values", "unlearn --forget-lr neither a number > 0 nor auto",
         "unlearn --run {run} --forget-fraction users:0.1 --forget-lr -1 --out {tmp}/u",
         "--forget-lr"),
    Case("unlearn-zero-features", "values", "--zero-features without --remove-items",
         "unlearn --run {run} --forget-fraction items:0.1 --zero-features --out {tmp}/u",
         "--remove-items", protect=("{run}",)),
    Case("unlearn-reinit-interactions", "values",
         "--reinit-rows with an interaction request (it re-initialises users' or items' rows)",
         "unlearn --run {run} --forget-fraction interactions:0.1 --reinit-rows --out {tmp}/u",
         "--reinit-rows", protect=("{run}",)),
    Case("recommend-k-zero", "values", "recommend --k 0",
         "recommend --run {run} --users u0 --k 0", "--k"),
    # ------------------------------------------------------------- folders
    Case("train-into-run", "folders",
         "training into a finished run without --resume/--overwrite: refused, run intact",
         T + " --epochs 1 --out {run}", "{run}", protect=("{run}",)),
    Case("train-overwrite", "folders",
         "train --overwrite into a finished run: the old run files go first, other files stay",
         T + " --epochs 1 --out {tmp}/r --overwrite", None, 0,
         setup=lambda e: write(copy_run(e) / "notes.txt", "mine"), check=check_train_overwrite),
    Case("train-out-file", "folders", "train --out is a file",
         T + " --epochs 1 --out {seq}", "{seq}"),
    Case("train-out-unwritable", "folders", "train --out cannot be created",
         T + " --epochs 1 --out /sys/mmgraph-run", "/sys/mmgraph-run"),
    Case("resume-empty", "folders", "--resume into an empty folder",
         T + " --epochs 1 --out {tmp}/new --resume", "nothing to resume",
         setup=lambda e: (e.tmp / "new").mkdir()),
    Case("resume-no-out", "folders", "--resume without --out", T + " --epochs 1 --resume",
         "--resume"),
    Case("resume-and-overwrite", "folders", "--resume together with --overwrite",
         T + " --epochs 1 --out {tmp}/x --resume --overwrite", "--overwrite"),
    Case("train-no-out", "folders", "train without --out says that nothing is saved",
         T + " --epochs 1", None, 0, check=check_no_out_note),
    Case("unlearn-out-is-run", "folders", "unlearn --out equal to --run: refused, run intact",
         "unlearn --run {run} --forget-fraction users:0.1 --out {run}", "--out",
         protect=("{run}",)),
    Case("unlearn-out-is-run-overwrite", "folders",
         "unlearn --out equal to --run even with --overwrite: refused, run intact",
         "unlearn --run {run} --forget-fraction users:0.1 --out {run} --overwrite", "--out",
         protect=("{run}",)),
    Case("unlearn-out-inside-run", "folders", "unlearn --out inside the --run folder",
         "unlearn --run {run} --forget-fraction users:0.1 --out {run}/sub", "--out",
         protect=("{run}",)),
    Case("unlearn-out-not-empty", "folders", "unlearn --out holding another run: refused",
         "unlearn --run {run} --forget-fraction users:0.1 --out {tmp}/r", "{tmp}/r",
         setup=lambda e: copy_run(e), protect=("{run}",)),
    Case("unlearn-run-missing", "folders", "unlearn --run names a missing folder",
         "unlearn --run {tmp}/none --forget-fraction users:0.1 --out {tmp}/u", "{tmp}/none"),
    Case("unlearn-unfinished", "folders", "unlearn from a run that has not finished",
         "unlearn --run {tmp}/r --forget-fraction users:0.1 --out {tmp}/u", "not finished",
         setup=lambda e: _unfinished(copy_run(e))),
    # ------------------------------------------------------------ run-data
    Case("recommend-raw", "run-data", "recommend takes and prints raw ids",
         "recommend --run {run} --users u3,u0 --k 3", None, 0, check=check_raw_ids,
         protect=("{run}", "{ds}")),
    Case("recommend-internal", "run-data", "recommend --internal-ids uses integer ids",
         "recommend --run {run} --users 0,3 --k 3 --internal-ids", None, 0,
         check=check_internal_ids),
    Case("recommend-k-large", "run-data",
         "k larger than what is left: fewer items, never a training item",
         "recommend --run {run} --users u0 --k 500", None, 0, check=check_fewer_than_k),
    Case("recommend-unknown-user", "run-data", "an unknown raw user id (with a suggestion)",
         "recommend --run {run} --users u0,uu1", "--users"),
    Case("recommend-int-for-raw", "run-data", "an integer where raw ids are expected",
         "recommend --run {run} --users 999", "--users"),
    Case("recommend-internal-range", "run-data", "--internal-ids outside 0..n-1",
         "recommend --run {run} --users 0,999 --internal-ids", "--users"),
    Case("recommend-internal-text", "run-data", "--internal-ids with a raw id",
         "recommend --run {run} --users u0 --internal-ids", "--users"),
    Case("recommend-empty-users", "run-data", "an empty --users list",
         "recommend --run {run} --users ,", "--users"),
    Case("evaluate-missing", "run-data", "evaluate --run names a missing folder",
         "evaluate --run {tmp}/none", "{tmp}/none"),
    Case("evaluate-not-run", "run-data", "evaluate --run names a dataset folder",
         "evaluate --run {ds}", "{ds}", protect=("{ds}",)),
    Case("evaluate-file", "run-data", "evaluate --run names a file",
         "evaluate --run {seq}", "{seq}"),
    Case("evaluate-cuda", "run-data", "evaluate --device cuda without CUDA",
         "evaluate --run {run} --device cuda", "--device", needs_no_cuda=True),
    Case("data-gone", "run-data", "the run's dataset folder was removed",
         "evaluate --run {tmp}/r", "dataset folder not found",
         setup=lambda e: _point_run_at(copy_run(e), e.tmp / "gone")),
    # ------------------------------------------------------------- corrupt
    Case("results-bad-json", "corrupt", "results.json is not JSON",
         "evaluate --run {tmp}/r", "{tmp}/r/results.json",
         setup=lambda e: write(copy_run(e) / "results.json", "{\"model\": ")),
    Case("results-list", "corrupt", "results.json holds a list",
         "evaluate --run {tmp}/r", "{tmp}/r/results.json",
         setup=lambda e: write(copy_run(e) / "results.json", "[1, 2]")),
    Case("results-no-config", "corrupt", "results.json without its config",
         "recommend --run {tmp}/r --users u0", "{tmp}/r/results.json",
         setup=lambda e: _drop_key(copy_run(e), "config")),
    Case("results-binary", "corrupt", "results.json that is not text",
         "evaluate --run {tmp}/r", "{tmp}/r/results.json",
         setup=lambda e: (copy_run(e) / "results.json").write_bytes(b"\xff\xfe\x00")),
    Case("results-missing", "corrupt", "the run has no results.json (interrupted early)",
         "evaluate --run {tmp}/r", "{tmp}/r",
         setup=lambda e: (copy_run(e) / "results.json").unlink()),
    Case("checkpoint-truncated", "corrupt", "checkpoint.pt cut short",
         "evaluate --run {tmp}/r", "{tmp}/r/checkpoint.pt",
         setup=lambda e: _truncate(copy_run(e) / "checkpoint.pt")),
    Case("checkpoint-garbage", "corrupt", "checkpoint.pt holding garbage",
         "recommend --run {tmp}/r --users u0", "{tmp}/r/checkpoint.pt",
         setup=lambda e: write(copy_run(e) / "checkpoint.pt", "garbage")),
    Case("checkpoint-missing", "corrupt", "checkpoint.pt removed",
         "evaluate --run {tmp}/r", "checkpoint.pt",
         setup=lambda e: (copy_run(e) / "checkpoint.pt").unlink()),
    Case("checkpoint-other-shape", "corrupt",
         "results.json's model settings do not fit the checkpoint (another embedding size)",
         "evaluate --run {tmp}/r", "{tmp}/r/checkpoint.pt",
         setup=lambda e: _set_embedding_dim(copy_run(e), 8)),
    Case("grid-bad-json", "corrupt", "a grid folder whose grid.json is corrupt",
         "evaluate --run {tmp}/g", "{tmp}/g/grid.json",
         setup=lambda e: write(e.tmp / "g" / "grid.json", "{")),
    Case("grid-best-missing", "corrupt", "a grid folder whose best run is gone",
         "evaluate --run {tmp}/g", "{tmp}/g/grid.json",
         setup=lambda e: write(e.tmp / "g" / "grid.json",
                               json.dumps({"best_run": "runs/0-seed1"}))),
    Case("id-map-corrupt", "corrupt", "a damaged user id map",
         "recommend --run {tmp}/r --users u0", "u_id_mapping.csv, line 2",
         setup=lambda e: _with_data(e, lambda d: write(d / "u_id_mapping.csv",
                                                       "user_id\tuserID\nu0\n"))),
    Case("id-map-foreign", "corrupt", "an id map of another dataset (other length)",
         "recommend --run {tmp}/r --users u0", "i_id_mapping.csv",
         setup=lambda e: _with_data(e, lambda d: write(d / "i_id_mapping.csv",
                                                       "item_id\titemID\ni0\t0\n"))),
    Case("inter-corrupt", "corrupt", "the run's dataset .inter damaged after training",
         "evaluate --run {tmp}/r", ".inter, line 2",
         setup=lambda e: _with_data(e, lambda d: write(d / "x.inter",
                                                       inter([("a", 0, 1, 0, 0)])))),
    Case("unlearn-results-corrupt", "corrupt", "unlearn from a run with corrupt results",
         "unlearn --run {tmp}/r --forget-fraction users:0.1 --out {tmp}/u",
         "{tmp}/r/results.json",
         setup=lambda e: write(copy_run(e) / "results.json", "{")),
    Case("unlearn-request-file", "corrupt", "unlearn --forget-users with a bad line",
         "unlearn --run {run} --forget-users {tmp}/f.txt --out {tmp}/u --no-progress",
         "{tmp}/f.txt, line 2", setup=lambda e: write(e.tmp / "f.txt", "1\nnot an id\n"),
         protect=("{run}",)),
    # ------------------------------------------------------------- signals
    Case("sigint-train-out", "signals",
         "Ctrl-C while training into --out: exit 130, the checkpoint is kept, "
         "the message says how to resume",
         "train --model mf --data synthetic --epochs 100000 --out {tmp}/run --no-progress",
         "--resume", 130, subprocess=True),
    Case("sigint-train-no-out", "signals", "Ctrl-C while training without --out",
         "train --model mf --data synthetic --epochs 100000 --no-progress",
         "nothing was saved", 130, subprocess=True),
    Case("broken-pipe", "signals", "the reader of stdout goes away (mmgraph ... | head)",
         "list-models", "", 2, subprocess=True),
    # ----------------------------------------------------- resume identity
    Case("resume-other-model", "resume-identity",
         "--resume an MF run as LightGCN: refused, naming both models",
         "train --model lightgcn --data {ds} --no-progress --set valid_metric=recall@5 "
         "--set batch_size=16 --epochs 3 --out {tmp}/r --resume",
         "'mf' model run, not 'lightgcn'",
         setup=lambda e: copy_run(e), protect=("{tmp}/r",)),
    Case("resume-other-model-setting", "resume-identity",
         "--resume with another model setting (embedding_dim): refused, naming it",
         TR + " --epochs 3 --set embedding_dim=32 --out {tmp}/r --resume",
         "config.model.embedding_dim: 64 there, 32 now",
         setup=lambda e: copy_run(e), protect=("{tmp}/r",)),
    Case("resume-other-train-setting", "resume-identity",
         "--resume with another training setting (learning rate): refused",
         TR + " --epochs 3 --set learning_rate=0.05 --out {tmp}/r --resume",
         "config.train.learning_rate", setup=lambda e: copy_run(e), protect=("{tmp}/r",)),
    Case("resume-other-objective", "resume-identity",
         "--resume with another objective: refused, naming it",
         TR + " --epochs 3 --objective bpo --out {tmp}/r --resume", "objective",
         setup=lambda e: copy_run(e), protect=("{tmp}/r",)),
    Case("resume-other-data", "resume-identity",
         "--resume on re-split data (another --seed): refused, the data differ",
         "train --model mf --data {tmp}/d --no-progress --set valid_metric=recall@5 "
         "--epochs 3 --out {tmp}/r --resume", "other data",
         setup=lambda e: _point_run_at(copy_run(e), _resplit(e)), protect=("{tmp}/r",)),
    Case("resume-legacy-other-model", "resume-identity",
         "--resume another model into a run from before run.json: checked on results.json",
         "train --model lightgcn --data {ds} --no-progress --set valid_metric=recall@5 "
         "--epochs 3 --out {tmp}/r --resume", "{tmp}/r: results.json",
         setup=lambda e: (copy_run(e) / "run.json").unlink(), protect=("{tmp}/r",)),
    Case("resume-checkpoint-mismatch", "resume-identity",
         "--resume from a checkpoint that does not fit the model: one line, no traceback",
         TR + " --epochs 3 --set embedding_dim=8 --out {tmp}/r --resume",
         "{tmp}/r/checkpoint.pt", setup=lambda e: _legacy_dim(copy_run(e), 8),
         protect=("{tmp}/r",)),
    Case("resume-run-json-corrupt", "resume-identity", "--resume with a corrupt run.json",
         TR + " --epochs 3 --out {tmp}/r --resume", "{tmp}/r/run.json",
         setup=lambda e: write(copy_run(e) / "run.json", "{oops"), protect=("{tmp}/r",)),
    Case("resume-more-epochs", "resume-identity",
         "--resume with more epochs (the one change allowed) continues the run",
         TR + " --epochs 3 --out {tmp}/r --resume", None, 0,
         setup=lambda e: copy_run(e), check=check_resumed_longer),
    # -------------------------------------------------- concurrent writers
    Case("locked-overwrite", "concurrent-writers",
         "train --overwrite into a folder another process is writing: refused, nothing removed",
         T + " --epochs 1 --out {tmp}/r --overwrite", "locked by process",
         setup=lambda e: _lock(copy_run(e)), protect=("{tmp}/r",)),
    Case("locked-resume", "concurrent-writers",
         "train --resume into a folder another process is writing: refused",
         T + " --epochs 3 --out {tmp}/r --resume", "locked by process",
         setup=lambda e: _lock(copy_run(e)), protect=("{tmp}/r",)),
    Case("locked-new", "concurrent-writers",
         "train into a new folder another process has just claimed: refused",
         T + " --epochs 1 --out {tmp}/new", "{tmp}/new: locked by process",
         setup=lambda e: _lock(e.tmp / "new"), protect=("{tmp}/new",)),
    Case("locked-unlearn-out", "concurrent-writers",
         "unlearn --out into a folder another process is writing: refused",
         "unlearn --run {run} --forget-fraction users:0.2 --out {tmp}/u --overwrite",
         "{tmp}/u: locked by process", setup=lambda e: _lock(copy_run(e, "u")),
         protect=("{run}", "{tmp}/u")),
    Case("lock-unreadable", "concurrent-writers",
         "a lock file without a process id (being written): refused as locked",
         T + " --epochs 1 --out {tmp}/new", "locked by another process",
         setup=lambda e: write(e.tmp / "new" / ".lock", ""), protect=("{tmp}/new",)),
    Case("stale-lock", "concurrent-writers",
         "a lock left by a process that no longer runs is taken over (with a warning)",
         T + " --epochs 1 --out {tmp}/new", None, 0,
         setup=lambda e: write(e.tmp / "new" / ".lock", f"{_dead_pid()}\n"),
         check=check_stale_lock_taken),
    Case("two-trainings", "concurrent-writers",
         "two real trainings into the same --out at once: the second gets the lock error, "
         "the first completes",
         "train --model mf --data synthetic --epochs 3 --set batch_size=64 --out {tmp}/run "
         "--no-progress", "locked by process", subprocess=True),
    # ------------------------------------------------------- changed data
    Case("evaluate-resplit", "changed-data",
         "evaluate after the dataset was re-prepared with another --seed: refused",
         "evaluate --run {tmp}/r", "changed since the run was trained",
         setup=lambda e: _point_run_at(copy_run(e), _resplit(e)),
         protect=("{tmp}/r", "{tmp}/d")),
    Case("evaluate-resplit-force", "changed-data",
         "evaluate --force on re-split data: evaluates, with a warning",
         "evaluate --run {tmp}/r --force", None, 0,
         setup=lambda e: _point_run_at(copy_run(e), _resplit(e)),
         check=check_forced_warning, protect=("{tmp}/r", "{tmp}/d")),
    Case("recommend-resplit", "changed-data", "recommend on re-split data: refused",
         "recommend --run {tmp}/r --users u0", "changed since the run was trained",
         setup=lambda e: _point_run_at(copy_run(e), _resplit(e)), protect=("{tmp}/r",)),
    Case("recommend-resplit-force", "changed-data",
         "recommend --force on re-split data: recommends, with a warning",
         "recommend --run {tmp}/r --users u0 --force", None, 0,
         setup=lambda e: _point_run_at(copy_run(e), _resplit(e)), check=check_recommended),
    Case("unlearn-resplit", "changed-data",
         "unlearn from a run whose data were re-split: refused, no --out left behind",
         "unlearn --run {tmp}/r --forget-fraction users:0.2 --out {tmp}/u --no-progress",
         "changed since the run was trained",
         setup=lambda e: _point_run_at(copy_run(e), _resplit(e)),
         protect=("{tmp}/r", "{tmp}/u")),
    Case("evaluate-features-added", "changed-data",
         "evaluate after a feature file was added to the dataset folder: refused",
         "evaluate --run {tmp}/r", "changed since the run was trained",
         setup=lambda e: _with_data(e, lambda d: np.save(
             d / "image_feat.npy", np.ones((8, 3), np.float32))), protect=("{tmp}/r",)),
    Case("evaluate-inter-edited", "changed-data",
         "evaluate after one interaction of the .inter file was edited: refused",
         "evaluate --run {tmp}/r", "changed since the run was trained",
         setup=lambda e: _with_data(e, _edit_inter), protect=("{tmp}/r",)),
    Case("grid-moved", "changed-data",
         "a grid folder trained from another working directory, then moved: evaluates",
         "evaluate --run {tmp}/moved", None, 0, setup=lambda e: _moved_grid(e),
         check=check_moved_grid),
    Case("grid-moved-recommend", "changed-data",
         "recommend from a moved grid folder (its best run relative to it)",
         "recommend --run {tmp}/moved --users u0 --k 2", None, 0,
         setup=lambda e: _moved_grid(e), check=check_raw_ids_u0),
    # ------------------------------------------------ unlearning requests
    Case("forget-user-range", "unlearning-requests", "a user id outside the dataset",
         "unlearn --run {run} --forget-users {tmp}/f.txt --out {tmp}/u",
         "{tmp}/f.txt, line 2", setup=lambda e: write(e.tmp / "f.txt", "0\n999\n"),
         protect=("{run}", "{tmp}/u")),
    Case("forget-user-negative", "unlearning-requests", "a negative user id",
         "unlearn --run {run} --forget-users {tmp}/f.txt --out {tmp}/u",
         "{tmp}/f.txt, line 1", setup=lambda e: write(e.tmp / "f.txt", "-1\n"),
         protect=("{run}", "{tmp}/u")),
    Case("forget-item-raw", "unlearning-requests",
         "a raw item id where the request file takes integer ids",
         "unlearn --run {run} --forget-items {tmp}/f.txt --out {tmp}/u",
         "{tmp}/f.txt, line 1", setup=lambda e: write(e.tmp / "f.txt", "i3\n"),
         protect=("{run}", "{tmp}/u")),
    Case("forget-item-range", "unlearning-requests", "an item id outside the dataset",
         "unlearn --run {run} --forget-items {tmp}/f.txt --out {tmp}/u",
         "{tmp}/f.txt, line 1", setup=lambda e: write(e.tmp / "f.txt", "4000\n"),
         protect=("{run}", "{tmp}/u")),
    Case("forget-pair-one-column", "unlearning-requests",
         "an interaction request line with one id",
         "unlearn --run {run} --forget-interactions {tmp}/f.txt --out {tmp}/u",
         "{tmp}/f.txt, line 1", setup=lambda e: write(e.tmp / "f.txt", "3\n"),
         protect=("{run}", "{tmp}/u")),
    Case("forget-pair-not-training", "unlearning-requests",
         "an interaction that is not a training interaction (a test pair)",
         "unlearn --run {run} --forget-interactions {tmp}/f.txt --out {tmp}/u",
         "{tmp}/f.txt, line 1", setup=lambda e: write(e.tmp / "f.txt", _test_pair(e)),
         protect=("{run}", "{tmp}/u")),
    Case("forget-empty", "unlearning-requests", "an empty request file",
         "unlearn --run {run} --forget-users {tmp}/f.txt --out {tmp}/u", "{tmp}/f.txt",
         setup=lambda e: write(e.tmp / "f.txt", ""), protect=("{run}", "{tmp}/u")),
    Case("forget-comments-only", "unlearning-requests",
         "a request file of comments and a header only",
         "unlearn --run {run} --forget-users {tmp}/f.txt --out {tmp}/u", "{tmp}/f.txt",
         setup=lambda e: write(e.tmp / "f.txt", "userID\n# nobody\n"),
         protect=("{run}", "{tmp}/u")),
    Case("forget-binary", "unlearning-requests", "a request file that is not text",
         "unlearn --run {run} --forget-users {tmp}/f.txt --out {tmp}/u", "{tmp}/f.txt",
         setup=lambda e: (e.tmp / "f.txt").write_bytes(b"\xff\xfe\x00\x01"),
         protect=("{run}", "{tmp}/u")),
    Case("forget-missing", "unlearning-requests", "a request file that does not exist",
         "unlearn --run {run} --forget-users {tmp}/nope.txt --out {tmp}/u", "{tmp}/nope.txt",
         protect=("{run}", "{tmp}/u")),
    Case("forget-dir", "unlearning-requests", "a request 'file' that is a folder",
         "unlearn --run {run} --forget-users {tmp}/fd --out {tmp}/u", "{tmp}/fd",
         setup=lambda e: (e.tmp / "fd").mkdir(), protect=("{run}", "{tmp}/u")),
    Case("forget-all-users", "unlearning-requests",
         "a request that forgets every user (nothing would be left to train on)",
         "unlearn --run {run} --forget-users {tmp}/f.txt --out {tmp}/u --no-progress",
         "{tmp}/f.txt", setup=lambda e: write(e.tmp / "f.txt", "".join(
             f"{u}\n" for u in range(12))), protect=("{run}", "{tmp}/u")),
    Case("unlearn-out-run-spelled", "unlearning-requests",
         "unlearn --out naming the --run folder by another spelling (x/../run): refused",
         "unlearn --run {run} --forget-fraction users:0.2 --out {run}/../run --overwrite",
         "--out", protect=("{run}",)),
    Case("unlearn-out-grid-best", "unlearning-requests",
         "unlearn from a grid folder with --out its selected run: refused",
         "unlearn --run {tmp}/moved --forget-fraction users:0.2 --out {tmp}/moved/runs/0-seed1 "
         "--overwrite", "--out", setup=lambda e: _moved_grid(e), protect=("{tmp}/moved",)),
    Case("unlearn-ok", "unlearning-requests",
         "a valid request: the unlearned run is written and evaluates (its data check passes)",
         "unlearn --run {run} --forget-users {tmp}/f.txt --out {tmp}/u --epochs 1 "
         "--no-progress", None, 0, setup=lambda e: write(e.tmp / "f.txt", "0\n5\n"),
         check=check_unlearned_run_loads, protect=("{run}",)),
]


# ---------------------------------------------------------- setup helpers
def _dead_pid() -> int:
    import subprocess
    import sys
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)


def _lock(folder: Path) -> None:
    r"""A lock held by a live process other than this one (the parent)."""
    import os
    write(folder / ".lock", f"{os.getppid()}\n")


def _resplit(env) -> Path:
    r"""A copy of the dataset re-prepared from the same input with another
    split seed (same users and items, other splits)."""
    from mmgraph.cli import main
    data = copy_ds(env, "d")
    assert main(["prepare", "--format", "sequence", "--interactions", str(env.seq),
                 "--name", "x", "--split", "mmrec", "--seed", "7", "--out", str(data),
                 "--overwrite"]) == 0
    return data


def _legacy_dim(run: Path, dim: int) -> None:
    r"""A run from before run.json whose results.json states another
    embedding size than its checkpoint holds."""
    (run / "run.json").unlink()
    _set_embedding_dim(run, dim)


def _edit_inter(data: Path) -> None:
    path = data / "x.inter"
    lines = path.read_text().splitlines()
    fields = lines[1].split("\t")
    fields[1] = str((int(fields[1]) + 1) % 8)
    lines[1] = "\t".join(fields)
    path.write_text("\n".join(lines) + "\n")


def _test_pair(env) -> str:
    from mmgraph.data import load_dataset
    u, i = load_dataset(str(env.ds)).test_edge_index[:, 0].tolist()
    return f"{u} {i}\n"


def _moved_grid(env) -> None:
    r"""A grid trained with a relative --out from another working directory,
    then moved."""
    import os
    from mmgraph.cli import main
    cwd = os.getcwd()
    os.chdir(env.tmp)
    try:
        assert main(["train", "--model", "mf", "--data", str(env.ds), "--epochs", "1",
                     "--set", "valid_metric=recall@5", "--set", "embedding_dim=[4,8]",
                     "--no-progress", "--out", "g"]) == 0
    finally:
        os.chdir(cwd)
    (env.tmp / "g").rename(env.tmp / "moved")


def _legacy(folder: Path) -> None:
    (folder / "prepare.json").unlink()
    np.save(folder / "text_feat.npy", np.ones((3, 2), np.float32))


def _add_to_manifest(folder: Path, name: str) -> None:
    path = folder / "prepare.json"
    m = json.loads(path.read_text())
    m["files"].append(name)
    path.write_text(json.dumps(m))


def _stale_features(folder: Path) -> None:
    # The earlier preparation wrote features too (listed in its manifest).
    np.save(folder / "text_feat.npy", np.ones((3, 2), np.float32))
    _add_to_manifest(folder, "text_feat.npy")


def _unfinished(run: Path) -> None:
    r = json.loads((run / "results.json").read_text())
    r["finished"] = False
    (run / "results.json").write_text(json.dumps(r))


def _drop_key(run: Path, key: str) -> None:
    r = json.loads((run / "results.json").read_text())
    del r[key]
    (run / "results.json").write_text(json.dumps(r))


def _set_embedding_dim(run: Path, dim: int) -> None:
    r = json.loads((run / "results.json").read_text())
    r["config"]["model"]["embedding_dim"] = dim
    (run / "results.json").write_text(json.dumps(r))


def _point_run_at(run: Path, data: Path) -> None:
    r = json.loads((run / "results.json").read_text())
    r["data"] = str(data)
    (run / "results.json").write_text(json.dumps(r))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _with_data(env, damage) -> None:
    r"""A copy of the run pointing at a copy of the dataset, then damage it."""
    data = copy_ds(env, "data")
    run = copy_run(env)
    _point_run_at(run, data)
    damage(data)


# ------------------------------------------------------------------ the page
def render_page(cases: Sequence[Case] = CASES) -> str:
    r"""``docs/cli-errors.md``: the catalogue as tables, one per group."""
    n_fail = sum(c.names is not None for c in cases)
    lines = [
        "# Command-line errors: the catalogue",
        "",
        "<!-- Generated from tests/cli/catalogue.py by `python -m tests.cli.catalogue`;"
        " a test fails when this page is out of date. -->",
        "",
        f"Every row is a case of `tests/cli/test_catalogue.py` ({len(cases)} cases, "
        f"{n_fail} of them failures). A failure must end with the exit status shown, "
        "print **one line** on stderr that starts with `error:` and names the file, line "
        "or option shown (preceded at most by the `HH:MM:SS INFO` log records of work "
        "already done), show no traceback, and leave an earlier dataset or run "
        "byte-for-byte unchanged (cases marked *protects*). `--debug` shows the "
        "traceback instead. Exit status 2 is a bad input, value or folder; 1 a missing "
        "optional extra; 130 an interruption (Ctrl-C); 0 a success whose result is "
        "checked.",
        "",
        "Placeholders: `{ds}` a prepared dataset, `{run}` a finished run on it, "
        "`{seq}` a raw `user_sequence.txt`, `{tmp}` a scratch folder.",
        "",
    ]
    for group, title in GROUPS.items():
        rows = [c for c in cases if c.group == group]
        if not rows:
            continue
        lines += [f"## {title}", "", "| case | command (`mmgraph ...`) | exit | message names |",
                  "|---|---|---|---|"]
        for c in rows:
            names = "—" if c.names is None else (f"`{c.names}`" if c.names else "(quiet)")
            guard = " *protects " + ", ".join(f"`{p}`" for p in c.protect) + "*" \
                if c.protect else ""
            cmd = c.argv.replace("|", "\\|")
            lines.append(f"| {c.what}{guard} | `{cmd}` | {c.code} | {names} |")
        lines.append("")
    return "\n".join(lines)


PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli-errors.md"

if __name__ == "__main__":  # pragma: no cover
    PAGE.write_text(render_page())
    print(f"wrote {PAGE} ({len(CASES)} cases)")
