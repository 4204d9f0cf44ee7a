r"""Training steps with glibc's allocator defaults against
:func:`mmgraph.runtime.reusing_freed_memory`, side by side in one run.

Each model's step is timed twice by ``benchmarks/scale.py``'s worker, on the
same data folder and settings, once with ``MMGRAPH_MALLOC=system`` (glibc's
defaults: every block above 32 MiB is a fresh ``mmap``, faulted in page by
page) and once reusing freed memory, as ``Trainer.fit`` runs. The table
gives user and kernel CPU seconds, page faults and wall seconds per batch,
and the speed-up.

Usage::

    python benchmarks/allocator.py --shape elec --models lightgcn,cm3 \
        --mode full --out /work/scratch/scale/elec     # Elec's shape
    python benchmarks/allocator.py --shape tiny --out /tmp/alloc  # a look

The data folder is ``--out``/data, generated as by ``scale.py`` when
missing (``--shape``); the report is ``allocator-<mode>.json``/``.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run from a checkout
    sys.path.insert(0, str(HERE.parent))
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import scale  # noqa: E402  (benchmarks/scale.py)

from mmgraph.io import atomic_write_json, atomic_write_text  # noqa: E402
from mmgraph.report import format_table  # noqa: E402

SETTINGS = ("system", "reuse")


def compare(rows: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    r"""One table row from a model's ``system`` and ``reuse`` worker rows."""
    sys_row, reuse = rows["system"], rows["reuse"]
    out: Dict[str, Any] = {"model": reuse["model"], "mode": reuse["mode"]}
    for name, row in (("system", sys_row), ("reuse", reuse)):
        user = row["batch_cpu_s"] - row["batch_sys_s"]
        out.update({f"{name}_user_s": user,
                    f"{name}_kernel_s": row["batch_sys_s"],
                    f"{name}_page_faults": row["batch_page_faults"],
                    f"{name}_wall_s": row["batch_s"],
                    f"{name}_peak_train_gib": row["peak_train_gib"]})
    out["speedup_wall"] = sys_row["batch_s"] / max(reuse["batch_s"], 1e-9)
    out["speedup_cpu"] = sys_row["batch_cpu_s"] / max(reuse["batch_cpu_s"],
                                                      1e-9)
    return out


def render(rows: List[Dict[str, Any]]) -> str:
    head = ["model", "mode", "defaults: user + kernel s", "page faults",
            "reuse: user + kernel s", "page faults", "wall speed-up",
            "CPU speed-up", "peak GiB (defaults / reuse)"]
    body = []
    for r in rows:
        if "error" in r:
            body.append([r["model"], r.get("mode", ""), "error: " +
                         r["error"], "", "", "", "", "", ""])
            continue
        body.append([
            r["model"], r["mode"],
            f"{r['system_user_s']:.2f} + {r['system_kernel_s']:.2f}",
            f"{r['system_page_faults']:,.0f}",
            f"{r['reuse_user_s']:.2f} + {r['reuse_kernel_s']:.2f}",
            f"{r['reuse_page_faults']:,.0f}",
            f"{r['speedup_wall']:.2f}x", f"{r['speedup_cpu']:.2f}x",
            f"{r['system_peak_train_gib']:.2f} / "
            f"{r['reuse_peak_train_gib']:.2f}"])
    return format_table(body, head, markdown=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", choices=sorted(scale.SHAPES), default="tiny")
    p.add_argument("--models", default="lightgcn")
    p.add_argument("--mode", choices=["full", "sampled"], default="full")
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--item-history", action="store_true",
                   help="--mode sampled: CM3's and LIRDRec's item history")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    if args.batches < 1:
        p.error(f"--batches: expected a positive count, got {args.batches}")
    out = Path(args.out)
    name = f"scale-{args.shape}"
    if not (out / "data" / f"{name}.inter").exists():
        scale.write_folder(scale.generate(min_degree=5, seed=0,
                                          **scale.SHAPES[args.shape]),
                           out / "data", name)
    rows = []
    for model in args.models.split(","):
        found: Dict[str, Dict[str, Any]] = {}
        for setting in SETTINGS:
            cmd = [sys.executable, str(HERE / "scale.py"), "--worker", model,
                   "--shape", args.shape, "--out", str(out), "--batches",
                   str(args.batches), "--mode", args.mode, "--no-eval"] + (
                       ["--item-history"] if args.item_history else [])
            env = dict(os.environ, OMP_NUM_THREADS="1",
                       MMGRAPH_MALLOC=setting)
            code, payloads, err = scale.run_worker(cmd, env)
            if code or not payloads:
                tail = (err.strip().splitlines() or ["?"])[-1]
                found = {"error": {"model": model, "mode": args.mode,
                                   "error": tail}}
                break
            found[setting] = json.loads(payloads[-1])
        rows.append(found["error"] if "error" in found else compare(found))
        print(render(rows[-1:]), flush=True)
    report = {"shape": scale.SHAPES[args.shape], "mode": args.mode,
              "batches": args.batches, "item_history": args.item_history,
              "rows": rows}
    atomic_write_json(out / f"allocator-{args.mode}.json", report)
    text = render(rows)
    atomic_write_text(out / f"allocator-{args.mode}.md", text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
