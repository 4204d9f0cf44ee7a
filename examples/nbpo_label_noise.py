r"""Label-noise experiment of NBPO (`"Sampler Design for Implicit Feedback
Data by Noisy-label Robust Learning" <https://arxiv.org/abs/2007.07204>`_,
Yu & Qin, SIGIR 2020): hide a fraction of the training positives -- they
become unvoted items, i.e. false negatives -- train the same backbone with
BPR and with NBPO, and plot test Recall@20 against the hidden fraction.

The validation / test targets are untouched (the hidden pairs come from
the training split), every user keeps at least one training positive, so
all noise levels are evaluated on the same users and targets
(:func:`mmgraph.data.noise.hide_positives`). Besides the test metrics the
script reports how well each model recovers the hidden positives themselves
(``hidden recall@20``: the hidden pairs as targets, training items masked)
and, for NBPO, the mean flip probability :math:`\rho` on hidden pairs
vs. random unvoted pairs.

Runs on synthetic data by default::

    python examples/nbpo_label_noise.py --fast      # seconds (tests)
    python examples/nbpo_label_noise.py             # synthetic, a few min
    python examples/nbpo_label_noise.py --data /work/prepared/amazon-beauty \
        --out /work/results/nbpo/noise-beauty --epochs 30

Every (objective, fraction) run gets its own folder under ``OUT/runs`` and
finished runs are skipped, so the work can be split across processes
(``--objectives nbpo``, ``--fractions 0.2``) and the plot redrawn with
``--plot-only``. Written: ``OUT/summary.json`` and ``OUT/noise_recall.png``.
"""
import argparse
import json
import os
from pathlib import Path

import torch
from torch_geometric import seed_everything

from mmgraph.config import TrainConfig
from mmgraph.experiment import parse_override, resolve_config
from mmgraph.data import load_dataset
from mmgraph.data.noise import hide_positives
from mmgraph.evaluation import Evaluator
from mmgraph.io import atomic_write_json
from mmgraph.models import create_model
from mmgraph.report import format_table
from mmgraph.runs import RunFolder
from mmgraph.train import Trainer
from mmgraph.train.objectives import objective_hparams

METRIC = "recall@20"


def run_name(objective: str, fraction: float) -> str:
    return f"{objective}-hide{round(100 * fraction):02d}"


def mean_rho(objective, dataset, pairs: torch.Tensor) -> float:
    with torch.no_grad():
        return objective.flip.rho(pairs[0], pairs[1]).mean().item()


