r"""Run a benchmark suite: models x datasets x objectives x seeds.

Usage::

    python benchmarks/run.py benchmarks/suites/quick.yaml --quick --out /tmp/q
    python benchmarks/run.py benchmarks/suites/beauty.yaml --out runs/beauty \
        --models lightgcn,bm3          # one share of the suite per worker
    python benchmarks/run.py benchmarks/suites/beauty.yaml --out runs/beauty \
        --report-only                  # rebuild the tables from finished runs

Every run trains one model with early stopping on validation (the
:class:`~mmgraph.train.Trainer` through :func:`mmgraph.train.run.train_model`)
into ``OUT/runs/<dataset>/<model>[+<objective>]/seed<seed>/``. A run whose
``results.json`` is finished (with the same specification) is skipped; a run
that was interrupted resumes from its checkpoint. Each run executes in its own
worker process forked from a server that has already imported mmgraph, so
``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of that process is the run's
peak resident memory (it includes the ~0.3 GB of the interpreter, torch and
torch-geometric, identical for every run; that baseline is recorded too).
A worker exits when the runner is killed; Ctrl-C stops the current run,
which the next invocation resumes.

Written to ``OUT``: ``results.csv``, ``results.json``, ``results.md`` (mean
± std over seeds of the test metrics at the best-validation epoch, epochs,
seconds per epoch, total time, peak memory), ``curves_<dataset>.png``
(one panel per model: training loss and validation metric per epoch) and
``accuracy_vs_time_<dataset>.png`` (validation metric against cumulative
training + evaluation seconds, one line per model). The tables cover every
finished run of the suite, whatever ``--models``/``--datasets``/``--seeds``
selected the runs of this invocation.

Suite files (YAML)::

    name: quick
    data_root: .              # relative dataset paths start here (repo root
                              # relative; --data-root / $MMGRAPH_DATA_ROOT)
    raw_root: ../shared/data  # relative 'prepare' inputs start here
    datasets:                 # name -> 'synthetic' | path | mapping
      synthetic: {path: synthetic, options: {num_users: 500}}
      amazon-beauty:
        path: amazon-beauty
        prepare: {format: sequence, interactions: amazon-beauty/user_sequence.txt,
                  item_text: amazon-beauty/item_names.txt}
    models: [mf, lightgcn]
    objectives: [auto]        # auto = the model's native loss, else BPR
    seeds: [999, 2024, 2025]
    train: {epochs: 1000}     # any config key, for every run
    overrides:                # per model, any config key
      lirdrec: {learning_rate: 1.0e-4}
    quick:                    # merged over the suite with --quick
      train: {epochs: 3}
"""
from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import io
import json
import math
import multiprocessing as mp
import os
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

#: Test metrics of the results table (at the best-validation epoch).
TABLE_METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")
SPEC_FILE = "bench_spec.json"
#: Seconds between progress lines when the output is not a terminal.
HEARTBEAT = 300.0
BENCH_FILE = "bench.json"
LOG_FILE = "log.txt"
#: Applied by --quick before the suite's own ``quick:`` section.
QUICK_DEFAULTS: Dict[str, Any] = {
    "datasets": {"synthetic": "synthetic"},
    "seeds": [999, 2024],
    "train": {"epochs": 3, "patience": 3},
}
MEMORY_NOTE = ("peak MB = resource.getrusage(RUSAGE_SELF).ru_maxrss of "
               "the run's own worker process (forked after importing "
               "mmgraph, so it includes the interpreter + torch baseline "
               "shown as 'base MB')")


class SuiteError(ValueError):
    r"""An invalid suite file or command-line selection."""


