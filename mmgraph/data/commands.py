r"""The ``mmgraph prepare`` and ``mmgraph info`` commands.

:func:`add_prepare_parser` / :func:`add_info_parser` register the
sub-commands on an :mod:`argparse` sub-parser group; each sets ``func`` to a
handler that takes the parsed arguments and returns an exit code
(0 success, 2 bad input, 1 a missing optional extra). Also runnable on its
own: ``python -m mmgraph.data.commands prepare ...``.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from mmgraph.errors import DataFormatError, MissingExtraError

log = logging.getLogger("mmgraph")

FORMATS = ("sequence", "mmrec", "nbpo-json", "delimited", "amazon2023", "microlens")

__all__ = ["add_prepare_parser", "add_info_parser", "run_prepare", "run_info", "format_card",
           "main"]


def _guard(fn):
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except DataFormatError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except MissingExtraError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


# ------------------------------------------------------------------ prepare
def add_prepare_parser(subparsers) -> argparse.ArgumentParser:
    r"""Register ``prepare``: raw files -> MMRec folder."""
    p = subparsers.add_parser(
        "prepare", help="raw interactions (+ item text / images) -> MMRec-format folder",
        description="Read raw interactions, k-core filter, re-index, split and write "
                    "OUT/NAME.inter, u_id_mapping.csv, i_id_mapping.csv and "
                    "<modality>_feat.npy.")
    p.add_argument("--format", required=True, choices=FORMATS,
                   help="sequence: user_sequence.txt; mmrec: an MMRec folder; nbpo-json: a "
                        "folder with train/validation/test_data.json; delimited: CSV/TSV; "
                        "amazon2023: Amazon Reviews 2023 reviews JSONL; microlens: MicroLens "
                        "folder or MicroLens-*_pairs.csv/.tsv")
    p.add_argument("--interactions", required=True, type=Path,
                   help="interaction file (sequence, delimited) or folder (mmrec, nbpo-json)")
    p.add_argument("--item-text", type=Path, default=None,
                   help="'ITEM_ID text...' per line (item_names.txt) -> text_feat.npy (384-d "
                        "MiniLM; needs mmgraph[text]); amazon2023: the item metadata JSONL "
                        "(title + description); microlens: the titles CSV (default: the "
                        "folder's MicroLens-*_titles.csv)")
    p.add_argument("--images", type=Path, default=None,
                   help="folder of images named <item id>.<ext> -> image_feat.npy (1280-d "
                        "EfficientNet-Lite0; needs mmgraph[image])")
    p.add_argument("--k-core", type=int, default=0, help="minimum user/item degree (0 = off)")
    p.add_argument("--split", choices=("mmrec", "loo", "temporal"), default=None,
                   help="split procedure (default: keep the input's split if it has one, "
                        "else mmrec); nbpo-json always keeps its split")
    p.add_argument("--seed", type=int, default=999, help="seed of the mmrec split")
    p.add_argument("--name", required=True, help="dataset name (NAME.inter)")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--columns", default=None,
                   help="delimited: ROLE=COLUMN list, roles user,item (required), time, rating, "
                        "label, e.g. user=reviewerID,item=asin,time=ts")
    p.add_argument("--sep", default=",", help="delimited: field separator ('\\t' for tab)")
    p.add_argument("--no-header", action="store_true",
                   help="delimited: no header row; --columns gives 0-based indices")
    p.add_argument("--device", default="cpu", help="device of the feature encoders")
    p.add_argument("--batch-size", type=int, default=64, help="feature encoder batch size")
    # --- cold-start split (helper metrics) -----------------------------------
    p.add_argument("--cold-items", type=float, default=0.0, metavar="FRACTION",
                   help="cold-start split: a random FRACTION of the items (seeded by --seed) "
                        "gets no training interaction; half of them are held out in "
                        "validation, half in test; recorded in cold_items.txt (default: 0)")
    # --- end cold-start split -------------------------------------------------
    p.set_defaults(func=run_prepare)
    return p


@_guard
def run_prepare(args: argparse.Namespace) -> int:
    r"""Handler of ``prepare``."""
    from . import formats
    from .features import encode_images, encode_texts
    from .prepare import prepare_interactions, write_mmrec_folder

    fmt = args.format
    feats_in: Dict[str, np.ndarray] = {}
    if fmt == "sequence":
        inter = formats.read_sequence(args.interactions)
    elif fmt == "mmrec":
        _, inter, feats_in = formats.read_mmrec_folder(args.interactions)
        n_raw = int(inter.item.max()) + 1 if len(inter) else 0
        for m, x in feats_in.items():
            if x.shape[0] != n_raw:
                raise DataFormatError(f"has {x.shape[0]} rows but the dataset has {n_raw} "
                                      "items", Path(args.interactions) / f"{m}_feat.npy")
    elif fmt == "nbpo-json":
        if args.split is not None:
            raise DataFormatError("nbpo-json keeps the split it is given; drop --split", None,
                                  None, "--split")
        inter = formats.read_nbpo_json(args.interactions)
    # --- readers of released datasets (helper metrics) -----------------------
    elif fmt == "amazon2023":
        inter = formats.read_amazon2023(args.interactions, meta=args.item_text)
    elif fmt == "microlens":
        inter = formats.read_microlens(args.interactions, titles=args.item_text)
    # --- end readers of released datasets --------------------------------------
    else:
        if not args.columns:
            raise DataFormatError("--format delimited needs --columns user=COL,item=COL[,...]",
                                  None, None, "--columns")
        inter = formats.read_delimited(args.interactions, args.columns, args.sep,
                                       header=not args.no_header)
    split = args.split
    if split is None and inter.label is None:
        split = "mmrec"
    data = prepare_interactions(inter, k_core=args.k_core, split=split, seed=args.seed,
                                cold_items=getattr(args, "cold_items", 0.0))
    features: Dict[str, np.ndarray] = {}
    for m, x in feats_in.items():  # keep input features, rows follow the new item ids
        features[m] = x[data.item_raw.astype(np.int64)]
    if args.item_text is not None or inter.item_text:
        names = inter.item_text if inter.item_text is not None \
            else formats.read_item_names(args.item_text)
        texts = [names.get(str(r)) for r in data.item_raw]
        missing = sum(t is None for t in texts)
        if missing:
            log.warning("%d of %d items have no text in %s", missing, len(texts),
                        args.item_text or args.interactions)
        features["text"] = encode_texts(texts, batch_size=args.batch_size, device=args.device)
    if args.images is not None:
        features["image"] = encode_images(args.images, [str(r) for r in data.item_raw],
                                          device=args.device)
    path = write_mmrec_folder(args.out, args.name, data, features)
    counts = np.bincount(data.label, minlength=3)
    print(f"wrote {path}: {data.num_users} users, {data.num_items} items, "
          f"{len(data.user)} interactions (train {counts[0]}, valid {counts[1]}, "
          f"test {counts[2]}); features: "
          + (", ".join(f"{m} {x.shape[1]}-d" for m, x in features.items()) or "none")
          + ("" if data.cold_items is None else
             f"; {len(data.cold_items)} cold items (no training interaction)"))
    return 0


# --------------------------------------------------------------------- info
def add_info_parser(subparsers) -> argparse.ArgumentParser:
    r"""Register ``info``: print the dataset card of a prepared folder."""
    p = subparsers.add_parser("info", help="print the dataset card of an MMRec folder",
                              description="Users, items, interactions per split, density, "
                                          "degrees, modalities and connected components.")
    p.add_argument("path", help="an MMRec folder, or 'synthetic'")
    p.add_argument("--name", default=None, help="NAME of NAME.inter if the folder has several")
    p.add_argument("--json", action="store_true", help="print the card as JSON")
    p.set_defaults(func=run_info)
    return p


def format_card(s: Dict[str, Any]) -> str:
    r"""Render :meth:`RecDataset.summary` as a terminal table."""
    it = s["interactions"]
    total = max(1, it["total"])

    def deg(d):
        return f"{d['min']} / {d['median']:g} / {d['mean']:.2f} / {d['max']}"
    rows: List[List[str]] = [
        ["users", f"{s['num_users']:,}"],
        ["items", f"{s['num_items']:,}"],
        ["interactions (total)", f"{it['total']:,}"],
        ["  train", f"{it['train']:,} ({100 * it['train'] / total:.1f}%)"],
        ["  valid", f"{it['valid']:,} ({100 * it['valid'] / total:.1f}%)"],
        ["  test", f"{it['test']:,} ({100 * it['test'] / total:.1f}%)"],
        ["density", f"{s['density']:.6f} (sparsity {100 * (1 - s['density']):.4f}%)"],
        ["user degree min/median/mean/max", deg(s["user_degree"])],
        ["item degree min/median/mean/max", deg(s["item_degree"])],
        ["users / items in train", f"{s['users_in_train']:,} / {s['items_in_train']:,}"],
        ["cold-start rows dropped (valid/test)",
         f"{s['cold_start_dropped']['valid']} / {s['cold_start_dropped']['test']}"],
        ["cold items (no training interaction)", f"{s.get('cold_items', 0):,}"],
        ["modalities", ", ".join(f"{m} ({d}-d)" for m, d in s["modalities"].items()) or "none"],
    ]
    if "components" in s:
        c = s["components"]
        rows.append(["train graph components", f"{c['count']:,} (largest {c['largest']:,} "
                     f"nodes, {c['isolated_nodes']:,} isolated)"])
    title = f"dataset: {s['name']}" + (f"  ({s['root']})" if s.get("root") else "")
    from mmgraph.report import format_table
    return title + "\n" + format_table(rows, ["statistic", "value"])


@_guard
def run_info(args: argparse.Namespace) -> int:
    r"""Handler of ``info``."""
    from .dataset import load_dataset
    ds = load_dataset(args.path, name=args.name) if args.path != "synthetic" \
        else load_dataset("synthetic")
    s = ds.summary()
    print(json.dumps(s, indent=2) if args.json else format_card(s))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    r"""Stand-alone entry point (``python -m mmgraph.data.commands``)."""
    parser = argparse.ArgumentParser(prog="mmgraph-data")
    sub = parser.add_subparsers(dest="command", required=True)
    add_prepare_parser(sub)
    add_info_parser(sub)
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
