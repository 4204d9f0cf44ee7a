r"""Seconds per training epoch under data parallelism: wall and CPU time.

Run as one process or under ``torchrun``; rank 0 prints one line with the
mean wall seconds and the CPU seconds (summed over the ranks) per training
epoch and per validation pass, so runs on a shared, loaded machine can be
compared by the CPU they used as well as by the clock::

    OMP_NUM_THREADS=1 python benchmarks/distributed_epoch.py DATA --threads 1
    OMP_NUM_THREADS=1 python benchmarks/distributed_epoch.py DATA --threads 2
    OMP_NUM_THREADS=1 torchrun --nproc_per_node 2 \
        benchmarks/distributed_epoch.py DATA --threads 1
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from mmgraph.data import load_dataset
from mmgraph.distributed import (all_reduce_sum, init_from_env,
                                 is_main_process, world_size)
from mmgraph.models import create_model
from mmgraph.train import Trainer
from mmgraph.train.callbacks import Callback


class EpochClock(Callback):
    r"""Wall and process-CPU seconds of each epoch's training and
    validation (the record's ``train_seconds`` / ``eval_seconds`` split the
    wall time; the CPU time is split at the same point by
    :meth:`training_step` timing)."""

    def __init__(self) -> None:
        self.train_cpu = []
        self.epoch_cpu = []

    def on_epoch_start(self, trainer, epoch):
        self._cpu0 = time.process_time()

    def on_epoch_end(self, trainer, epoch, record):
        self.epoch_cpu.append(time.process_time() - self._cpu0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data")
    p.add_argument("--model", default="lightgcn")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=2048)
    p.add_argument("--seed", type=int, default=999)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    init_from_env("cpu")
    ds = load_dataset(args.data)
    model = create_model(args.model, ds)
    clock = EpochClock()
    trainer = Trainer(model, ds, dict(epochs=args.epochs, seed=args.seed,
                                      batch_size=args.batch_size,
                                      patience=1000),
                      callbacks=[clock], show_progress=False)
    # CPU time of the training part alone: wrap the epoch's batch loop.
    train_epoch = trainer.train_epoch
    train_cpu = []

    def timed(epoch):
        c0 = time.process_time()
        out = train_epoch(epoch)
        train_cpu.append(time.process_time() - c0)
        return out
    trainer.train_epoch = timed
    res = trainer.fit()
    n = len(trainer.history)
    wall_train = sum(h["train_seconds"] for h in trainer.history) / n
    wall_eval = sum(h["eval_seconds"] for h in trainer.history) / n
    cpu = all_reduce_sum(torch.tensor([sum(train_cpu) / n,
                                       sum(clock.epoch_cpu) / n
                                       - sum(train_cpu) / n],
                                      dtype=torch.float64))
    if is_main_process():
        print(json.dumps({
            "model": args.model, "dataset": ds.name, "users": ds.num_users,
            "items": ds.num_items, "train_pairs": ds.train_edge_index.size(1),
            "processes": world_size(), "threads": args.threads,
            "epochs": n, "steps_per_epoch_per_rank": -(
                -ds.train_edge_index.size(1)
                // (args.batch_size * world_size())),
            "wall_train_s_per_epoch": round(wall_train, 3),
            "wall_eval_s": round(wall_eval, 3),
            "cpu_train_s_per_epoch_all_ranks": round(float(cpu[0]), 3),
            "cpu_eval_s_all_ranks": round(float(cpu[1]), 3),
            "valid_recall@20_last": trainer.history[-1]["valid"]["recall@20"],
            "test_recall@20": res["test"]["recall@20"]}))


if __name__ == "__main__":
    main()
