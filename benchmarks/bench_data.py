r"""Data-pipeline benchmark: load a prepared MMRec folder and build its
item–item kNN graph with mmgraph's chunked top-k, next to the naive build
(dense I x I cosine matrix + topk) as the side-by-side baseline.

Usage::

    python benchmarks/bench_data.py /work/prepared/amazon-sports [--k 10] [--chunk-size 4096]

Time is wall clock (best of ``--repeat``); memory is the peak resident-set
growth during the step, sampled from ``/proc/self/statm`` every 2 ms
(torch's CPU allocations are invisible to tracemalloc).
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import threading
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from mmgraph.data import RecDataset, knn_graph, normalized_adjacency  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except OSError:  # not Linux: fall back to the (monotonic) peak
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakRSS:
    r"""Context manager: peak RSS growth (bytes) while the block runs."""

    def __enter__(self):
        gc.collect()
        self.base = self.peak = _rss()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._poll, daemon=True)
        self._t.start()
        return self

    def _poll(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.002)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _rss())
        self.growth = self.peak - self.base


def dense_knn(x: torch.Tensor, k: int):
    r"""The naive reference build (as in FREEDOM's get_knn_adj_mat)."""
    xn = x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)
    sim = xn @ xn.t()                           # dense I x I
    idx = torch.topk(sim, k, dim=1).indices
    rows = torch.arange(x.size(0)).repeat_interleave(k)
    return torch.stack([rows, idx.reshape(-1)]), torch.full((rows.numel(),), 1.0 / k)


def measure(fn, repeat: int):
    best, growth, out = float("inf"), 0, None
    for _ in range(repeat):
        out = None
        with PeakRSS() as m:
            t = time.perf_counter()
            out = fn()
            dt = time.perf_counter() - t
        best, growth = min(best, dt), max(growth, m.growth)
    return out, best, growth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("folder", type=Path, help="prepared MMRec folder (e.g. amazon-sports)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--chunk-size", type=int, default=4096)
    ap.add_argument("--modality", default=None, help="default: the first modality")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-dense", action="store_true", help="skip the dense baseline")
    args = ap.parse_args()

    ds, t_load, m_load = measure(lambda: RecDataset.from_folder(args.folder), 1)
    modality = args.modality or ds.modalities[0]
    x = ds.features[modality]
    _, t_adj, m_adj = measure(lambda: normalized_adjacency(ds.train_edge_index, ds.num_users,
                                                          ds.num_items), args.repeat)
    (ei, _), t_knn, m_knn = measure(lambda: knn_graph(x, args.k, args.chunk_size), args.repeat)
    rows = [("load folder (.inter + features)", t_load, m_load),
            ("normalised adjacency (CSR)", t_adj, m_adj),
            (f"kNN chunked (chunk={args.chunk_size})", t_knn, m_knn)]
    agree = None
    if not args.no_dense:
        (ei_d, _), t_dense, m_dense = measure(lambda: dense_knn(x, args.k), args.repeat)
        rows.append(("kNN naive dense I x I + topk", t_dense, m_dense))
        a = set(zip(*ei.tolist()))
        agree = len(a & set(zip(*ei_d.tolist()))) / len(a)

    n_inter = sum(ds.split_edge_index(s).size(1) for s in ("train", "valid", "test"))
    print(f"dataset {ds.name}: {ds.num_users} users, {ds.num_items} items, {n_inter} "
          f"interactions; kNN on '{modality}' {tuple(x.shape)}, k={args.k}; "
          f"torch threads={torch.get_num_threads()}")
    w = max(len(r[0]) for r in rows)
    print(f"| {'step'.ljust(w)} | time (s) | peak RSS growth (MiB) |")
    print(f"|{'-' * (w + 2)}|---------:|----------------------:|")
    for name, t, m in rows:
        print(f"| {name.ljust(w)} | {t:8.3f} | {m / 2**20:21.1f} |")
    if not args.no_dense:
        print(f"\nchunked vs dense: time ratio dense/chunked = {t_dense / t_knn:.2f}x, "
              f"peak-memory ratio dense/chunked = {m_dense / max(m_knn, 1):.1f}x; "
              f"edge agreement {100 * agree:.2f}% (differences = tie order only)")


if __name__ == "__main__":
    main()
