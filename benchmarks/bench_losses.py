r"""Forward + backward time of the uniformity losses (CM3's per-batch pair
terms): mmgraph's fused backward against the same expression left to
autograd, side by side; with ``--cm3-steps DATA``, whole CM3 training steps
on a prepared dataset with each version in turn.

* **mmgraph**: :func:`mmgraph.nn.losses.uniformity_loss` and
  :func:`~mmgraph.nn.losses.calibrated_uniformity_loss`, whose pair term
  works in place on one ``[B, B]`` buffer and backpropagates with two
  ``[B, B] x [B, d]`` products (of the weights and their transpose).
* **autograd**: the textbook expression, squared distances from the Gram
  matrix, clamped, masked diagonal, :func:`torch.logsumexp`
  (:func:`autograd_uniformity`, :func:`autograd_calibrated_uniformity`).

Shapes follow CM3: ``B`` = the batch size (2048), rows of size
:math:`(M + 1) \cdot 64` (128 for one modality, 192 for two), unit rows; the
calibration features are ``[B, 64]``. Methods are timed round-robin
(``--repeats`` rounds after a warm-up) so background load hits all alike;
best and median milliseconds, and ``ratio`` = autograd's median over
mmgraph's (higher = mmgraph faster). Values and gradients are checked to
agree before timing.

Usage::

    python benchmarks/bench_losses.py                        # CM3's shapes
    python benchmarks/bench_losses.py --batch 256 --repeats 3  # quick look
    python benchmarks/bench_losses.py --cm3-steps /work/prepared/amazon-beauty
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from mmgraph.nn.losses import (  # noqa: E402
    calibrated_uniformity_loss,
    uniformity_loss,
)
from mmgraph.report import format_table  # noqa: E402


def _autograd_pairs(x: Tensor, t: float,
                    offset: Optional[Tensor] = None) -> Tensor:
    sq = x.pow(2).sum(dim=-1)
    dist = (sq.view(-1, 1) + sq.view(1, -1) - 2 * (x @ x.t())).clamp_min(0.0)
    if offset is not None:
        dist = dist + offset
    n = x.size(0)
    eye = torch.eye(n, dtype=torch.bool, device=x.device)
    logits = (-t * dist).masked_fill(eye, float("-inf"))
    return torch.logsumexp(logits.view(-1), dim=0) - math.log(n * (n - 1))


def autograd_uniformity(x: Tensor, t: float = 2.0) -> Tensor:
    r""":func:`~mmgraph.nn.losses.uniformity_loss` as plain autograd."""
    return _autograd_pairs(x, t)


def autograd_calibrated_uniformity(x: Tensor, sim_x: Tensor, t: float = 2.0,
                                   min_sim: float = 0.0,
                                   max_sim: float = 1.0) -> Tensor:
    r""":func:`~mmgraph.nn.losses.calibrated_uniformity_loss` as plain
    autograd."""
    m = F.normalize(sim_x, dim=-1)
    sim = (m @ m.t()).clamp(min_sim, max_sim)
    return _autograd_pairs(x, t, 2.0 * sim - 2.0)


LossFn = Callable[[Tensor, Tensor], Tensor]


def loss_methods() -> Dict[str, Dict[str, LossFn]]:
    r"""``{loss: {method: fn(x, m)}}``, mmgraph first."""
    return {
        "uniformity": {
            "mmgraph": lambda x, m: uniformity_loss(x),
            "autograd": lambda x, m: autograd_uniformity(x)},
        "calibrated uniformity": {
            "mmgraph": lambda x, m: calibrated_uniformity_loss(x, m),
            "autograd": lambda x, m: autograd_calibrated_uniformity(x, m)},
    }


def _forward_backward(fn: LossFn, x: Tensor, m: Tensor
                      ) -> Tuple[float, Tensor, Tensor]:
    x = x.detach().requires_grad_()
    start = time.perf_counter()
    loss = fn(x, m)
    loss.backward()
    return time.perf_counter() - start, loss.detach(), x.grad


def check_agreement(batch: int, dim: int, seed: int = 0) -> float:
    r"""The largest gap between the methods' values and gradients (with a
    duplicated row, as sampled batches have); raises if over 1e-4."""
    g = torch.Generator().manual_seed(seed)
    x = F.normalize(torch.randn(batch, dim, generator=g), dim=-1)
    x[1] = x[0]
    m = torch.randn(batch, 64, generator=g)
    worst = 0.0
    for loss, methods in loss_methods().items():
        outs = [_forward_backward(fn, x, m)[1:] for fn in methods.values()]
        (v0, g0), rest = outs[0], outs[1:]
        for v, grad in rest:
            gap = max(abs(float(v - v0)), float((grad - g0).abs().max()))
            if gap > 1e-4:
                raise AssertionError(f"{loss}: methods differ by {gap:.2e}")
            worst = max(worst, gap)
    return worst


def time_losses(batch: int, dims: Sequence[int], repeats: int
                ) -> List[List[object]]:
    r"""Rows ``[loss, B, d, method, best ms, median ms, ratio]``."""
    rows: List[List[object]] = []
    for dim in dims:
        x = F.normalize(torch.randn(batch, dim), dim=-1)
        m = torch.randn(batch, 64)
        for loss, methods in loss_methods().items():
            for fn in methods.values():  # warm-up
                _forward_backward(fn, x, m)
            times: Dict[str, List[float]] = {n: [] for n in methods}
            for _ in range(repeats):
                for name, fn in methods.items():
                    times[name].append(_forward_backward(fn, x, m)[0])
            base = statistics.median(times["mmgraph"])
            for name, ts in times.items():
                med = statistics.median(ts)
                rows.append([loss, batch, dim, name, 1e3 * min(ts),
                             1e3 * med, med / base])
    return rows


def time_cm3_steps(data: str, steps: int, batch_size: int
                   ) -> List[List[object]]:
    r"""CM3 training steps on ``data`` (``Trainer.training_step``), the
    model's losses alternating between mmgraph's and the autograd
    expressions (patched into :mod:`mmgraph.models.cm3`) step by step. Rows
    ``[method, steps, best s, median s, ratio]``."""
    import mmgraph
    import mmgraph.models.cm3 as cm3_module

    dataset = mmgraph.load_dataset(data)
    torch.manual_seed(0)
    model = mmgraph.create_model("cm3", dataset)
    trainer = mmgraph.Trainer(model, dataset, {"batch_size": batch_size},
                              show_progress=False)
    versions = {
        "mmgraph": (uniformity_loss, calibrated_uniformity_loss),
        "autograd": (autograd_uniformity, autograd_calibrated_uniformity)}
    times: Dict[str, List[float]] = {n: [] for n in versions}
    batches = trainer.batches(0)
    try:
        trainer.training_step(next(batches))  # warm-up
        for step in range(2 * steps):
            name = list(versions)[step % 2]
            (cm3_module.uniformity_loss,
             cm3_module.calibrated_uniformity_loss) = versions[name]
            batch = next(batches)
            start = time.perf_counter()
            trainer.training_step(batch)
            times[name].append(time.perf_counter() - start)
    finally:
        (cm3_module.uniformity_loss,
         cm3_module.calibrated_uniformity_loss) = versions["mmgraph"]
    base = statistics.median(times["mmgraph"])
    return [[name, len(ts), min(ts), statistics.median(ts),
             statistics.median(ts) / base] for name, ts in times.items()]


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=2048,
                   help="rows per loss call (CM3's batch size)")
    p.add_argument("--dims", default="128,192",
                   help="comma-separated row sizes")
    p.add_argument("--repeats", type=int, default=7,
                   help="timed rounds after the warm-up")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cm3-steps", metavar="DATA",
                   help="also time CM3 training steps on this prepared "
                        "dataset (or 'synthetic')")
    p.add_argument("--steps", type=int, default=8,
                   help="timed CM3 steps per version")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    dims = [int(d) for d in args.dims.split(",")]
    print(f"torch {torch.__version__}, {args.threads} thread(s); "
          f"{args.repeats} timed rounds, round-robin over methods")
    gap = check_agreement(min(args.batch, 512), dims[0])
    print(f"values and gradients agree (largest gap {gap:.1e})\n")
    print(format_table(time_losses(args.batch, dims, args.repeats),
                       ["loss", "B", "d", "method", "best ms", "median ms",
                        "ratio"]))
    if args.cm3_steps:
        print(f"\nCM3 training steps on {args.cm3_steps} (batch "
              f"{args.batch}), versions alternating step by step:")
        print(format_table(time_cm3_steps(args.cm3_steps, args.steps,
                                          args.batch),
                           ["losses", "steps", "best s", "median s",
                            "ratio"]))


if __name__ == "__main__":
    main()
