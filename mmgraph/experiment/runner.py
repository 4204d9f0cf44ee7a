r"""Running an experiment's runs: one :class:`RunSpec` per run (what it
depends on, its digest and state), each trained in its own worker process
(or in this one), with progress lines, and the record of a finished run."""
from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from mmgraph.data import load_dataset
from mmgraph.errors import MMGraphError
from mmgraph.experiment.grid import train_model
from mmgraph.experiment.resolve import resolve_config
from mmgraph.io import atomic_write_json
from mmgraph.runs import CHECKPOINT, RESULTS
from mmgraph.runs.folder import added_at_default, flatten_dict
from mmgraph.train.trainer import epoch_seconds


def _read_json(path: Path) -> Optional[Dict[str, Any]]:
    # Lenient: a missing or half-written file means "not done yet".
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None

__all__ = ["RunSpec", "ExperimentError", "execute", "run_record",
           "SPEC_FILE", "BENCH_FILE", "LOG_FILE", "MEMORY_NOTE"]

log = logging.getLogger("mmgraph")

#: Written into each run folder of an experiment: what the run depends on.
SPEC_FILE = "bench_spec.json"
#: Written into each run folder by its worker: memory of the run.
BENCH_FILE = "bench.json"
#: The worker's log inside each run folder.
LOG_FILE = "log.txt"
#: Seconds between progress lines when the output is not a terminal.
HEARTBEAT = 300.0
MEMORY_NOTE = ("peak MB = resource.getrusage(RUSAGE_SELF).ru_maxrss of "
               "the run's own worker process (forked after importing "
               "mmgraph, so it includes the interpreter + torch baseline "
               "shown as 'base MB')")

class ExperimentError(MMGraphError, ValueError):
    r"""An invalid experiment (suite file or selection); the message names
    the file or option and what was expected."""


