r"""A bounded load test of ``mmgraph serve``: requests/s and p50/p99 latency.

The server runs in a **separate process** (so the client threads do not
compete with it for the GIL) on ``127.0.0.1`` and a free port; ``C`` client
threads, each with one keep-alive HTTP/1.1 connection, ask
``/recommend?user=<random raw id>&k=K`` until ``--requests`` requests are
done or ``--seconds`` have passed, whichever comes first; then the server is
stopped. Nothing but the loopback interface is touched.

What is served (one of):

* ``--run R`` -- a trained run folder (or an ``npz`` export);
* default -- a small synthetic run trained here first (LightGCN, 2 epochs on
  the built-in synthetic set, 1000 users x ~500 items, in a temporary folder);
* ``--random U,I`` -- random ``d=64`` embeddings of ``U`` users and ``I``
  items with 9 training items per user (e.g. ``22363,12101``: Amazon
  Beauty's size), to see the latency at a realistic catalogue size.

Before timing, one answer per tried user is checked against
:meth:`~mmgraph.export.EmbeddingIndex.topk` (the ``recommend`` ranking).

Usage::

    python benchmarks/serve_load.py                       # synthetic run
    python benchmarks/serve_load.py --random 22363,12101  # Beauty-sized
    python benchmarks/serve_load.py --run RUN --concurrency 8 --requests 5000
"""
from __future__ import annotations

import argparse
import http.client
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def random_index(num_users: int, num_items: int, dim: int = 64,
                 per_user: int = 9, seed: int = 0):
    r"""An :class:`~mmgraph.export.EmbeddingIndex` of random embeddings with
    ``per_user`` random training items per user."""
    from mmgraph.export import EmbeddingIndex
    g = torch.Generator().manual_seed(seed)
    items = torch.randint(num_items, (num_users, per_user), generator=g)
    items = torch.sort(items, 1).values.reshape(-1)
    indptr = torch.arange(num_users + 1) * per_user
    return EmbeddingIndex(torch.randn(num_users, dim, generator=g),
                          torch.randn(num_items, dim, generator=g),
                          [f"u{i}" for i in range(num_users)],
                          [f"i{i}" for i in range(num_items)], indptr, items,
                          model="random")


def synthetic_index(workdir: Path):
    from mmgraph.export import EmbeddingIndex
    from mmgraph.experiment import train_model
    run = workdir / "run"
    train_model("lightgcn", "synthetic", overrides={"epochs": 2, "seed": 0},
                out_dir=run, show_progress=False)
    return EmbeddingIndex.from_run(run)


def start_server(npz: Path, threads: int):
    r"""Starts ``serve`` on the npz in a child process; returns
    ``(process, port)``."""
    code = ("import sys, torch; torch.set_num_threads(int(sys.argv[2]));"
            "from mmgraph.serve import serve;"
            "serve(sys.argv[1], '127.0.0.1', 0, on_ready=lambda s: "
            "print(s.server_address[1], flush=True))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(npz),
                             str(threads)], stdout=subprocess.PIPE,
                            cwd=str(REPO), text=True)
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        proc.kill()
        raise SystemExit(f"the server did not start (said {line!r})")
    return proc, int(line)


def get(conn: http.client.HTTPConnection, path: str):
    conn.request("GET", path)
    r = conn.getresponse()
    return r.status, json.loads(r.read())


def load(port: int, users: List[str], k: int, concurrency: int,
         requests: int, seconds: float):
    r"""Returns ``(latencies in s, errors, wall seconds)``."""
    latencies: List[float] = []
    errors = [0]
    lock = threading.Lock()
    budget = [requests]
    deadline = time.perf_counter() + seconds

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: List[float] = []
        try:
            while time.perf_counter() < deadline:
                with lock:
                    if budget[0] <= 0:
                        break
                    budget[0] -= 1
                path = f"/recommend?user={rng.choice(users)}&k={k}"
                t0 = time.perf_counter()
                status, _ = get(conn, path)
                mine.append(time.perf_counter() - t0)
                if status != 200:
                    errors[0] += 1
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(i,))
               for i in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors[0], time.perf_counter() - t0


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", help="run folder or npz export")
    p.add_argument("--random", help="U,I: random embeddings of this size")
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--requests", type=int, default=2000,
                   help="stop after this many requests (default 2000)")
    p.add_argument("--seconds", type=float, default=30.0,
                   help="... or after this many seconds (default 30)")
    p.add_argument("--server-threads", type=int, default=1,
                   help="torch threads of the server process (default 1)")
    args = p.parse_args(argv)
    from mmgraph.export import EmbeddingIndex
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.run:
            index = EmbeddingIndex.load_npz(args.run) if \
                Path(args.run).is_file() else EmbeddingIndex.from_run(args.run)
            what = f"run {args.run}"
        elif args.random:
            u, i = (int(x) for x in args.random.split(","))
            index, what = random_index(u, i), f"random {u} users x {i} items"
        else:
            index = synthetic_index(tmp)
            what = "synthetic LightGCN run (2 epochs)"
        npz = index.save_npz(tmp / "index.npz")
        proc, port = start_server(npz, args.server_threads)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            rng = np.random.default_rng(0)
            check = rng.choice(index.num_users, size=min(20, index.num_users),
                               replace=False)
            want, _ = index.topk(torch.as_tensor(check), args.k)
            for u, row in zip(check.tolist(), want.tolist()):
                status, body = get(conn, f"/recommend?user="
                                   f"{index.user_ids[u]}&k={args.k}")
                got = [r["item"] for r in body["items"]]
                if status != 200 or got != [index.item_ids[i] for i in row
                                            if i >= 0]:
                    raise SystemExit(f"user {index.user_ids[u]}: served list "
                                     f"differs from EmbeddingIndex.topk")
            conn.close()
            lat, errors, wall = load(port, index.user_ids.tolist(), args.k,
                                     args.concurrency, args.requests,
                                     args.seconds)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    lat_ms = np.sort(np.asarray(lat)) * 1e3
    print(f"served: {what} ({index.num_users} users, {index.num_items} "
          f"items, d={index.user_emb.size(1)}), k={args.k}")
    print(f"checked {len(check)} answers against recommend: identical")
    print(f"{len(lat)} requests, {args.concurrency} client threads, "
          f"{errors} errors, {wall:.2f} s")
    print(f"throughput {len(lat) / wall:.0f} requests/s; latency p50 "
          f"{np.percentile(lat_ms, 50):.2f} ms, p99 "
          f"{np.percentile(lat_ms, 99):.2f} ms, max {lat_ms[-1]:.2f} ms")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