# ---------------------------------------------------------------- the suite
def _merge(base: Dict[str, Any], over: Dict[str, Any]) -> Dict[str, Any]:
    r"""Recursive dict merge; ``over`` wins, lists are replaced."""
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass
class RunSpec:
    r"""One training run of the suite."""
    dataset: str
    model: str
    objective: str
    seed: int
    data: Dict[str, Any]
    overrides: Dict[str, Any]
    run_dir: Path
    index: int = 0
    total: int = 0

    @property
    def label(self) -> str:
        return self.model if self.objective == "auto" \
            else f"{self.model}+{self.objective}"

    def key(self) -> Dict[str, Any]:
        r"""What the run's result depends on (a change means a rerun),
        including the model's resolved configuration, so that a changed
        default in ``mmgraph/configs`` also marks an earlier run stale."""
        from mmgraph.config import resolve_config
        return {"dataset": self.dataset, "model": self.model,
                "objective": self.objective, "seed": self.seed,
                "data": self.data, "overrides": self.overrides,
                "config": resolve_config(self.model, None,
                                         dict(self.overrides))}

    def digest(self) -> str:
        text = json.dumps(self.key(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Suite:
    name: str
    datasets: Dict[str, Dict[str, Any]]
    models: List[str]
    objectives: List[str]
    seeds: List[int]
    train: Dict[str, Any] = field(default_factory=dict)
    overrides: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    description: str = ""

    def plan(self, out: Path) -> List[RunSpec]:
        runs = []
        for ds, data in self.datasets.items():
            for model in self.models:
                for obj in self.objectives:
                    for seed in self.seeds:
                        over = dict(self.train)
                        over.update(self.overrides.get(model, {}))
                        over["seed"] = int(seed)
                        if obj != "auto":
                            over["objective"] = obj
                        spec = RunSpec(ds, model, obj, int(seed), data, over,
                                       out)
                        spec.run_dir = out / "runs" / ds / spec.label / \
                            f"seed{seed}"
                        runs.append(spec)
        for i, r in enumerate(runs):
            r.index, r.total = i + 1, len(runs)
        return runs


def _as_list(value, where: str) -> list:
    if value is None:
        return []
    if isinstance(value, (str, int)):
        return [value]
    if not isinstance(value, list):
        raise SuiteError(f"{where}: expected a list, got {value!r}")
    return value


def _resolve(path: str, root: Path) -> str:
    path = os.path.expanduser(os.path.expandvars(str(path)))
    if path == "synthetic":
        return path
    p = Path(path)
    return str(p if p.is_absolute() else (root / p).resolve())


def load_suite(path: Path, quick: bool = False,
               data_root: Optional[str] = None,
               raw_root: Optional[str] = None,
               data_overrides: Sequence[str] = ()) -> Suite:
    r"""Reads a suite file; ``quick`` merges :data:`QUICK_DEFAULTS` and the
    suite's ``quick:`` section over it."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise SuiteError(f"{path}: suite file not found") from None
    except yaml.YAMLError as e:
        raise SuiteError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise SuiteError(f"{path}: expected a mapping at the top level")
    known = {"name", "description", "data_root", "raw_root", "datasets",
             "models", "objectives", "seeds", "train", "overrides", "quick"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SuiteError(f"{path}: unknown key(s) {unknown}; valid: "
                         f"{sorted(known)}")
    if quick:
        raw = _merge(_merge(raw, QUICK_DEFAULTS), raw.get("quick") or {})
        # --quick replaces the datasets rather than adding synthetic data.
        raw["datasets"] = (raw.get("quick") or {}).get(
            "datasets", QUICK_DEFAULTS["datasets"])
    data_root = data_root or os.environ.get("MMGRAPH_DATA_ROOT") or \
        raw.get("data_root", ".")
    raw_root = raw_root or os.environ.get("MMGRAPH_RAW_ROOT") or \
        raw.get("raw_root", ".")
    droot = Path(_resolve(data_root, REPO))
    rroot = Path(_resolve(raw_root, REPO))
    datasets: Dict[str, Dict[str, Any]] = {}
    given = dict(raw.get("datasets") or {})
    for item in data_overrides:
        if "=" not in item:
            raise SuiteError(f"--data {item!r}: expected NAME=PATH")
        name, value = item.split("=", 1)
        if name not in given:
            raise SuiteError(f"--data {name}: the suite has no dataset "
                             f"{name!r} (has {sorted(given)})")
        entry = dict(given[name]) if isinstance(given[name], dict) else {}
        entry.update(path=value, prepare=None)  # an existing folder
        given[name] = entry
    if not given:
        raise SuiteError(f"{path}: no datasets")
    for name, entry in given.items():
        if isinstance(entry, str):
            entry = {"path": entry}
        if not isinstance(entry, dict) or "path" not in entry:
            raise SuiteError(f"{path}: dataset {name!r} needs a path "
                             f"('synthetic' or a prepared folder)")
        d = {"path": _resolve(entry["path"], droot),
             "options": dict(entry.get("options") or {})}
        if d["options"] and d["path"] != "synthetic":
            raise SuiteError(f"{path}: dataset {name!r}: 'options' are "
                             f"generator settings of 'synthetic' only")
        prep = entry.get("prepare")
        if prep:
            prep = dict(prep)
            for k in ("interactions", "item_text", "images"):
                if prep.get(k):
                    prep[k] = _resolve(prep[k], rroot)
            prep.setdefault("name", name)
            d["prepare"] = prep
        datasets[name] = d
    models = [str(m) for m in _as_list(raw.get("models"), "models")]
    if not models:
        raise SuiteError(f"{path}: no models")
    seeds = [int(s) for s in _as_list(raw.get("seeds") or [999], "seeds")]
    objectives = [str(o) for o in
                  _as_list(raw.get("objectives") or ["auto"], "objectives")]
    overrides = raw.get("overrides") or {}
    for m in overrides:
        if m not in models:
            raise SuiteError(f"{path}: overrides for {m!r}, which is not in "
                             f"models {models}")
    return Suite(str(raw.get("name") or Path(path).stem), datasets, models,
                 objectives, seeds, dict(raw.get("train") or {}),
                 {k: dict(v or {}) for k, v in overrides.items()},
                 str(raw.get("description") or ""))


def select(suite: Suite, models: Optional[str], datasets: Optional[str],
           seeds: Optional[str], objectives: Optional[str]) -> Suite:
    r"""Applies the ``--models/--datasets/--seeds/--objectives`` filters."""
    s = copy.deepcopy(suite)

    def pick(given: Optional[str], have: list, what: str, cast=str) -> list:
        if not given:
            return have
        want = [cast(x.strip()) for x in given.split(",") if x.strip()]
        missing = [w for w in want if w not in have]
        if missing:
            raise SuiteError(f"--{what} {','.join(map(str, missing))}: not "
                             f"in the suite ({', '.join(map(str, have))})")
        return [h for h in have if h in want]
    s.models = pick(models, s.models, "models")
    s.seeds = pick(seeds, s.seeds, "seeds", int)
    s.objectives = pick(objectives, s.objectives, "objectives")
    keep = pick(datasets, list(s.datasets), "datasets")
    s.datasets = {k: v for k, v in s.datasets.items() if k in keep}
    return s


def check_models(suite: Suite) -> None:
    from mmgraph.models import list_models
    from mmgraph.train.objectives import list_objectives
    have = list_models()
    missing = [m for m in suite.models if m not in have]
    if missing:
        raise SuiteError(f"unknown model(s) {missing}; registered: "
                         f"{', '.join(have)} (filter with --models)")
    objs = ["auto"] + list(list_objectives())
    bad = [o for o in suite.objectives if o not in objs]
    if bad:
        raise SuiteError(f"unknown objective(s) {bad}; valid: {objs}")


# ------------------------------------------------------------ data set-up
def prepare_data(suite: Suite, log=print) -> None:
    r"""Runs ``mmgraph prepare`` for datasets whose folder does not exist
    yet but that say how to make it."""
    for name, d in suite.datasets.items():
        if d["path"] == "synthetic" or Path(d["path"]).exists():
            continue
        prep = d.get("prepare")
        if not prep:
            raise SuiteError(f"dataset {name!r}: folder {d['path']} not "
                             f"found (prepare it with 'mmgraph prepare', or "
                             f"pass --data {name}=PATH / --data-root DIR)")
        cmd = [sys.executable, "-m", "mmgraph.cli", "prepare",
               "--out", d["path"]]
        for key, value in prep.items():
            if value is None or value is False:
                continue
            flag = "--" + key.replace("_", "-")
            cmd += [flag] if value is True else [flag, str(value)]
        log(f"preparing {name}: {' '.join(cmd[2:])}")
        rc = subprocess.call(cmd, cwd=str(REPO))
        if rc != 0:
            raise SuiteError(f"dataset {name!r}: 'mmgraph prepare' failed "
                             f"(exit code {rc})")


# ----------------------------------------------------------------- workers
def _maxrss_mb() -> float:
    import resource
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # kilobytes on Linux, bytes on macOS
    return rss / (1024 ** 2) if sys.platform == "darwin" else rss / 1024


def _exit_with_runner(runner: int) -> None:
    r"""In a worker process: exit when the runner process goes away (it was
    killed), instead of training on as an orphan."""
    import threading

    def watch() -> None:
        while True:
            time.sleep(2.0)
            try:
                os.kill(runner, 0)
            except ProcessLookupError:
                os._exit(3)
            except PermissionError:  # pid reused by another user's process
                os._exit(3)
    threading.Thread(target=watch, daemon=True).start()


def _worker(spec: Dict[str, Any]) -> None:
    r"""Trains one run (in its own process) and writes ``bench.json``."""
    import logging
    if spec.get("runner_pid"):
        _exit_with_runner(int(spec["runner_pid"]))
    run_dir = Path(spec["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(run_dir / LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s",
                                           "%H:%M:%S"))
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    if spec.get("threads"):
        import torch
        torch.set_num_threads(int(spec["threads"]))
    base = _maxrss_mb()
    try:
        from mmgraph.data import load_dataset
        from mmgraph.train.run import train_model
        from mmgraph.runs import CHECKPOINT
        data = spec["data"]
        if data["path"] == "synthetic" and data["options"]:
            dataset = load_dataset("synthetic", **data["options"])
        else:
            dataset = data["path"]
        resume = (run_dir / CHECKPOINT).exists()
        if resume:
            logging.getLogger("mmgraph").info("resuming from the checkpoint")
        train_model(spec["model"], dataset, None, dict(spec["overrides"]),
                    run_dir, resume=resume, show_progress=False)
    except BaseException:
        logging.getLogger("mmgraph").error("run failed:\n%s",
                                           traceback.format_exc())
        raise
    finally:
        handler.close()
        root.handlers[:], level = saved
        root.setLevel(level)
    info = {"peak_rss_mb": _maxrss_mb(), "base_rss_mb": base,
            "memory_method": "getrusage(RUSAGE_SELF).ru_maxrss"
            + (" (in-process: maximum so far)" if spec.get("in_process")
               else " of the run's worker process"),
            "digest": spec["digest"]}
    from mmgraph.io import atomic_write_json
    atomic_write_json(run_dir / BENCH_FILE, info)


def _context(isolation: str):
    if isolation == "fork-server":
        methods = mp.get_all_start_methods()
        ctx = mp.get_context("forkserver" if "forkserver" in methods
                             else "spawn")
        if ctx.get_start_method() == "forkserver":
            # Imported once by the server; every run is forked from it.
            os.environ.setdefault("MPLBACKEND", "Agg")
            ctx.set_forkserver_preload(["mmgraph", "mmgraph.train.run",
                                        "torch_geometric",
                                        "matplotlib.pyplot"])
        return ctx
    return None


def _read_json(path: Path) -> Optional[Dict[str, Any]]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def run_state(spec: RunSpec) -> str:
    r"""``'done'``, ``'partial'`` (resumable), ``'stale'`` (run with another
    specification) or ``'new'``."""
    from mmgraph.runs import CHECKPOINT, RESULTS
    saved = _read_json(spec.run_dir / SPEC_FILE)
    if saved is not None and saved.get("digest") != spec.digest():
        return "stale"
    res = _read_json(spec.run_dir / RESULTS)
    if res and res.get("finished"):
        return "done"
    if (spec.run_dir / CHECKPOINT).exists():
        return "partial"
    return "new"


def _reset(run_dir: Path) -> None:
    for p in run_dir.iterdir() if run_dir.exists() else []:
        if p.is_file():
            p.unlink()


def _progress_line(spec: RunSpec, t0: float) -> str:
    from mmgraph.runs import RESULTS
    res = _read_json(spec.run_dir / RESULTS) or {}
    hist = res.get("history") or []
    text = f"  epoch {len(hist)}"
    if hist:
        metric = res.get("train_config", {}).get("valid_metric", "recall@20")
        text += (f", best valid {metric} "
                 f"{(res.get('valid') or {}).get(metric, float('nan')):.4f}")
    return text + f", {time.perf_counter() - t0:.0f} s"


def execute(runs: List[RunSpec], isolation: str = "fork-server",
            out=None, threads: Optional[int] = None) -> List[RunSpec]:
    r"""Runs what is not finished; returns the runs that failed."""
    from mmgraph.runs import RESULTS
    from mmgraph.io import atomic_write_json
    out = out or sys.stdout
    ctx = _context(isolation)
    failed = []
    tty = hasattr(out, "isatty") and out.isatty()
    for spec in runs:
        tag = (f"[{spec.index:>{len(str(spec.total))}}/{spec.total}] "
               f"{spec.dataset} {spec.label} seed {spec.seed}")
        state = run_state(spec)
        if state == "done":
            print(f"{tag}: finished earlier, skipped", file=out, flush=True)
            continue
        if state == "stale":
            print(f"{tag}: the suite changed since this run; starting over",
                  file=out, flush=True)
            _reset(spec.run_dir)
        print(f"{tag}: {'resuming' if state == 'partial' else 'training'}"
              f" ...", file=out, flush=True)
        spec.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(spec.run_dir / SPEC_FILE,
                          {"digest": spec.digest(), **spec.key()})
        payload = {"run_dir": str(spec.run_dir), "model": spec.model,
                   "data": spec.data, "overrides": spec.overrides,
                   "digest": spec.digest(), "threads": threads,
                   "in_process": ctx is None,
                   "runner_pid": None if ctx is None else os.getpid()}
        t0 = time.perf_counter()
        if ctx is None:
            try:
                _worker(payload)
                code = 0
            except Exception:  # noqa: BLE001 - reported below
                code = 1
        else:
            proc = ctx.Process(target=_worker, args=(payload,))
            proc.start()
            last = time.perf_counter()
            try:
                while proc.is_alive():
                    proc.join(timeout=2.0)
                    if not proc.is_alive():
                        break
                    if tty:
                        print("\r" + _progress_line(spec, t0) + "   ",
                              end="", file=out, flush=True)
                    elif time.perf_counter() - last > HEARTBEAT:
                        # Logs (job queues) get a line every few minutes.
                        last = time.perf_counter()
                        print(f"{tag}:{_progress_line(spec, t0)}", file=out,
                              flush=True)
            except KeyboardInterrupt:
                proc.terminate()
                proc.join()
                print(f"\n{tag}: interrupted; run the same command again to "
                      f"resume from the last checkpoint", file=out,
                      flush=True)
                raise
            if tty:
                print("\r" + " " * 70 + "\r", end="", file=out)
            code = proc.exitcode
        secs = time.perf_counter() - t0
        res = _read_json(spec.run_dir / RESULTS) or {}
        if code != 0 or not res.get("finished"):
            failed.append(spec)
            tail = ""
            log = spec.run_dir / LOG_FILE
            if log.exists():
                tail = "\n".join(log.read_text(errors="replace")
                                 .splitlines()[-15:])
            print(f"{tag}: FAILED (exit code {code}) after {secs:.1f} s; "
                  f"log {log}\n{tail}", file=out, flush=True)
            continue
        test = res.get("test", {})
        print(f"{tag}: done in {secs:.1f} s, best epoch {res['best_epoch']} "
              f"of {res['epochs']}, test recall@20 "
              f"{test.get('recall@20', float('nan')):.4f} ndcg@20 "
              f"{test.get('ndcg@20', float('nan')):.4f}", file=out,
              flush=True)
    return failed


# ---------------------------------------------------------------- reports
def _run_record(spec: RunSpec) -> Optional[Dict[str, Any]]:
    from mmgraph.runs import RESULTS
    if run_state(spec) != "done":
        return None
    res = _read_json(spec.run_dir / RESULTS)
    bench = _read_json(spec.run_dir / BENCH_FILE) or {}
    hist = res.get("history") or []
    metric = res["train_config"]["valid_metric"]
    elapsed = 0.0
    curve = []
    for h in hist:
        elapsed += h.get("train_seconds", 0.0) + h.get("eval_seconds", 0.0)
        curve.append({"epoch": h["epoch"], "loss": h.get("loss"),
                      "valid": h["valid"].get(metric), "seconds": elapsed})
    return {
        "dataset": spec.dataset, "model": spec.model,
        "objective": res.get("objective", spec.objective),
        "label": spec.label, "seed": spec.seed,
        "run_dir": str(spec.run_dir), "valid_metric": metric,
        "test": {k: res["test"][k] for k in res["test"] if "@" in k},
        "valid": {k: res["valid"][k] for k in res["valid"] if "@" in k},
        "best_epoch": res["best_epoch"], "epochs": res["epochs"],
        "seconds_per_epoch": res.get("seconds_per_epoch", float("nan")),
        "seconds_per_eval": res.get("seconds_per_eval", float("nan")),
        # Sum over the recorded epochs (robust to a resumed run, whose
        # wall_seconds covers only the time after resuming).
        "total_seconds": elapsed,
        "peak_rss_mb": bench.get("peak_rss_mb", float("nan")),
        "base_rss_mb": bench.get("base_rss_mb", float("nan")),
        "curve": curve,
    }


def summarise(records: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    r"""One row per (dataset, model, objective): mean ± std over seeds."""
    from mmgraph.report import mean_std
    groups: Dict[tuple, List[Dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["dataset"], r["label"]), []).append(r)
    rows = []
    for (ds, label), rs in groups.items():
        row: Dict[str, Any] = {"dataset": ds, "model": rs[0]["model"],
                               "objective": rs[0]["objective"],
                               "label": label,
                               "seeds": [r["seed"] for r in rs]}
        for m in TABLE_METRICS:
            for split, key in (("test", m), ("valid", f"valid_{m}")):
                vals = [r[split].get(m, float("nan")) for r in rs]
                mean, std = mean_std(vals)
                row[key] = {"mean": mean, "std": std, "values": vals}
        for key in ("epochs", "best_epoch", "seconds_per_epoch",
                    "seconds_per_eval", "total_seconds"):
            mean, std = mean_std([float(r[key]) for r in rs])
            row[key] = {"mean": mean, "std": std}
        peaks = [r["peak_rss_mb"] for r in rs if not math.isnan(
            r["peak_rss_mb"])]
        bases = [r["base_rss_mb"] for r in rs if not math.isnan(
            r["base_rss_mb"])]
        row["peak_rss_mb"] = max(peaks) if peaks else float("nan")
        row["base_rss_mb"] = min(bases) if bases else float("nan")
        rows.append(row)
    return rows


HEADERS = (["dataset", "model", "seeds"] + [f"test {m}" for m in
                                            TABLE_METRICS] +
           ["epochs", "s/epoch", "s/eval", "total s", "peak MB", "base MB"])


def table_rows(rows: List[Dict[str, Any]]) -> List[List[Any]]:
    from mmgraph.report import fmt_mean_std
    out = []
    for r in rows:
        out.append([r["dataset"], r["label"], len(r["seeds"])]
                   + [fmt_mean_std(r[m]["values"]) for m in TABLE_METRICS]
                   + [f"{r['epochs']['mean']:.1f}",
                      f"{r['seconds_per_epoch']['mean']:.2f}",
                      f"{r['seconds_per_eval']['mean']:.2f}",
                      f"{r['total_seconds']['mean']:.1f}",
                      f"{r['peak_rss_mb']:.0f}", f"{r['base_rss_mb']:.0f}"])
    return out


VALID_HEADERS = (["dataset", "model", "seeds"] +
                 [f"valid {m}" for m in TABLE_METRICS] + ["best epoch"])


def valid_table_rows(rows: List[Dict[str, Any]]) -> List[List[Any]]:
    from mmgraph.report import fmt_mean_std
    return [[r["dataset"], r["label"], len(r["seeds"])]
            + [fmt_mean_std(r[f"valid_{m}"]["values"]) for m in TABLE_METRICS]
            + [f"{r['best_epoch']['mean']:.1f}"] for r in rows]


def write_reports(suite: Suite, runs: List[RunSpec], out: Path,
                  quick: bool) -> List[Dict[str, Any]]:
    r"""Writes results.{csv,json,md} and the figures; returns the rows."""
    from mmgraph.report import format_table
    from mmgraph.io import (atomic_write_json, atomic_write_text,
                            package_versions)
    records = [r for r in (_run_record(s) for s in runs) if r is not None]
    rows = summarise(records)
    missing = len(runs) - len(records)
    atomic_write_json(out / "results.json", {
        "suite": suite.name, "description": suite.description,
        "quick": quick, "table_metrics": list(TABLE_METRICS),
        "selection": "test metrics at the best-validation epoch "
                     "(early stopping and selection on validation only)",
        "memory": MEMORY_NOTE, "versions": package_versions(),
        "unfinished_runs": missing, "rows": rows,
        "runs": [{k: v for k, v in r.items() if k != "curve"}
                 for r in records]})
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["dataset", "model", "objective", "num_seeds"]
               + [f"{m}_{s}" for m in TABLE_METRICS for s in ("mean", "std")]
               + [f"valid_{m}_{s}" for m in TABLE_METRICS
                  for s in ("mean", "std")]
               + ["epochs_mean", "best_epoch_mean", "seconds_per_epoch",
                  "seconds_per_eval", "total_seconds", "peak_rss_mb",
                  "base_rss_mb"])
    for r in rows:
        w.writerow([r["dataset"], r["model"], r["objective"], len(r["seeds"])]
                   + [f"{r[m][s]:.6f}" for m in TABLE_METRICS
                      for s in ("mean", "std")]
                   + [f"{r['valid_' + m][s]:.6f}" for m in TABLE_METRICS
                      for s in ("mean", "std")]
                   + [f"{r['epochs']['mean']:.2f}",
                      f"{r['best_epoch']['mean']:.2f}",
                      f"{r['seconds_per_epoch']['mean']:.4f}",
                      f"{r['seconds_per_eval']['mean']:.4f}",
                      f"{r['total_seconds']['mean']:.2f}",
                      f"{r['peak_rss_mb']:.1f}", f"{r['base_rss_mb']:.1f}"])
    atomic_write_text(out / "results.csv", buf.getvalue())
    versions = package_versions()
    md = [f"# Benchmark suite `{suite.name}`" + (" (quick)" if quick else ""),
          ""]
    if suite.description:
        md += [suite.description.strip(), ""]
    md += [format_table(table_rows(rows), HEADERS, markdown=True), "",
           "Test metrics at the best-validation epoch, mean ± std over "
           "seeds; epochs = epochs trained (early stopping on validation "
           "recall@20); s/epoch and s/eval = seconds per training epoch and "
           "per validation evaluation; total s = training + evaluation "
           "seconds of one run (mean over seeds).", "",
           "Validation metrics at the selected (best-validation) epoch:", "",
           format_table(valid_table_rows(rows), VALID_HEADERS,
                        markdown=True), "",
           f"Memory: {MEMORY_NOTE}.", "",
           "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items())
           + "."]
    if missing:
        md.append(f"\n{missing} run(s) of the suite are not finished and "
                  f"are not in the table.")
    atomic_write_text(out / "results.md", "\n".join(md) + "\n")
    plot_figures(records, out)
    return rows


def _mean_curve(curves: List[List[Dict[str, Any]]], key: str):
    n = min(len(c) for c in curves)
    xs = [c[i]["epoch"] for c in curves[:1] for i in range(n)]
    ys = [sum((c[i][key] if c[i][key] is not None else float("nan"))
              for c in curves) / len(curves) for i in range(n)]
    ts = [sum(c[i]["seconds"] for c in curves) / len(curves)
          for i in range(n)]
    return xs, ys, ts


def plot_figures(records: List[Dict[str, Any]], out: Path) -> List[Path]:
    r"""Per dataset: ``curves_<dataset>.png``, one panel per model with the
    training loss and the validation metric per epoch, and
    ``accuracy_vs_time_<dataset>.png``, the validation metric against the
    cumulative training + evaluation seconds, one line per model. Curves
    are means over seeds (over the epochs every seed reached)."""
    if not records:
        return []
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mmgraph.io import atomic_write_bytes

    def save(fig, name: str) -> Path:
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
        atomic_write_bytes(out / name, buf.getvalue())
        return out / name

    written = []
    for ds in sorted({r["dataset"] for r in records}):
        by_label: Dict[str, List[Dict[str, Any]]] = {}
        for r in records:
            if r["dataset"] == ds:
                by_label.setdefault(r["label"], []).append(r)
        labels = sorted(by_label)
        metric = by_label[labels[0]][0]["valid_metric"]
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        ncols = min(4, len(labels))
        nrows = math.ceil(len(labels) / ncols)
        fig1, axes = plt.subplots(nrows, ncols, squeeze=False,
                                  figsize=(3.6 * ncols, 2.9 * nrows))
        fig2, ax_time = plt.subplots(figsize=(6.5, 4.5))
        for n, label in enumerate(labels):
            curves = [r["curve"] for r in by_label[label]]
            xs, loss, ts = _mean_curve(curves, "loss")
            _, valid, _ = _mean_curve(curves, "valid")
            color = colors[n % len(colors)]
            ax = axes[n // ncols][n % ncols]
            ax.plot(xs, loss, color="tab:grey")
            ax.set(title=f"{label} ({len(curves)} seed(s))", xlabel="epoch")
            ax.set_ylabel("training loss", color="tab:grey")
            ax2 = ax.twinx()
            ax2.plot(xs, valid, color=color)
            ax2.set_ylabel(f"valid {metric}", color=color)
            best = max(range(len(valid)), key=lambda i: valid[i])
            ax2.axvline(xs[best], color=color, ls="--", lw=0.8)
            ax_time.plot(ts, valid, label=label, color=color)
            ax_time.scatter([ts[best]], [valid[best]], color=color, s=18)
        for k in range(len(labels), nrows * ncols):
            axes[k // ncols][k % ncols].set_visible(False)
        fig1.suptitle(f"{ds}: training loss (grey) and validation {metric} "
                      f"(dashed: best epoch)", fontsize=10)
        ax_time.set(xlabel="training + evaluation time (s)",
                    ylabel=f"valid {metric}",
                    title=f"{ds}: accuracy against time (dot = best epoch)")
        ax_time.grid(alpha=0.3)
        ax_time.legend(fontsize=8)
        written.append(save(fig1, f"curves_{ds}.png"))
        written.append(save(fig2, f"accuracy_vs_time_{ds}.png"))
    return written


# -------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Run a benchmark suite (models x datasets x objectives "
                    "x seeds); resumes where it stopped.")
    p.add_argument("suite", type=Path, help="suite YAML file")
    p.add_argument("--out", type=Path, required=True,
                   help="output folder (runs/, results.*, *.png)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: synthetic data, a few epochs")
    p.add_argument("--models", help="comma-separated subset of the models")
    p.add_argument("--datasets", help="comma-separated subset of datasets")
    p.add_argument("--seeds", help="comma-separated subset of the seeds")
    p.add_argument("--objectives", help="comma-separated subset")
    p.add_argument("--data", action="append", default=[],
                   metavar="NAME=PATH", help="use PATH for dataset NAME")
    p.add_argument("--data-root", help="base of relative dataset paths "
                   "(default: the suite's data_root; $MMGRAPH_DATA_ROOT)")
    p.add_argument("--raw-root", help="base of relative 'prepare' inputs")
    p.add_argument("--list", action="store_true",
                   help="print the planned runs and their state, then exit")
    p.add_argument("--report-only", action="store_true",
                   help="only rebuild the tables and figures")
    p.add_argument("--threads", type=int,
                   default=int(os.environ.get("MMGRAPH_NUM_THREADS", 0)) or
                   None, help="torch threads per run (default: "
                   "$MMGRAPH_NUM_THREADS; 1 with --quick; else torch's "
                   "default)")
    p.add_argument("--in-process", action="store_true",
                   help="run in this process (no worker processes; the "
                   "peak memory then is the maximum so far)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        full = load_suite(args.suite, args.quick, args.data_root,
                          args.raw_root, args.data)
        suite = select(full, args.models, args.datasets, args.seeds,
                       args.objectives)
        check_models(suite)
    except SuiteError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import mmgraph  # noqa: F401 - silences torch's sparse beta warnings
    out = args.out.resolve()
    runs = suite.plan(out)
    all_runs = full.plan(out)  # the table covers every finished run
    if args.list:
        for r in runs:
            print(f"[{r.index}/{r.total}] {r.dataset} {r.label} seed "
                  f"{r.seed}: {run_state(r)}  {r.run_dir}")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    failed: List[RunSpec] = []
    t0 = time.perf_counter()
    if not args.report_only:
        print(f"suite {suite.name}{' (quick)' if args.quick else ''}: "
              f"{len(runs)} run(s) = {len(suite.datasets)} dataset(s) x "
              f"{len(suite.models)} model(s) x {len(suite.objectives)} "
              f"objective(s) x {len(suite.seeds)} seed(s) -> {out}",
              flush=True)
        try:
            prepare_data(suite)
        except SuiteError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        # Tiny quick-mode runs gain nothing from threads, and oversubscribed
        # OpenMP threads on a busy machine cost a lot.
        threads = args.threads or (1 if args.quick else None)
        try:
            failed = execute(runs, "none" if args.in_process
                             else "fork-server", threads=threads)
        except KeyboardInterrupt:
            return 130
    rows = write_reports(full, all_runs, out, args.quick)
    from mmgraph.report import format_table
    print()
    print(format_table(table_rows(rows), HEADERS) if rows
          else "no finished runs yet")
    print(f"\nwrote {out / 'results.md'}, results.csv, results.json and "
          f"{len(list(out.glob('*.png')))} figure(s) in "
          f"{time.perf_counter() - t0:.1f} s")
    if failed:
        print(f"{len(failed)} run(s) failed: " + ", ".join(
            f"{r.dataset}/{r.label}/seed{r.seed}" for r in failed),
            file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
