r"""Run a benchmark suite: models x datasets x objectives x seeds.

Usage::

    python benchmarks/run.py benchmarks/suites/quick.yaml --quick --out /tmp/q
    python benchmarks/run.py benchmarks/suites/beauty.yaml --out runs/beauty \
        --models lightgcn,bm3          # one share of the suite per worker
    python benchmarks/run.py benchmarks/suites/beauty.yaml --out runs/beauty \
        --report-only                  # rebuild the tables from finished runs

A thin command line over :class:`mmgraph.experiment.Experiment` (which reads
the suite, plans, resumes, trains and writes the reports). Every run trains
one model with early stopping on validation (:func:`mmgraph.experiment.train_model`)
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
      freedom: {dropout: 0.9}  # a list value is a grid axis
    grid: false               # true: each model's published grid, the
                              # point with the best mean validation reported
    quick:                    # merged over the suite with --quick
      train: {epochs: 3}
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from mmgraph.experiment import (Experiment, ExperimentError,  # noqa: E402
                                RunSpec)
from mmgraph.report import SUMMARY_HEADERS, format_table, summary_rows  # noqa: E402


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
        # Relative data roots in a suite start at the repository root.
        full = Experiment.from_yaml(args.suite, args.quick, args.data_root,
                                    args.raw_root, args.data, base=REPO)
        exp = full.select(args.models, args.datasets, args.seeds,
                          args.objectives)
        exp.check()
    except ExperimentError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = args.out.resolve()
    if args.list:
        for r in exp.plan(out):
            point = f" point {r.point_index}" if r.point else ""
            print(f"[{r.index}/{r.total}] {r.dataset} {r.label}{point} seed "
                  f"{r.seed}: {r.state()}  {r.run_dir}")
        return 0
    failed: List[RunSpec] = []
    t0 = time.perf_counter()
    if not args.report_only:
        print(f"suite {exp.name}{' (quick)' if args.quick else ''}: "
              f"{len(exp.plan(out))} run(s) = {len(exp.datasets)} dataset(s)"
              f" x {len(exp.models)} model(s) x {len(exp.objectives)} "
              f"objective(s) x {len(exp.seeds)} seed(s) -> {out}",
              flush=True)
        try:
            exp.prepare_data()
        except ExperimentError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        # Tiny quick-mode runs gain nothing from threads, and oversubscribed
        # OpenMP threads on a busy machine cost a lot.
        threads = args.threads or (1 if args.quick else None)
        try:
            failed = exp.run(out, "none" if args.in_process else "process",
                             threads=threads)
        except KeyboardInterrupt:
            return 130
    # The tables cover every finished run of the suite.
    rows = full.write_reports(out, args.quick)
    print()
    print(format_table(summary_rows(rows), SUMMARY_HEADERS) if rows
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