@dataclass
class RunSpec:
    r"""One training run of an :class:`Experiment`.

    ``overrides`` are ``--set``-style keys (the experiment's ``train``
    section, the model's overrides, the seed, the objective and, for a grid,
    the point) resolved by :func:`resolve_config` against the model's
    defaults."""
    dataset: str
    model: str
    objective: str
    seed: int
    data: Dict[str, Any]
    overrides: Dict[str, Any]
    run_dir: Path
    index: int = 0
    total: int = 0
    point: Dict[str, Any] = field(default_factory=dict)
    point_index: Optional[int] = None

    @property
    def label(self) -> str:
        r"""``model`` or ``model+objective`` (one row of the tables)."""
        return self.model if self.objective == "auto" \
            else f"{self.model}+{self.objective}"

    def key(self) -> Dict[str, Any]:
        r"""What the run's result depends on (a change means a rerun),
        including the model's resolved configuration, so that a changed
        model default also marks an earlier run stale."""
        key = {"dataset": self.dataset, "model": self.model,
               "objective": self.objective, "seed": self.seed,
               "data": self.data, "overrides": self.overrides,
               "config": resolve_config(self.model, None,
                                        dict(self.overrides))}
        if self.point:
            key["point"] = self.point
        return key

    def digest(self) -> str:
        text = json.dumps(self.key(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def _same_run(self, saved: Dict[str, Any]) -> bool:
        # The recorded key differs from today's only by settings the code
        # gained since, at their defaults (e.g. a new TrainConfig field).
        now = flatten_dict(json.loads(json.dumps(self.key(), default=str)))
        before = flatten_dict({k: v for k, v in saved.items()
                               if k != "digest"})
        return all(before.get(k) == v or added_at_default(before, k, v,
                                                          self.model)
                   for k, v in now.items()) and set(before) <= set(now)

    def state(self) -> str:
        r"""``'done'``, ``'partial'`` (resumable), ``'stale'`` (run with
        another specification) or ``'new'``."""
        saved = _read_json(self.run_dir / SPEC_FILE)
        if saved is not None and saved.get("digest") != self.digest() and \
                not self._same_run(saved):
            return "stale"
        res = _read_json(self.run_dir / RESULTS)
        if res and res.get("finished"):
            return "done"
        if (self.run_dir / CHECKPOINT).exists():
            return "partial"
        return "new"


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
            except (ProcessLookupError, PermissionError):
                # gone, or the pid was reused by another user's process
                os._exit(3)
    threading.Thread(target=watch, daemon=True).start()


def _worker(spec: Dict[str, Any]) -> None:
    r"""Trains one run (in its own process) and writes ``bench.json``."""
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
        data = spec["data"]
        dataset = load_dataset("synthetic", **data["options"]) \
            if data["path"] == "synthetic" and data["options"] \
            else data["path"]
        resume = (run_dir / CHECKPOINT).exists()
        if resume:
            log.info("resuming from the checkpoint")
        train_model(spec["model"], dataset, None, dict(spec["overrides"]),
                    run_dir, resume=resume, show_progress=False)
    except BaseException:
        log.error("run failed:\n%s", traceback.format_exc())
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
    atomic_write_json(run_dir / BENCH_FILE, info)


def _context(isolation: str):
    if isolation == "none":
        return None
    if isolation != "process":
        raise ExperimentError(f"isolation {isolation!r}: expected 'process' "
                              f"or 'none'")
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("forkserver" if "forkserver" in methods
                         else "spawn")
    if ctx.get_start_method() == "forkserver":
        # Imported once by the server; every run is forked from it.
        os.environ.setdefault("MPLBACKEND", "Agg")
        ctx.set_forkserver_preload(["mmgraph", "mmgraph.experiment",
                                    "torch_geometric", "matplotlib.pyplot"])
    return ctx


def _reset(run_dir: Path) -> None:
    for p in run_dir.iterdir() if run_dir.exists() else []:
        if p.is_file():
            p.unlink()


def _progress_line(spec: RunSpec, t0: float) -> str:
    res = _read_json(spec.run_dir / RESULTS) or {}
    hist = res.get("history") or []
    text = f"  epoch {len(hist)}"
    if hist:
        metric = res.get("train_config", {}).get("valid_metric", "recall@20")
        text += (f", best valid {metric} "
                 f"{(res.get('valid') or {}).get(metric, float('nan')):.4f}")
    return text + f", {time.perf_counter() - t0:.0f} s"


def execute(runs: List[RunSpec], isolation: str = "process", out=None,
            threads: Optional[int] = None) -> List[RunSpec]:
    r"""Trains the runs that are not finished (skips finished ones, starts
    stale ones over, resumes partial ones); returns those that failed.
    ``isolation``: ``'process'`` or ``'none'``; progress lines go to
    ``out`` (default: ``sys.stdout``)."""
    out = out or sys.stdout
    ctx = _context(isolation)
    failed = []
    tty = hasattr(out, "isatty") and out.isatty()
    for spec in runs:
        tag = (f"[{spec.index:>{len(str(spec.total))}}/{spec.total}] "
               f"{spec.dataset} {spec.label}"
               + (f" point {spec.point_index}" if spec.point else "")
               + f" seed {spec.seed}")
        state = spec.state()
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
        digest = spec.digest()
        atomic_write_json(spec.run_dir / SPEC_FILE,
                          {"digest": digest, **spec.key()})
        payload = {"run_dir": str(spec.run_dir), "model": spec.model,
                   "data": spec.data, "overrides": spec.overrides,
                   "digest": digest, "threads": threads,
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
            log_file = spec.run_dir / LOG_FILE
            if log_file.exists():
                tail = "\n".join(log_file.read_text(errors="replace")
                                 .splitlines()[-15:])
            print(f"{tag}: FAILED (exit code {code}) after {secs:.1f} s; "
                  f"log {log_file}\n{tail}", file=out, flush=True)
            continue
        test = res.get("test", {})
        print(f"{tag}: done in {secs:.1f} s, best epoch {res['best_epoch']} "
              f"of {res['epochs']}, test recall@20 "
              f"{test.get('recall@20', float('nan')):.4f} ndcg@20 "
              f"{test.get('ndcg@20', float('nan')):.4f}", file=out,
              flush=True)
    return failed


def run_record(spec: RunSpec) -> Optional[Dict[str, Any]]:
    r"""The record of a finished run (``None`` if it is not finished): test
    and validation metrics at the best-validation epoch, epochs, times,
    memory and the validation curve (see :func:`mmgraph.report.summarise`)."""
    if spec.state() != "done":
        return None
    res = _read_json(spec.run_dir / RESULTS)
    bench = _read_json(spec.run_dir / BENCH_FILE) or {}
    metric = res["train_config"]["valid_metric"]
    elapsed = 0.0
    curve = []
    for h in res.get("history") or []:
        elapsed += epoch_seconds(h)
        curve.append({"epoch": h["epoch"], "loss": h.get("loss"),
                      "valid": h["valid"].get(metric), "seconds": elapsed})
    return {
        "dataset": spec.dataset, "model": spec.model,
        "objective": res.get("objective", spec.objective),
        "label": spec.label, "seed": spec.seed,
        "point": spec.point, "point_index": spec.point_index,
        "run_dir": str(spec.run_dir), "valid_metric": metric,
        "test": {k: res["test"][k] for k in res["test"]
                 if "@" in k or k in ("cold_note", "cold_items", "num_items")},
        "valid": {k: res["valid"][k] for k in res["valid"] if "@" in k},
        "best_epoch": res["best_epoch"], "epochs": res["epochs"],
        "seconds_per_epoch": res.get("seconds_per_epoch", float("nan")),
        "seconds_per_eval": res.get("seconds_per_eval", float("nan")),
        # Sum over the recorded epochs: the compute of the history kept
        # (wall_seconds also counts epochs a resume from the best repeated).
        "total_seconds": elapsed,
        "peak_rss_mb": bench.get("peak_rss_mb", float("nan")),
        "base_rss_mb": bench.get("base_rss_mb", float("nan")),
        "curve": curve,
    }
