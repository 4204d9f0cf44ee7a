r"""Scale benchmark: datasets of Elec's and MicroLens-1M's shapes, and what
each model costs on them.

Generates a popularity-skewed, clustered interaction set of a chosen shape
(users, items, interactions; at least ``--min-degree`` interactions per user;
MMRec's random 8:1:1 per-user split) with an image-like and a text-like
feature per item, writes it as an MMRec folder, then measures each model in
its own process (so peak memory is that model's):

* seconds to load the folder and to build the model (graphs included),
* seconds per training batch, measured over ``--batches`` batches after one
  warm-up batch, and the **extrapolated seconds per epoch** (per-batch time
  times the number of batches of an epoch; said so in the table); with
  ``--batches 0`` one whole epoch is trained and its measured seconds
  (``epoch_s``, wall, and ``epoch_cpu_s``) are reported too,
* seconds for one full validation pass,
* peak resident memory after loading, after building, after the batches and
  after the evaluation.

Shapes (``--shape``):

=============  =========  =======  =============  ==========================
shape          users      items    interactions   features
=============  =========  =======  =============  ==========================
``elec``       192,403    63,001   1,689,188      image 4,096-d, text 384-d
``microlens``  1,000,000  91,402   9,095,620      image 4,096-d, text 384-d
``tiny``       3,000      1,500    30,000         image 64-d, text 32-d
=============  =========  =======  =============  ==========================

Each model is measured in one ``--mode``: ``full`` (full-graph propagation
per batch, the reference) or ``sampled`` (mini-batch subgraphs,
``--num-neighbors``; models that cannot be sampled report their one-line
refusal), with ``--procs 1`` or ``2`` (``2`` launches the worker under
``torch.distributed.run``: each rank times its own batches; an epoch has
half the batches per rank; peak memory is rank 0's).

Every size is an option (``--users``, ``--items``, ``--interactions``,
``--image-dim``, ``--text-dim``). Usage::

    python benchmarks/scale.py --shape elec --models lightgcn,freedom \
        --out /work/results/scale-elec
    python benchmarks/scale.py --shape tiny --models lightgcn --out /tmp/s \
        --mode sampled --procs 2
    # seconds per batch of several reports side by side, log scale
    python benchmarks/scale.py --chart scale.png DIR/scale-*.json ...

The generator never builds a dense ``U x I`` matrix: an interaction picks,
with probability ``--cluster-share``, a popular item of the user's latent
cluster, otherwise an item by global popularity (Zipf exponent
``--zipf``); features are the item cluster's centroid plus noise.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np

from mmgraph.io import atomic_write_bytes, atomic_write_json, atomic_write_text

SHAPES: Dict[str, Dict[str, int]] = {
    "elec": dict(users=192_403, items=63_001, interactions=1_689_188,
                 image_dim=4096, text_dim=384),
    "microlens": dict(users=1_000_000, items=91_402, interactions=9_095_620,
                      image_dim=4096, text_dim=384),
    "tiny": dict(users=3_000, items=1_500, interactions=30_000,
                 image_dim=64, text_dim=32),
}


def peak_rss_gib() -> float:
    r"""Peak resident set size of this process so far, in GiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