def random_unvoted(dataset, n: int, seed: int) -> torch.Tensor:
    r"""``n`` uniformly drawn (user, item) pairs that are in no split."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randint(dataset.num_users, (4 * n,), generator=g)
    i = torch.randint(dataset.num_items, (4 * n,), generator=g)
    key = u * dataset.num_items + i
    seen = torch.cat([dataset.train_edge_index, dataset.valid_edge_index,
                      dataset.test_edge_index,
                      getattr(dataset, "hidden_edge_index",
                              torch.empty(2, 0, dtype=torch.long))], 1)
    seen = seen[0] * dataset.num_items + seen[1]
    keep = ~torch.isin(key, seen)
    return torch.stack([u[keep][:n], i[keep][:n]])


def train_one(args, dataset, clean, objective: str, fraction: float,
              out: Path) -> dict:
    # objective.X overrides apply to the objectives that have X (the
    # flip-model keys are NBPO's; BPR has none)
    own = objective_hparams(objective)
    overrides = {k: v for k, v in args.overrides.items()
                 if not k.startswith("objective.")
                 or k.split(".", 1)[1] in own}
    overrides["objective"] = objective
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    overrides["seed"] = args.seed
    config = resolve_config(args.model, overrides=overrides)
    tc = TrainConfig(**config["train"])
    if fraction > 0:
        dataset = hide_positives(clean, fraction, seed=args.noise_seed)
    seed_everything(tc.seed)
    model = create_model(args.model, dataset, **config["model"])
    trainer = Trainer(model, dataset, tc, objective=objective,
                      objective_params=config["objective"],
                      callbacks=RunFolder(out).callbacks(),
                      extra_results={"config": config,
                                     "hidden_fraction": fraction,
                                     "noise_seed": args.noise_seed},
                      show_progress=False)
    res = trainer.fit()
    row = {"objective": objective, "fraction": fraction,
           "best_epoch": res["best_epoch"], "epochs": res["epochs"],
           "seconds_per_epoch": res["seconds_per_epoch"],
           "max_epochs": tc.epochs, "objective_params": config["objective"],
           "valid": res["valid"], "test": res["test"]}
    if fraction > 0:
        hidden = dataset.hidden_edge_index
        ev = Evaluator(dataset, ["recall", "ndcg"], [20],
                       tc.eval_batch_size)
        row["hidden"] = ev.evaluate(model, hidden)
        if objective == "nbpo":
            row["rho_hidden"] = mean_rho(trainer.objective, dataset, hidden)
            row["rho_unvoted"] = mean_rho(
                trainer.objective, dataset,
                random_unvoted(dataset, hidden.size(1), args.noise_seed))
    atomic_write_json(out / "noise_row.json", row)
    return row


def collect(out: Path) -> list:
    rows = [json.loads(p.read_text())
            for p in sorted((out / "runs").glob("*/noise_row.json"))]
    return sorted(rows, key=lambda r: (r["objective"], r["fraction"]))


def plot(rows: list, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for obj in sorted({r["objective"] for r in rows}):
        pts = [r for r in rows if r["objective"] == obj]
        ax.plot([100 * r["fraction"] for r in pts],
                [r["test"][METRIC] for r in pts], marker="o",
                label=obj.upper())
    ax.set_xlabel("hidden training positives (%)")
    ax.set_ylabel(f"test {METRIC}")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def table(rows: list) -> str:
    body = []
    for r in rows:
        h = r.get("hidden", {})
        body.append([r["objective"], f"{100 * r['fraction']:.0f}%",
                     r["valid"][METRIC], r["test"][METRIC],
                     r["test"]["ndcg@20"], h.get(METRIC, float("nan")),
                     r.get("rho_hidden", float("nan")),
                     r.get("rho_unvoted", float("nan")),
                     f"{r['best_epoch']}/{r['epochs']}"])
    return format_table(body, ["objective", "hidden", f"valid {METRIC}",
                               f"test {METRIC}", "test ndcg@20",
                               f"hidden {METRIC}", "rho hidden",
                               "rho unvoted", "best/epochs"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="synthetic",
                    help="'synthetic' or a prepared MMRec folder")
    ap.add_argument("--model", default="lightgcn")
    ap.add_argument("--objectives", default="bpr,nbpo")
    ap.add_argument("--fractions", default="0,0.1,0.2,0.4")
    ap.add_argument("--epochs", type=int, help="cap on training epochs")
    ap.add_argument("--seed", type=int, default=999, help="training seed")
    ap.add_argument("--noise-seed", type=int, default=0,
                    help="seed of the hidden positives")
    ap.add_argument("--set", action="append", default=[],
                    metavar="KEY=VALUE", help="config override (repeatable),"
                    " e.g. objective.flip_reg=0.1 or batch_size=4096")
    ap.add_argument("--out", default="nbpo_noise_out")
    ap.add_argument("--fast", action="store_true",
                    help="tiny synthetic data, few epochs (MMGRAPH_FAST=1)")
    ap.add_argument("--plot-only", action="store_true")
    args = ap.parse_args()
    fast = args.fast or os.environ.get("MMGRAPH_FAST") == "1"
    args.overrides = dict(parse_override(s) for s in args.set)
    if fast:
        args.overrides.setdefault("batch_size", 256)
        args.overrides.setdefault("learning_rate", 0.01)
        args.epochs = args.epochs or 5
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)

    if not args.plot_only:
        if args.data == "synthetic":
            kw = dict(num_users=200, num_items=120, avg_degree=10) if fast \
                else {}
            clean = load_dataset("synthetic", **kw)
        else:
            clean = load_dataset(args.data)
        print(clean)
        for fraction in [float(f) for f in args.fractions.split(",")]:
            for objective in args.objectives.split(","):
                run = out / "runs" / run_name(objective, fraction)
                if (run / "noise_row.json").exists():
                    print(f"{run.name}: done, skipped")
                    continue
                row = train_one(args, clean, clean, objective, fraction, run)
                print(f"{run.name}: test {METRIC} {row['test'][METRIC]:.4f}"
                      f" (best epoch {row['best_epoch']}/{row['epochs']}, "
                      f"{row['seconds_per_epoch']:.1f} s/epoch)")

    rows = collect(out)
    if not rows:
        raise SystemExit(f"{out}: no finished runs")
    data_name = Path(args.data).name if args.data != "synthetic" \
        else "synthetic"
    # Each run's full configuration is in runs/<name>/results.json.
    atomic_write_json(out / "summary.json", {
        "model": args.model, "data": args.data, "metric": METRIC,
        "rows": rows})
    cap = f", <= {args.epochs} epochs" if args.epochs else ""
    objectives = " vs ".join(sorted({r["objective"].upper() for r in rows}))
    plot(rows, out / "noise_recall.png",
         f"{args.model} on {data_name}{cap}\n{objectives} with hidden "
         f"training positives")
    print(table(rows))
    print(f"\nwritten: {out / 'summary.json'}, {out / 'noise_recall.png'}")


if __name__ == "__main__":
    main()
