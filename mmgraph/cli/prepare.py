r"""``mmgraph prepare``: raw interactions (+ item text / images) -> an MMRec
folder (:func:`mmgraph.data.prepare.prepare_dataset`)."""
from __future__ import annotations

import argparse
from pathlib import Path

from mmgraph.cli import values
from mmgraph.data.formats import list_formats

__all__ = ["add_parser", "run", "interrupted"]

SPLITS = ("mmrec", "loo", "temporal")  # mmgraph.data.prepare.SPLITS (checked by a test)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "prepare", help="raw interactions (+ item text / images) -> MMRec-format folder",
        description="Read raw interactions, k-core filter, re-index, split and write "
                    "OUT/NAME.inter, u_id_mapping.csv, i_id_mapping.csv, "
                    "<modality>_feat.npy and the manifest prepare.json. A non-empty OUT is "
                    "refused unless --overwrite, which replaces exactly what the previous "
                    "preparation wrote.")
    p.add_argument("--format", required=True, choices=list_formats(),
                   help="sequence: user_sequence.txt; mmrec: an MMRec folder; nbpo-json: a "
                        "folder with train/validation/test_data.json; delimited: CSV/TSV; "
                        "amazon2023: Amazon Reviews 2023 reviews JSONL; microlens: MicroLens "
                        "folder or MicroLens-*_pairs.csv/.tsv (the registered formats of "
                        "mmgraph.data.formats)")
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
    p.add_argument("--k-core", type=values.non_negative_int, default=0,
                   help="minimum user/item degree (0 = off)")
    p.add_argument("--split", choices=SPLITS, default=None,
                   help="split procedure (default: keep the input's split if it has one, "
                        "else mmrec); nbpo-json always keeps its split; temporal needs a "
                        "time per interaction")
    p.add_argument("--seed", type=values.non_negative_int, default=999,
                   help="seed of the mmrec split (and of the cold items)")
    p.add_argument("--cold-items", type=values.fraction, default=0.0, metavar="FRACTION",
                   help="cold-start split: a random FRACTION of the items gets no training "
                        "interaction; half of them are held out in validation, half in "
                        "test; recorded in cold_items.txt (default: 0)")
    p.add_argument("--name", required=True, type=values.name,
                   help="dataset name (NAME.inter); a name, not a path")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the dataset prepared in a non-empty --out")
    p.add_argument("--columns", default=None,
                   help="delimited: ROLE=COLUMN list, roles user,item (required), time, rating, "
                        "label, e.g. user=reviewerID,item=asin,time=ts")
    p.add_argument("--sep", type=values.separator, default=None,
                   help="delimited: field separator (default ','; '\\t' for tab)")
    p.add_argument("--no-header", action="store_true",
                   help="delimited: no header row; --columns gives 0-based indices")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="device of the feature encoders")
    p.add_argument("--batch-size", type=values.positive_int, default=64,
                   help="feature encoder batch size")
    return p


def _reader_options(args: argparse.Namespace):
    r"""The reader options given on the command line; one the format's
    reader does not take is refused by its flag."""
    import inspect

    from mmgraph.config import ConfigError
    from mmgraph.data.formats import FORMATS
    given = {"columns": (args.columns, "--columns"), "sep": (args.sep, "--sep"),
             "header": (False if args.no_header else None, "--no-header")}
    params = inspect.signature(FORMATS[args.format]).parameters
    for key, (value, flag) in given.items():
        if value is not None and key not in params:
            raise ConfigError(f"{flag}: does not apply to --format {args.format}")
    return {key: value for key, (value, _) in given.items()}


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from mmgraph.data.prepare import prepare_dataset
    options = _reader_options(args)
    if args.device == "cuda":
        from mmgraph.cli.common import check_device
        check_device(args.device)
    path, data, features = prepare_dataset(
        args.format, args.interactions, args.out, args.name, k_core=args.k_core,
        split=args.split, seed=args.seed, item_text=args.item_text, images=args.images,
        device=args.device, batch_size=args.batch_size, overwrite=args.overwrite,
        cold_items=args.cold_items, **options)
    counts = np.bincount(data.label, minlength=3)
    print(f"wrote {path}: {data.num_users} users, {data.num_items} items, "
          f"{len(data.user)} interactions (train {counts[0]}, valid {counts[1]}, "
          f"test {counts[2]}); features: "
          + (", ".join(f"{m} {x.shape[1]}-d" for m, x in features.items()) or "none")
          + ("" if data.cold_items is None else
             f"; {len(data.cold_items)} cold items (no training interaction)"))
    return 0


def interrupted(args: argparse.Namespace) -> str:
    return (f"{args.out} keeps what it held before (new files are moved in only once "
            "complete); run the command again to prepare it")
