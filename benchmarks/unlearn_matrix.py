r"""The unlearning matrix: models x request kinds x methods x seeds, each
unlearned model next to the original, a fine-tuned model and the gold
(retrained) model, summarised as mean ± std over seeds.

For every ``(model, seed)`` one original is trained (``mmgraph train``); for
every request kind a seeded ``--forget-fraction KIND:FRACTION`` request is
unlearned once per ``--methods`` entry with ``mmgraph unlearn``. Gold and
fine-tune depend on the request, not on the method (the fine-tune runs
under ``mmrecun``'s stopping rule whatever the method), so they are computed in
the first cell of a request that runs (``--gold --finetune``) and shared by
the others (the requests are checked to be the same). The gold is
retrained first, into the request's own ``KIND/gold/`` (``--gold-dir``,
outside the cell), so a stopped job resumes it from its checkpoint instead
of starting over, and a finished one there is measured as is. Every step is
a run folder under ``--out``; a rerun skips finished cells and resumes an
unfinished original or gold, so the matrix can be filled over several
sessions or machines.
``--records DIR`` copies each finished cell's ``unlearn.json`` (a few KB)
to the same place under DIR, a folder version control can keep:
``--report --out DIR`` rebuilds the table from them once OUT, with its
checkpoints, is gone.

Columns (recall@20): forget and test of the original / unlearned /
fine-tuned / gold models, the membership-inference AUC of the same four, the
seconds of unlearning and of gold (wall and CPU), and the checks against
the aims of issue #13: forget recall and MIA AUC within gold's seed spread
(``|x - gold| <= 2 std(gold)``, or 10 % of gold for one seed), the attack
AUC as close to gold's as gold's is to 0.5, test recall within 2 % of the
original, and unlearning >= 5x faster than gold.

Usage::

    python benchmarks/unlearn_matrix.py --data /work/prepared/amazon-beauty \
        --out DIR                                  # the must-show matrix
    python benchmarks/unlearn_matrix.py --data synthetic --models lightgcn \
        --seeds 0 --set epochs=2 --out /tmp/um      # a quick look
    python benchmarks/unlearn_matrix.py --out DIR --report   # table only

``--set KEY=VALUE`` goes to ``mmgraph train`` (e.g. ``epochs=30`` caps the
originals and, through their config, the gold retraining: say so next to
the numbers); ``--unlearn-args`` to every ``mmgraph unlearn`` call.
``--arm NAME[@KIND,...]=ARGS`` adds a column of cells named NAME that run
``mmgraph unlearn ARGS`` (e.g. ``reinit@users,items=--reinit-rows``); a
cell takes gold and fine-tune from any finished cell of its request, so an
arm added later costs only its own unlearning. Beside the table
(``matrix.md``, ``matrix.json``) the report draws the forget recall and the
attack AUC of every cell against its original and gold (:func:`chart`) to
``matrix.png``, or to ``--chart FIG.png``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from mmgraph.io import atomic_write_bytes, atomic_write_text  # noqa: E402
from mmgraph.report import (figure_png, fmt_mean_std, format_table,  # noqa: E402
                            mean_std)

from mmgraph.cli.unlearn import KINDS, METHODS  # noqa: E402

MODELS = ("lightgcn", "freedom", "bm3", "cm3", "lirdrec")
ROLES = ("original", "unlearned", "finetune", "gold")
METRIC = "recall@20"


def _cli(*args: str) -> List[str]:
    return [sys.executable, "-m", "mmgraph.cli", *args]


def _finished(run: Path) -> bool:
    try:
        return bool(json.loads((run / "results.json").read_text())
                    .get("finished"))
    except (OSError, ValueError):
        return False


def _call(cmd: List[str], log: Path, dry_run: bool) -> None:
    print("  $ mmgraph " + " ".join(shlex.quote(c) for c in cmd[3:]),
          flush=True)
    if dry_run:
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    # the checkout's mmgraph, run from the caller's folder: relative --data,
    # --out and request paths mean what they mean to the caller
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with open(log, "a") as f:
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT,
                             env=env)
    if rc != 0:
        tail = log.read_text().splitlines()[-15:]
        raise SystemExit(f"failed (exit {rc}) after "
                         f"{time.perf_counter() - t0:.0f} s; last lines of "
                         f"{log}:\n" + "\n".join(tail))
    print(f"    done in {time.perf_counter() - t0:.0f} s", flush=True)


def run_matrix(args: argparse.Namespace) -> None:
    out = Path(args.out)
    train_set = [a for kv in args.set for a in ("--set", kv)]
    extra = shlex.split(args.unlearn_args)
    for model in args.models:
        for seed in args.seeds:
            base = out / model / f"seed{seed}"
            original = base / "original"
            if not _finished(original):
                print(f"[{model} seed {seed}] original", flush=True)
                _call(_cli("train", "--model", model, "--data", args.data,
                           "--seed", str(seed), "--out", str(original),
                           "--no-progress", *train_set,
                           *(["--resume"] if (original / "checkpoint.pt")
                             .exists() else [])),
                      base / "train.log", args.dry_run)
            for kind in args.kinds:
                columns = [(m, ["--method", m]) for m in args.methods] + [
                    (name, arm_args) for name, (kinds, arm_args)
                    in args.arms.items() if kind in kinds]
                # gold and fine-tune once per request, in the first cell
                # that runs it (also in a dry run); its gold goes to the
                # request-level KIND/gold/, which resumes or is measured
                done = _request_summaries(base / kind).values()
                has_gold = any("gold" in s["models"] for s in done)
                has_finetune = any("finetune" in s["models"] for s in done)
                gold_run = base / kind / "gold"
                for name, how in columns:
                    cell = base / kind / name
                    if (cell / "unlearn.json").exists():
                        continue
                    print(f"[{model} seed {seed}] {kind} {name}", flush=True)
                    compare = [] if has_finetune else ["--finetune"]
                    if not has_gold:
                        compare += ["--gold-dir", str(gold_run)]
                    has_gold = has_finetune = True
                    _call(_cli("unlearn", "--run", str(original),
                               "--forget-fraction",
                               f"{kind}:{args.fraction}", *how,
                               "--seed", str(seed), "--out", str(cell),
                               "--overwrite", "--no-progress", *compare,
                               *extra),
                          base / kind / f"{name}.log", args.dry_run)
                    if args.records and not args.dry_run:
                        keep_records(out, Path(args.records))


def keep_records(out: Path, records: Path) -> List[Path]:
    r"""Copies the ``unlearn.json`` of every finished cell under
    :obj:`out` to the same relative path under :obj:`records` (where it
    differs), so that the report can be rebuilt from :obj:`records`
    alone. Returns the paths written."""
    written = []
    for path in sorted(out.glob("*/seed*/*/*/unlearn.json")):
        target = records / path.relative_to(out)
        data = path.read_bytes()
        if target.exists() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)
        written.append(target)
    return written


def _request_summaries(request_dir: Path) -> Dict[str, Dict[str, Any]]:
    # the unlearn.json of every finished cell of one request, by cell name
    summaries = {}
    for path in sorted(request_dir.glob("*/unlearn.json")):
        try:
            summaries[path.parent.name] = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise SystemExit(f"{path}: not a readable unlearn.json "
                             f"({err})") from None
    return summaries


def _parse_arm(text: str, parser: argparse.ArgumentParser
               ) -> tuple:
    # NAME[@KIND,KIND]=ARGS
    name, sep, arm_args = text.partition("=")
    name, _, kinds = name.partition("@")
    kinds_list = [k for k in kinds.split(",") if k] if kinds else list(KINDS)
    if not sep or not name or not name.replace("-", "").replace(
            "_", "").isalnum():
        parser.error(f"--arm: expected NAME[@KIND,...]=ARGS with a name of "
                     f"letters, digits, - and _, got {text!r}")
    if name == "gold":
        parser.error("--arm gold: 'gold' names a request's gold run folder; "
                     "choose another name")
    for kind in kinds_list:
        if kind not in KINDS:
            parser.error(f"--arm {name}: unknown kind {kind!r} (expected "
                         f"{', '.join(KINDS)})")
    return name, (kinds_list, shlex.split(arm_args))


def _cells(out: Path, models: Sequence[str], kinds: Sequence[str],
           methods: Sequence[str], seeds: Sequence[int]
           ) -> Dict[tuple, List[Dict[str, Any]]]:
    # (model, kind, method) -> one record per finished seed, each with the
    # four roles (gold and fine-tune from the first method's cell).
    table: Dict[tuple, List[Dict[str, Any]]] = {}
    for model in models:
        for kind in kinds:
            for seed in seeds:
                base = out / model / f"seed{seed}" / kind
                everyone = _request_summaries(base)
                summaries = {m: everyone[m] for m in methods
                             if m in everyone}
                # gold and fine-tune from whichever cell of the request ran
                # them, listed or not
                shared = next((s["models"] for s in everyone.values()
                               if "gold" in s["models"]), {})
                first = next(iter(everyone.values()), None)
                for method, s in summaries.items():
                    if first is not None and (
                            s["request"]["num_ids"],
                            s["request"]["forget_edges"]) != (
                            first["request"]["num_ids"],
                            first["request"]["forget_edges"]):
                        raise SystemExit(f"{base}: the methods unlearned "
                                         f"different requests")
                    roles = {**{r: shared[r] for r in ("finetune", "gold")
                                if r in shared}, **s["models"]}
                    table.setdefault((model, kind, method), []).append(
                        {"seed": seed, "roles": roles,
                         "train_epochs_cap": s["settings"].get(
                             "train_epochs_cap")})
    return table


def _values(records: List[Dict[str, Any]], role: str, *path: str
            ) -> List[float]:
    values = []
    for rec in records:
        node: Any = rec["roles"].get(role)
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        values.append(float("nan") if node is None else float(node))
    return values


def _measured(values: List[float]) -> List[float]:
    # the seeds that have the figure (a transcribed cell may lack seconds)
    return [v for v in values if not math.isnan(v)]


def load_transcribed(path: Path) -> List[Dict[str, Any]]:
    r"""Cells measured before records were kept, written down from the
    table that printed them, so that a report over seeds whose raw
    ``unlearn.json`` was lost says so instead of leaving the seed out. The
    file is a JSON list of cells::

        {"model": "cm3", "kind": "users", "method": "mmrecun", "seed": 0,
         "source": "docs/unlearning.md at a79d563",
         "roles": {"original": {"forget": 0.544, "test": 0.138,
                                "mia_auc": 0.794, "cpu_seconds": null},
                   "unlearned": {...}, "finetune": {...}, "gold": {...}}}

    with forget and test at recall@20 and ``seconds`` / ``cpu_seconds``
    optional (``null`` or absent where the table did not give them).
    Returns :func:`_cells`-shaped entries marked ``transcribed``; a bad
    entry is a one-line error naming the file, the entry and the field."""
    where = str(path)
    try:
        cells = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise SystemExit(f"--transcribed: {where}: not a readable JSON file "
                         f"({err})") from None
    if not isinstance(cells, list):
        raise SystemExit(f"--transcribed: {where}: expected a JSON list of "
                         f"cells, got {type(cells).__name__}")
    entries = []
    for i, cell in enumerate(cells):
        def bad(what: str, i=i) -> SystemExit:
            return SystemExit(f"--transcribed: {where}: cell {i}: {what}")

        if not isinstance(cell, dict):
            raise bad("expected an object")
        for key, kind in (("model", str), ("kind", str), ("method", str),
                          ("seed", int), ("source", str), ("roles", dict)):
            if not isinstance(cell.get(key), kind):
                raise bad(f"'{key}' missing or not a {kind.__name__}")
        if cell["kind"] not in KINDS:
            raise bad(f"unknown kind {cell['kind']!r} (expected "
                      f"{', '.join(KINDS)})")
        roles = {}
        for role in ROLES:
            given = cell["roles"].get(role)
            if not isinstance(given, dict):
                raise bad(f"roles.{role} missing")
            figures: Dict[str, Any] = {}
            for key in ("forget", "test", "mia_auc", "seconds",
                        "cpu_seconds"):
                value = given.get(key)
                if value is None and key in ("forget", "test", "mia_auc"):
                    raise bad(f"roles.{role}.{key} missing")
                if value is not None and (
                        isinstance(value, bool) or
                        not isinstance(value, (int, float)) or value < 0):
                    raise bad(f"roles.{role}.{key}: expected a number "
                              f">= 0, got {value!r}")
                if value is not None:
                    figures[key] = ({METRIC: float(value)}
                                    if key in ("forget", "test")
                                    else float(value))
            roles[role] = figures
        entries.append({"model": cell["model"], "kind": cell["kind"],
                        "method": cell["method"], "seed": cell["seed"],
                        "roles": roles, "transcribed": cell["source"],
                        "train_epochs_cap": cell.get("train_epochs_cap")})
    return entries


def _close(x: List[float], gold: List[float], rel: float = 0.10) -> bool:
    # within gold's seed spread (2 std), or 10 % of gold for a single seed
    (mx, _), (mg, sg) = mean_std(x), mean_std(gold)
    tol = 2 * sg if len(gold) > 1 else rel * abs(mg)
    return abs(mx - mg) <= max(tol, 1e-12)


def report(out: Path, models: Sequence[str], kinds: Sequence[str],
           methods: Sequence[str], seeds: Sequence[int],
           chart_path: Optional[Path] = None,
           transcribed: Sequence[Dict[str, Any]] = ()) -> str:
    table = _cells(out, models, kinds, methods, seeds)
    # a seed's record wins over its transcription
    used = []
    for entry in transcribed:
        key = (entry["model"], entry["kind"], entry["method"])
        if (key[0] in models and key[1] in kinds and key[2] in methods
                and entry["seed"] in seeds and entry["seed"] not in
                [r["seed"] for r in table.get(key, [])]):
            table.setdefault(key, []).append(entry)
            used.append(entry)
    for recs in table.values():
        recs.sort(key=lambda r: r["seed"])
    if not table:
        return f"no finished cell under {out}"
    rows, checks, records_json = [], [], []
    for (model, kind, method), recs in table.items():
        def four(*path: str, recs=recs) -> str:
            return " / ".join(fmt_mean_std(_values(recs, r, *path), 3)
                              if r in recs[0]["roles"] else "-"
                              for r in ROLES)

        def seconds(key: str, recs=recs) -> str:
            # over the seeds that have the figure, with their count if
            # some (transcribed) seed lacks it
            parts = []
            for role in ("unlearned", "gold"):
                have = _measured(_values(recs, role, key))
                parts.append("-" if not have else fmt_mean_std(have, 1) + (
                    f" (n={len(have)})" if len(have) < len(recs) else ""))
            return " / ".join(parts)

        # the speed-up over the seeds that timed both by the clock
        timed = [(u, g) for u, g in zip(_values(recs, "unlearned", "seconds"),
                                        _values(recs, "gold", "seconds"))
                 if not (math.isnan(u) or math.isnan(g))]
        un_s, gold_s = [u for u, _ in timed], [g for _, g in timed]
        n_tr = sum(1 for r in recs if r.get("transcribed"))
        rows.append([model, kind, method,
                     f"{len(recs)}" + (f" ({n_tr} transcribed)"
                                       if n_tr else ""),
                     four("forget", METRIC), four("test", METRIC),
                     four("mia_auc"), seconds("seconds"),
                     seconds("cpu_seconds")])
        f_un = _values(recs, "unlearned", "forget", METRIC)
        f_gold = _values(recs, "gold", "forget", METRIC)
        m_un, m_gold = (_values(recs, "unlearned", "mia_auc"),
                        _values(recs, "gold", "mia_auc"))
        t_un = mean_std(_values(recs, "unlearned", "test", METRIC))[0]
        t_or = mean_std(_values(recs, "original", "test", METRIC))[0]
        speed = (mean_std(gold_s)[0] / max(mean_std(un_s)[0], 1e-9)
                 if timed else float("nan"))
        ok = lambda b: "yes" if b else "no"  # noqa: E731
        m_gold_mean = mean_std(m_gold)[0]
        checks.append([model, kind, method, ok(_close(f_un, f_gold)),
                       ok(_close(m_un, m_gold)),
                       ok(abs(mean_std(m_un)[0] - m_gold_mean) <=
                          abs(m_gold_mean - 0.5)),
                       ok(t_un >= 0.98 * t_or),
                       f"{speed:.1f}x" if timed else "-",
                       ok(speed >= 5.0) if timed else "-"])

        def listed(*path: str, recs=recs) -> List[Optional[float]]:
            # JSON has no NaN: a figure a transcribed seed lacks is null
            return [None if math.isnan(v) else v
                    for v in _values(recs, *path)]

        records_json.append({"model": model, "kind": kind, "method": method,
                             "seeds": [r["seed"] for r in recs],
                             "transcribed_seeds": [r["seed"] for r in recs
                                                   if r.get("transcribed")],
                             "train_epochs_cap": next(
                                 (r["train_epochs_cap"] for r in recs
                                  if r.get("train_epochs_cap") is not None),
                                 None),
                             "roles": {r: {
                                 "forget": listed(r, "forget", METRIC),
                                 "test": listed(r, "test", METRIC),
                                 "mia_auc": listed(r, "mia_auc"),
                                 "seconds": listed(r, "seconds"),
                                 "cpu_seconds": listed(r, "cpu_seconds")}
                                 for r in ROLES}})
    head = ["model", "kind", "method", "seeds",
            f"forget {METRIC} (orig / unl / ft / gold)",
            f"test {METRIC} (orig / unl / ft / gold)",
            "MIA AUC (orig / unl / ft / gold)", "wall s (unl / gold)",
            "CPU s (unl / gold)"]
    check_head = ["model", "kind", "method", "forget ~ gold", "MIA ~ gold",
                  "MIA gap <= gold gap to 0.5",
                  "test >= 98 % orig", "speed-up (wall)", ">= 5x"]
    text = (format_table(rows, head) + "\n\n" +
            format_table(checks, check_head))
    md = (format_table(rows, head, markdown=True) + "\n\n" +
          format_table(checks, check_head, markdown=True) + "\n")
    atomic_write_text(out / "matrix.md", md)
    atomic_write_text(out / "matrix.json", json.dumps(records_json, indent=1))
    written = [out / "matrix.md", out / "matrix.json",
               chart(records_json, chart_path or out / "matrix.png")]
    sources = sorted({f"{e['model']} seed {e['seed']}: {e['transcribed']}"
                      for e in used})
    return text + "".join(f"\n\ntranscribed, not from a record: {s}"
                          for s in sources) + \
        f"\n\n(written: {', '.join(map(str, written))})"


def chart(records: Sequence[Dict[str, Any]], out: Path) -> Path:
    r"""Draws the matrix as a shape: one row of panels per request kind, the
    forget recall@20 and the membership-inference AUC of every (model,
    method) cell as bars (mean, whiskers one std over seeds), and across
    each model's bars its gold (a black line in a band of two gold stds,
    the aim) and its original (a dashed line). A bar above the band has not
    forgotten, one below it has forgotten more than a model that never saw
    the data. :obj:`records` are :func:`report`'s (``matrix.json``).
    Returns :obj:`out`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not records:
        raise SystemExit("--chart: no finished cell to draw")
    kinds = list(dict.fromkeys(r["kind"] for r in records))
    models = list(dict.fromkeys(r["model"] for r in records))
    methods = list(dict.fromkeys(r["method"] for r in records))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    width = 0.8 / len(methods)
    panels = (("forget", f"forget {METRIC}"),
              ("mia_auc", "membership-inference AUC"))
    height = 0.8 + 2.4 * len(kinds)
    fig, axes = plt.subplots(len(kinds), 2, squeeze=False,
                             figsize=(max(7.0, 1.0 + 2.4 * len(models)),
                                      height))
    for row, kind in enumerate(kinds):
        for col, (key, label) in enumerate(panels):
            ax = axes[row][col]
            for i, model in enumerate(models):
                cells = {r["method"]: r for r in records
                         if r["kind"] == kind and r["model"] == model}
                if not cells:
                    continue
                # gold and original are the request's, shared by its cells
                roles = next(iter(cells.values()))["roles"]
                left, right = i - 0.45, i + 0.45
                gold, gold_std = mean_std(roles["gold"][key])
                ax.fill_between([left, right], gold - 2 * gold_std,
                                gold + 2 * gold_std, color="0.85", lw=0)
                ax.hlines(gold, left, right, colors="black", lw=1.5)
                ax.hlines(mean_std(roles["original"][key])[0], left, right,
                          colors="0.4", lw=1, linestyles="dashed")
                for j, method in enumerate(methods):
                    if method in cells:
                        mean, std = mean_std(
                            cells[method]["roles"]["unlearned"][key])
                        ax.bar(i + (j - (len(methods) - 1) / 2) * width,
                               mean, width * 0.9, yerr=std, capsize=2,
                               color=colors[j % len(colors)])
            if key == "mia_auc":  # an attack that cannot tell
                ax.axhline(0.5, color="0.6", lw=0.8, ls="dotted")
            ax.set_xticks(range(len(models)), models)
            ax.set_xlim(-0.6, len(models) - 0.4)
            ax.set_title(label if row == 0 else None, fontsize=9)
            ax.set_ylabel(f"{kind} requests" if col == 0 else None)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[j % len(colors)])
               for j in range(len(methods))]
    handles += [plt.Line2D([], [], color="black", lw=1.5),
                plt.Line2D([], [], color="0.4", lw=1, ls="dashed")]
    fig.legend(handles, methods + ["gold (± 2 std)", "original"],
               loc="lower center", ncol=len(handles), fontsize=7,
               frameon=False)
    fig.tight_layout(rect=(0, 0.4 / height, 1, 1))  # room for the legend
    png = figure_png(fig, layout=False)
    try:
        return atomic_write_bytes(out, png)
    except OSError as err:
        raise SystemExit(f"--chart: {out}: cannot write the chart "
                         f"({err.strerror or err})") from None


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="synthetic")
    p.add_argument("--out", required=True)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--fraction", type=float, default=0.05)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a training setting of the originals (and gold)")
    p.add_argument("--unlearn-args", default="",
                   help="extra arguments of every 'mmgraph unlearn' call")
    p.add_argument("--arm", action="append", default=[],
                   metavar="NAME[@KIND,...]=ARGS",
                   help="one more column: 'mmgraph unlearn ARGS' for the "
                   "listed request kinds (default all), e.g. "
                   "'reinit@users,items=--method mmrecun --reinit-rows'")
    p.add_argument("--threads", type=int, default=None,
                   help="OMP_NUM_THREADS of every call")
    p.add_argument("--records", metavar="DIR",
                   help="copy each finished cell's unlearn.json to the same "
                   "place under DIR (--report --out DIR reads them)")
    p.add_argument("--report", action="store_true",
                   help="only print the table of the finished cells")
    p.add_argument("--transcribed", metavar="FILE.json",
                   help="cells of seeds whose records were lost, written "
                   "down from the table that printed them (see "
                   "load_transcribed); a seed's record wins; the table "
                   "counts them")
    p.add_argument("--dry-run", action="store_true",
                   help="print the commands without running them")
    p.add_argument("--chart", metavar="FIG.png",
                   help="where to draw the report's cells against original "
                   "and gold (default: OUT/matrix.png)")
    args = p.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    args.kinds = [k for k in args.kinds.split(",") if k]
    args.methods = [m for m in args.methods.split(",") if m]
    args.seeds = [int(s) for s in args.seeds.split(",") if s]
    for kind in args.kinds:
        if kind not in KINDS:
            p.error(f"--kinds: unknown kind {kind!r} (expected "
                    f"{', '.join(KINDS)})")
    for method in args.methods:
        if method not in METHODS:
            p.error(f"--methods: unknown method {method!r} (expected "
                    f"{', '.join(METHODS)})")
    args.arms = dict(_parse_arm(a, p) for a in args.arm)
    clash = set(args.arms) & set(args.methods)
    if clash:
        p.error(f"--arm: {sorted(clash)} already name(s) a method column")
    if not 0 < args.fraction < 1:
        p.error(f"--fraction: expected a number in (0, 1), got "
                f"{args.fraction}")
    if args.chart and Path(args.chart).is_dir():
        p.error(f"--chart: {args.chart} is a directory; expected a PNG "
                f"file path")
    if args.records and Path(args.records).exists() and \
            not Path(args.records).is_dir():
        p.error(f"--records: {args.records} is a file; expected a folder "
                f"(created if missing)")
    transcribed = (load_transcribed(Path(args.transcribed))
                   if args.transcribed else [])
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = \
            str(args.threads)
    if not args.report:
        run_matrix(args)
    if args.records and not args.dry_run:
        keep_records(Path(args.out), Path(args.records))
    if not args.dry_run:
        print(report(Path(args.out), args.models, args.kinds,
                     args.methods + list(args.arms), args.seeds,
                     Path(args.chart) if args.chart else None,
                     transcribed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
