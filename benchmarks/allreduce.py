r"""Gradient exchange between two gloo ranks, the ways side by side in one run.

Dense gradients: the whole set flattened into one buffer, all-reduced and
copied back (what ``mmgraph.distributed.all_reduce_gradients`` did for every
gradient), against each large gradient all-reduced in place (what it does
now for those of ``IN_PLACE_NUMEL`` elements or more). Row-sparse
gradients (``sparse_features``): each rank's rows all-gathered, against the
union of the rows agreed by a one-byte-per-row mask and all-reduced as one
dense block (``all_reduce_row_sparse``).

Usage::

    python benchmarks/allreduce.py --shape elec --out /tmp/allreduce
    python benchmarks/allreduce.py --shape tiny --out /tmp/allreduce

``--shape elec`` uses the tables of Elec's shape: LightGCN's two ID tables
(192,403 and 63,001 rows of 64) and BM3's rows of the 4,096-d image table
touched by a batch of 2,048 items per rank. The report is
``allreduce.json`` / ``allreduce.md``: wall and CPU seconds per exchange
(rank 0), and the speed-up.
"""
from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # run from a checkout
    sys.path.insert(0, str(HERE.parent))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402

from mmgraph.io import atomic_write_json, atomic_write_text  # noqa: E402
from mmgraph.report import format_table  # noqa: E402

SHAPES = {
    # (dense tables as (rows, dim)), (sparse table rows, dim, rows per rank)
    "elec": ([(192_403, 64), (63_001, 64)], (63_001, 4096, 2048)),
    "tiny": ([(3_000, 16), (1_000, 16)], (1_000, 32, 64)),
}


def _flat(grads: List[torch.Tensor], n: int) -> None:
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat.div_(n)
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def _gather_rows(grad: torch.Tensor) -> torch.Tensor:
    # each rank's rows and values gathered (padded to the longest rank)
    n = dist.get_world_size()
    grad = grad.coalesce()
    rows, values = grad.indices()[0], grad.values()
    count = torch.tensor([rows.numel()])
    counts = [torch.zeros_like(count) for _ in range(n)]
    dist.all_gather(counts, count)
    sizes = [int(c) for c in counts]
    pad = max(sizes) - rows.numel()
    rows = torch.cat([rows, rows.new_zeros(pad)])
    values = torch.cat([values, values.new_zeros((pad,) + values.shape[1:])])
    all_rows = [torch.empty_like(rows) for _ in range(n)]
    all_values = [torch.empty_like(values) for _ in range(n)]
    dist.all_gather(all_rows, rows)
    dist.all_gather(all_values, values)
    rows = torch.cat([r[:k] for r, k in zip(all_rows, sizes)])
    values = torch.cat([v[:k] for v, k in zip(all_values, sizes)])
    return torch.sparse_coo_tensor(rows.unsqueeze(0), values.div_(n),
                                   grad.shape).coalesce()


def _time(fn, repeats: int) -> Dict[str, float]:
    fn()
    dist.barrier()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        fn()
    return {"wall_s": (time.perf_counter() - wall) / repeats,
            "cpu_s": (time.process_time() - cpu) / repeats}


def _rank_main(rank: int, port: int, shape: str, repeats: int,
               out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    from mmgraph.distributed import (all_reduce_gradients,
                                     all_reduce_row_sparse)
    dense, (rows, dim, per_rank) = SHAPES[shape]
    gen = torch.Generator().manual_seed(rank)
    params = [torch.nn.Parameter(torch.zeros(s)) for s in dense]
    for p in params:
        p.grad = torch.randn(p.shape, generator=gen)
    touched = torch.randperm(rows, generator=gen)[:per_rank]
    sparse = torch.sparse_coo_tensor(
        touched.unsqueeze(0), torch.randn(per_rank, dim, generator=gen),
        (rows, dim))
    # the two row-sparse ways agree before they are timed
    a, b = _gather_rows(sparse).to_dense(), all_reduce_row_sparse(sparse)
    assert torch.allclose(a, b.to_dense())
    results = {
        "dense_flat": _time(lambda: _flat([p.grad for p in params], 2),
                            repeats),
        "dense_in_place": _time(lambda: all_reduce_gradients(params),
                                repeats),
        "sparse_all_gather": _time(lambda: _gather_rows(sparse), repeats),
        "sparse_row_union": _time(lambda: all_reduce_row_sparse(sparse),
                                  repeats),
    }
    if rank == 0:
        torch.save(results, out)
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(shape: str, repeats: int) -> List[Dict[str, Any]]:
    r"""Runs the two ranks; returns the table's rows (rank 0's timings)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "rank0.pt")
        mp.spawn(_rank_main, args=(_free_port(), shape, repeats, path),
                 nprocs=2, join=True)
        res = torch.load(path, weights_only=True)
    dense, (rows, dim, per_rank) = SHAPES[shape]
    mb_dense = sum(r * d for r, d in dense) * 4 / 1e6
    mb_sparse = per_rank * dim * 4 / 1e6
    out = []
    for kind, before, after, mb in (
            ("dense tables", "dense_flat", "dense_in_place", mb_dense),
            ("row-sparse rows", "sparse_all_gather", "sparse_row_union",
             mb_sparse)):
        out.append({"gradient": kind, "MB per rank": mb,
                    "before": before, "before_wall_s": res[before]["wall_s"],
                    "before_cpu_s": res[before]["cpu_s"],
                    "now": after, "now_wall_s": res[after]["wall_s"],
                    "now_cpu_s": res[after]["cpu_s"],
                    "speedup": res[before]["wall_s"] /
                    max(res[after]["wall_s"], 1e-9)})
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="elec")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    rows = measure(args.shape, args.repeats)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    headers = ["gradient", "MB per rank", "before", "wall s", "CPU s",
               "now", "wall s ", "CPU s ", "speed-up"]
    table = format_table(
        [[r["gradient"], r["MB per rank"], r["before"], r["before_wall_s"],
          r["before_cpu_s"], r["now"], r["now_wall_s"], r["now_cpu_s"],
          r["speedup"]] for r in rows], headers, markdown=True)
    atomic_write_json(out / "allreduce.json",
                      {"shape": args.shape, "repeats": args.repeats,
                       "rows": rows})
    atomic_write_text(out / "allreduce.md", table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