# --------------------------------------------------------------- generator
def _zipf_cdf(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return np.cumsum(weights[rng.permutation(n)] / weights.sum())


def generate(users: int, items: int, interactions: int, image_dim: int,
             text_dim: int, min_degree: int = 5, clusters: int = 64,
             cluster_share: float = 0.6, zipf: float = 0.9,
             seed: int = 0) -> Dict[str, Any]:
    r"""Interactions (``user``, ``item`` int64 arrays, no duplicate pair, at
    least ``min_degree`` per user) and float32 ``features`` per modality.

    Degrees are ``min_degree`` plus a geometric tail with the mean that
    reaches ``interactions``; duplicates are redrawn until every user has
    her degree (items per user are capped at half the catalogue)."""
    if interactions < users * min_degree:
        raise ValueError(f"--interactions {interactions} < users x "
                         f"min_degree = {users * min_degree}")
    rng = np.random.default_rng(seed)
    extra = interactions / users - min_degree
    deg = min_degree + (rng.geometric(1.0 / (1.0 + extra), users) - 1
                        if extra > 0 else 0)
    deg = np.minimum(deg, items // 2).astype(np.int64)
    user_cluster = rng.integers(0, clusters, users)
    item_cluster = rng.integers(0, clusters, items)
    global_cdf = _zipf_cdf(items, zipf, rng)
    # Items of each cluster sorted by global popularity share.
    order = np.argsort(item_cluster, kind="stable")
    starts = np.searchsorted(item_cluster[order], np.arange(clusters + 1))

    def draw(u: np.ndarray) -> np.ndarray:
        out = np.searchsorted(global_cdf, rng.random(len(u)) * global_cdf[-1])
        local = rng.random(len(u)) < cluster_share
        c = user_cluster[u[local]]
        lo, hi = starts[c], starts[c + 1]
        ok = hi > lo
        # Within the cluster, a squared uniform skews the pick towards the
        # cluster's first members (a cheap within-cluster popularity).
        pick = lo + np.floor((hi - lo) * rng.random(len(c)) ** 2).astype(
            np.int64)
        chosen = out[local]
        chosen[ok] = order[np.minimum(pick[ok], items - 1)]
        out[local] = chosen
        return np.minimum(out, items - 1)

    user = np.repeat(np.arange(users, dtype=np.int64), deg)
    item = draw(user)
    for _ in range(50):
        key = np.unique(user * items + item)
        have = np.bincount(key // items, minlength=users)
        missing = deg - have
        if not missing.any():
            break
        u = np.repeat(np.arange(users, dtype=np.int64), missing)
        user = np.concatenate([key // items, u])
        item = np.concatenate([key % items, draw(u)])
    user, item = key // items, key % items
    centroids_img = rng.standard_normal((clusters, image_dim), np.float32)
    centroids_txt = rng.standard_normal((clusters, text_dim), np.float32)
    features = {}
    for name, cent in (("image", centroids_img), ("text", centroids_txt)):
        x = rng.standard_normal((items, cent.shape[1]), np.float32)
        x *= 0.7
        x += cent[item_cluster]
        features[name] = x
    return dict(user=user, item=item, features=features,
                num_users=users, num_items=items)


def write_folder(data: Dict[str, Any], out: Path, name: str,
                 seed: int = 999) -> Path:
    r"""Writes ``data`` as an MMRec folder (MMRec split with ``seed``);
    items never interacted with are dropped (MMRec ids are contiguous)."""
    from mmgraph.data.prepare import (PreparedData, split_mmrec,
                                      write_mmrec_folder)
    user, item = data["user"], data["item"]
    used = np.zeros(data["num_items"], bool)
    used[item] = True
    remap = np.cumsum(used) - 1
    prep = PreparedData(user, remap[item], split_mmrec(user, seed), None,
                        None, np.arange(data["num_users"]),
                        np.flatnonzero(used))
    feats = {m: x[used] for m, x in data["features"].items()}
    write_mmrec_folder(out, name, prep, feats)
    return out


# ------------------------------------------------------------------ worker
def measure(folder: str, name: str, model_name: str, batches: int,
            threads: int, mode: str = "full",
            num_neighbors: Sequence[int] = (10, 10),
            evaluate: bool = True,
            item_neighbors: int = -1,
            batch_size: int = 0,
            sparse_features: bool = False,
            item_history: bool = False) -> Dict[str, Any]:
    r"""Load, build, time ``batches`` training batches and one validation
    pass of ``model_name`` on the folder; returns the row (rank 0's under
    ``torchrun``)."""
    import torch

    import mmgraph
    from mmgraph.distributed import init_from_env, rank, world_size
    from mmgraph.runtime import reusing_freed_memory
    init_from_env("cpu")

    def say(text: str) -> None:  # shown live by the parent (run_worker)
        if rank() == 0:
            print(f"  [{model_name}] {text}", flush=True)

    torch.set_num_threads(threads)
    torch.manual_seed(rank())
    row: Dict[str, Any] = {"model": model_name, "mode": mode,
                           "procs": world_size(), "threads": threads}
    t = time.perf_counter()
    ds = mmgraph.load_dataset(folder, name=name)
    row["load_s"] = time.perf_counter() - t
    row["peak_load_gib"] = peak_rss_gib()
    say(f"loaded in {row['load_s']:.0f} s")
    t = time.perf_counter()
    model = mmgraph.create_model(model_name, ds)
    row["build_s"] = time.perf_counter() - t
    row["peak_build_gib"] = peak_rss_gib()
    say(f"built in {row['build_s']:.0f} s")
    trainer = mmgraph.Trainer(model, ds, {
        "epochs": 1, "sampled": mode == "sampled",
        "num_neighbors": list(num_neighbors),
        "item_neighbors": item_neighbors, "sparse_features": sparse_features,
        "item_history": item_history,
        **({"batch_size": batch_size} if batch_size > 0 else {})},
        show_progress=False)
    # from here on as Trainer.fit and Evaluator.evaluate run (not the
    # loading and building above); MMGRAPH_MALLOC=system: glibc's defaults
    allocator = contextlib.ExitStack()
    row["malloc"] = "reuse" if allocator.enter_context(
        reusing_freed_memory()) else "system"
    model.train()
    model.on_epoch_start(0)
    refresh_s = 0.0
    if item_history:  # once per epoch: part of the epoch's cost
        from mmgraph.train.sampled import refresh_item_history
        t = time.perf_counter()
        refresh_item_history(model)
        refresh_s = time.perf_counter() - t
        say(f"item history refreshed in {refresh_s:.1f} s")
    whole_epoch = batches <= 0
    n_batches = -(-ds.train_edge_index.size(1) //
                  (trainer.config.batch_size * world_size()))
    epoch_t, epoch_cpu = time.perf_counter(), time.process_time()
    it = iter(trainer.batches(0))
    trainer.training_step(next(it))  # warm-up
    t, cpu, done = time.perf_counter(), time.process_time(), 0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    nodes = 0
    for batch in it:
        trainer.training_step(batch)
        done += 1
        if getattr(batch, "is_subgraph", False):
            nodes += batch.user_ids.numel() + batch.item_ids.numel()
        if whole_epoch and done % 100 == 0:
            # a whole epoch at MicroLens' shape is thousands of batches
            say(f"batch {done + 1}/{n_batches}, "
                f"{time.perf_counter() - epoch_t:.0f} s")
        if not whole_epoch and done >= batches:
            break
    if whole_epoch:  # measured, warm-up batch included
        row["epoch_s"] = time.perf_counter() - epoch_t
        row["epoch_cpu_s"] = time.process_time() - epoch_cpu
    if nodes:  # how much of the graph a sampled step touches
        row["subgraph_node_share"] = nodes / max(done, 1) / (
            ds.num_users + ds.num_items)
    per_batch = (time.perf_counter() - t) / max(done, 1)
    # CPU seconds too: on a shared, loaded machine the clock is noisy
    row["batch_cpu_s"] = (time.process_time() - cpu) / max(done, 1)
    # the kernel's share of it, and the page faults behind that share
    # (benchmarks/allocator.py compares them with and without reuse)
    after = resource.getrusage(resource.RUSAGE_SELF)
    row["batch_sys_s"] = (after.ru_stime - usage.ru_stime) / max(done, 1)
    row["batch_page_faults"] = (after.ru_minflt - usage.ru_minflt) / max(
        done, 1)
    row.update(batch_s=per_batch, batches_per_epoch=n_batches,
               batch_size=trainer.config.batch_size,
               sparse_features=sparse_features, item_history=item_history,
               history_refresh_s=refresh_s,
               epoch_s_extrapolated=per_batch * n_batches + refresh_s,
               peak_train_gib=peak_rss_gib())
    row["eval_s"] = row["peak_eval_gib"] = float("nan")
    if evaluate:
        say("training timed; evaluating")
        t = time.perf_counter()
        trainer.evaluator.evaluate(model, "valid")
        row["eval_s"] = time.perf_counter() - t
        row["peak_eval_gib"] = peak_rss_gib()
    allocator.close()
    return row


def run_worker(cmd: List[str], env: Dict[str, str]):
    r"""Runs one worker; its progress lines (stdout) are shown as they
    come, so an hour-long epoch is not silent. Returns the exit code, the
    ``ROW`` payloads and the worker's stderr (for a failure's last line)."""
    import tempfile
    with tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err,
                                text=True, env=env)
        found = []
        for line in proc.stdout:
            if line.startswith("ROW "):
                found.append(line[4:])
            else:
                print(line, end="", file=sys.stderr, flush=True)
        proc.wait()
        err.seek(0)
        return proc.returncode, found, err.read()


def table(rows: List[Dict[str, Any]]) -> str:
    cols = ["model", "mode", "procs", "threads", "batch_size", "load_s",
            "build_s",
            "batch_s", "batch_cpu_s",
            "epoch_s_extrapolated", "epoch_s", "eval_s", "peak_load_gib",
            "peak_build_gib", "peak_train_gib", "peak_eval_gib",
            "subgraph_node_share"]
    lines = ["| " + " | ".join(cols) + " |",
             "|" + "---|" * len(cols)]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r.get('mode', '')} | "
                         f"{r.get('procs', '')} | error: {r['error']} |")
            continue
        cells = [f"{r.get(c):.2f}" if isinstance(r.get(c), float)
                 else str(r.get(c, "")) for c in cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report_label(report: Dict[str, Any]) -> str:
    r"""A short name of a report's settings, e.g. ``sampled [5, 5] kNN 3
    history`` or ``full, 2 procs``."""
    parts = [report.get("mode", "?")]
    if report.get("mode") == "sampled":
        parts.append(str(report.get("num_neighbors")))
        if report.get("item_neighbors", -1) != -1:
            parts.append(f"kNN {report['item_neighbors']}")
    parts += [name for key, name in (("sparse_features", "sparse"),
                                     ("item_history", "history"))
              if report.get(key)]
    label = " ".join(parts)
    return label if report.get("procs", 1) == 1 else \
        f"{label}, {report['procs']} procs"


def chart(paths: Sequence[Path], out: Path) -> Path:
    r"""Draws seconds per batch (log scale) per model, one bar per report
    (:func:`report_label`), from ``scale-*.json`` reports; the full graph
    and the samples of one model stand side by side, so the speed-up reads
    as a height, and each sample's bar is labelled with it. A model measured
    more than once under the same settings keeps its lowest time; rows that
    failed are left out. Returns :obj:`out`."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mmgraph.report import figure_png
    bars: Dict[str, Dict[str, float]] = {}  # label -> model -> s / batch
    models: List[str] = []
    for path in paths:
        try:
            report = json.loads(Path(path).read_text())
        except (OSError, ValueError) as err:
            raise SystemExit(f"--chart: {path}: not a readable scale "
                             f"report ({err})") from None
        label = report_label(report)
        for row in report.get("rows", []):
            if "batch_s" not in row:
                continue
            # repeats under the same settings: the lowest (for the full
            # graph the smaller, conservative speed-up)
            seen = bars.setdefault(label, {})
            seen[row["model"]] = min(row["batch_s"],
                                     seen.get(row["model"], float("inf")))
            if row["model"] not in models:
                models.append(row["model"])
    if not bars:
        raise SystemExit("--chart: the reports hold no measured rows")
    labels = sorted(bars, key=lambda k: (not k.startswith("full"), k))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    width = 0.8 / max(sum(m in bars[k] for k in labels) for m in models)
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(models), 4.2))
    for i, model in enumerate(models):
        present = [k for k in labels if model in bars[k]]
        full = next((bars[k][model] for k in present
                     if k.startswith("full")), None)
        for j, label in enumerate(present):
            x = i + (j - (len(present) - 1) / 2) * width
            y = bars[label][model]
            ax.bar(x, y, width, color=colors[labels.index(label) %
                                             len(colors)])
            if full is not None and not label.startswith("full"):
                ax.annotate(f"{full / y:.1f}×", (x, y), ha="center",
                            va="bottom", fontsize=7)
    ax.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=colors[j % len(
        colors)]) for j in range(len(labels))], labels=labels, fontsize=7)
    ax.set_yscale("log")
    ax.set_xticks(range(len(models)), models)
    ax.set_ylabel("seconds per training batch (log)")
    return atomic_write_bytes(out, figure_png(fig))


def merged_rows(path: Path, report: Dict[str, Any]) -> List[Dict[str, Any]]:
    r"""The rows of an earlier report at :obj:`path` measured under the same
    settings (shape, mode, processes, fan-outs), with this run's models
    replacing theirs, so that measuring one model at a time builds one
    table (an hour-long MicroLens row is not lost to the next model's run).
    An earlier report under other settings is replaced, and said so."""
    if not path.exists():
        return report["rows"]
    try:
        earlier = json.loads(path.read_text())
    except ValueError:
        print(f"{path}: not a readable report; replaced", flush=True)
        return report["rows"]
    keys = ("shape", "mode", "procs", "num_neighbors", "item_neighbors",
            "batch_size", "sparse_features", "item_history", "malloc")
    # reports from before these options existed used their defaults (and
    # glibc's allocator settings)
    before = {"batch_size": 0, "sparse_features": False,
              "item_history": False, "malloc": "system"}
    if any(earlier.get(k, before.get(k)) != report[k] for k in keys):
        print(f"{path}: measured under other settings; replaced", flush=True)
        return report["rows"]
    models = {row["model"] for row in report["rows"]}
    return [row for row in earlier.get("rows", [])
            if row.get("model") not in models] + report["rows"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    for key in ("users", "items", "interactions", "image_dim", "text_dim"):
        p.add_argument("--" + key.replace("_", "-"), type=int, default=None)
    p.add_argument("--min-degree", type=int, default=5)
    p.add_argument("--models", default="lightgcn")
    p.add_argument("--batches", type=int, default=10,
                   help="training batches to time after a warm-up one; 0 "
                   "trains one whole epoch and reports its measured seconds "
                   "(epoch_s) beside the extrapolation")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=0,
                   help="training batch size per process (0 = the "
                   "model's default, 2048 for most)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mode", choices=["full", "sampled"], default="full")
    p.add_argument("--num-neighbors", default="10,10",
                   help="fan-out per hop of --mode sampled (-1 = all)")
    p.add_argument("--item-neighbors", type=int, default=-1,
                   help="fan-out per hop over the item-item kNN relation of "
                   "--mode sampled, for CM3 and LIRDRec (-1 = all k)")
    p.add_argument("--procs", type=int, choices=[1, 2], default=1)
    p.add_argument("--sparse-features", action="store_true",
                   help="row-sparse (lazy) Adam for the trainable feature "
                   "tables of BM3 and FREEDOM (train sparse_features)")
    p.add_argument("--item-history", action="store_true",
                   help="--mode sampled: encode only the batch's items with "
                   "CM3's and LIRDRec's MLPs, the rest of the subgraph from "
                   "a per-epoch history (train item_history)")
    p.add_argument("--no-eval", action="store_true",
                   help="skip the validation pass (it is full-graph, the "
                   "same in both modes)")
    p.add_argument("--out")
    p.add_argument("--chart", nargs="+", metavar="PATH",
                   help="draw FIG.png from scale-*.json reports instead of "
                   "measuring: --chart FIG.png REPORT.json [REPORT.json ...]")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.chart:
        if len(args.chart) < 2:
            p.error("--chart: expected FIG.png and at least one report")
        print(chart([Path(x) for x in args.chart[1:]], Path(args.chart[0])))
        return 0
    if not args.out:
        p.error("--out: required (where the data and the reports go)")
    if args.batches < 0:
        p.error(f"--batches: expected 0 (one whole epoch) or a positive "
                f"count, got {args.batches}")
    if args.batch_size < 0:
        p.error(f"--batch-size: expected 0 (the model's default) or a "
                f"positive size, got {args.batch_size}")
    if args.item_history and args.mode != "sampled":
        p.error("--item-history: needs --mode sampled (a full-graph step "
                "encodes every item anyway)")
    out = Path(args.out)
    name = f"scale-{args.shape}"
    fanout = [int(k) for k in args.num_neighbors.split(",")]
    if args.worker:
        row = measure(str(out / "data"), name, args.worker, args.batches,
                      args.threads, args.mode, fanout, not args.no_eval,
                      args.item_neighbors, args.batch_size,
                      args.sparse_features, args.item_history)
        if int(os.environ.get("RANK", "0")) == 0:
            print("ROW " + json.dumps(row), flush=True)
        return 0
    shape = dict(SHAPES[args.shape])
    for key in shape:
        if getattr(args, key) is not None:
            shape[key] = getattr(args, key)
    data_dir = out / "data"
    if not (data_dir / f"{name}.inter").exists():
        t = time.perf_counter()
        data = generate(min_degree=args.min_degree, seed=args.seed, **shape)
        write_folder(data, data_dir, name)
        print(f"generated {shape} in {time.perf_counter() - t:.1f} s "
              f"(peak {peak_rss_gib():.2f} GiB)", flush=True)
        del data
    rows = []
    for model in args.models.split(","):
        launch = [sys.executable] if args.procs == 1 else [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc_per_node", str(args.procs)]
        cmd = launch + [__file__, "--worker", model, "--shape", args.shape,
                        "--out", str(out), "--batches", str(args.batches),
                        "--threads", str(args.threads), "--mode", args.mode,
                        "--num-neighbors", args.num_neighbors,
                        "--item-neighbors", str(args.item_neighbors),
                        "--batch-size", str(args.batch_size)] + (
                            ["--no-eval"] if args.no_eval else []) + (
                            ["--sparse-features"] if args.sparse_features
                            else []) + (
                            ["--item-history"] if args.item_history else [])
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        returncode, found, err = run_worker(cmd, env)
        if returncode or not found:
            tail = (err.strip().splitlines() or ["?"])[-1]
            rows.append({"model": model, "mode": args.mode,
                         "procs": args.procs, "error": tail})
        else:
            rows.append(json.loads(found[-1]))
        print(table(rows[-1:]), flush=True)
    tag = f"{args.mode}-p{args.procs}" + (
        "-sparse" if args.sparse_features else "") + (
        "-history" if args.item_history else "")
    report = {"shape": shape, "mode": args.mode, "procs": args.procs,
              "num_neighbors": fanout, "item_neighbors": args.item_neighbors,
              "batch_size": args.batch_size,
              "sparse_features": args.sparse_features,
              "item_history": args.item_history,
              # what the workers' allocator was (all alike: one setting)
              "malloc": next((r["malloc"] for r in rows if "malloc" in r),
                             "system"), "rows": rows}
    report["rows"] = merged_rows(out / f"scale-{tag}.json", report)
    atomic_write_json(out / f"scale-{tag}.json", report)
    text = table(report["rows"])
    atomic_write_text(out / f"scale-{tag}.md", f"shape: {shape}\n\n{text}\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
