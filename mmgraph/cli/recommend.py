r"""``mmgraph recommend``: top-k items for users of a trained run.

Users are given and items printed by their **raw ids** (the dataset's
``u_id_mapping.csv`` / ``i_id_mapping.csv``; a dataset without maps, such as
the synthetic one, uses the integer ids); ``--internal-ids`` uses the
integer ids ``0..n-1`` on both sides. A user's training items are never
recommended: when fewer than ``k`` items are left, fewer are printed.
"""
from __future__ import annotations

import argparse
from typing import List, Optional, Sequence

from mmgraph.cli import values

__all__ = ["add_parser", "run", "recommend"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("recommend", help="top-k items for users",
                              description="Top-k items for users of a trained run, by raw id "
                                          "(the dataset's id maps) unless --internal-ids.")
    p.add_argument("--run", required=True, help="a run (or grid) folder of 'mmgraph train'")
    p.add_argument("--users", required=True,
                   help="comma-separated user ids, e.g. A2X,B07 (raw) or 0,5,9 "
                        "(--internal-ids)")
    p.add_argument("--k", type=values.positive_int, default=10,
                   help="list length (fewer when fewer unseen items are left)")
    p.add_argument("--internal-ids", action="store_true",
                   help="take and print the integer ids 0..n-1 instead of raw ids")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: the run's")
    p.add_argument("--force", action="store_true",
                   help="recommend even if the run's data changed since training (warns)")
    return p


def _user_ids(text: str, raw: Optional[Sequence[str]], num_users: int,
              internal: bool, where: str) -> List[int]:
    from mmgraph.config import ConfigError
    from mmgraph.errors import did_you_mean
    tokens = [t.strip() for t in text.split(",")]
    if not tokens or not all(tokens):
        raise ConfigError(f"--users {text!r}: expected comma-separated user ids")
    if internal or raw is None:
        out = []
        for t in tokens:
            try:
                u = int(t)
            except ValueError:
                hint = " (without --internal-ids they are raw ids, but this dataset has no " \
                    "u_id_mapping.csv)" if raw is None and not internal else ""
                raise ConfigError(f"--users: {t!r} is not an integer user id{hint}") from None
            if not 0 <= u < num_users:
                raise ConfigError(f"--users: user id {u} is outside 0..{num_users - 1}")
            out.append(u)
        return out
    index = {r: i for i, r in enumerate(raw)}
    out = []
    for t in tokens:
        if t not in index:
            raise ConfigError(f"--users: unknown user id {t!r} (not in {where}); pass "
                              f"--internal-ids for the integer ids.{did_you_mean(t, raw)}")
        out.append(index[t])
    return out


def recommend(model, dataset, users: List[int], k: int) -> List[List[int]]:
    r"""Top-:obj:`k` item ids per user, never an item the user trained on (or
    an item taken out of the catalogue); shorter lists when fewer are left."""
    import torch

    from mmgraph.evaluation import Evaluator
    users_t = torch.tensor(users, dtype=torch.long)
    ranked = Evaluator(dataset).rank(model, users_t, k)
    n = dataset.num_items
    seen = dataset.train_edge_index[0] * n + dataset.train_edge_index[1]
    keys = users_t.view(-1, 1) * n + ranked.cpu()
    allowed = ~torch.isin(keys, seen)
    excluded = getattr(dataset, "excluded_items", None)
    if excluded is not None and excluded.numel():
        allowed &= ~torch.isin(ranked.cpu(), excluded.cpu())
    return [row[ok].tolist() for row, ok in zip(ranked.cpu(), allowed)]


def _heading(k: int, lengths: List[int]) -> str:
    r"""The list column's heading: how many items were returned, also when a
    user has fewer than :obj:`k` unseen items."""
    if all(n == k for n in lengths):
        return f"top-{k} items (rank order)"
    if len(set(lengths)) == 1:
        return f"top-{lengths[0]} items (rank order; of --k {k}: only {lengths[0]} unseen)"
    return (f"top-{max(lengths)} items (rank order; of --k {k}: fewer, down to "
            f"{min(lengths)}, where a user has fewer unseen)")


def run(args: argparse.Namespace) -> int:
    from mmgraph.cli.common import load_run
    from mmgraph.report import format_table
    model, dataset, _ = load_run(args.run, device=args.device, force=args.force)
    raw_users = None if args.internal_ids else dataset.id_mapping("user")
    raw_items = None if args.internal_ids else dataset.id_mapping("item")
    where = f"{dataset.root}/u_id_mapping.csv" if dataset.root is not None else "the id map"
    from mmgraph.errors import DataFormatError
    for kind, raw, n in (("u", raw_users, dataset.num_users), ("i", raw_items, dataset.num_items)):
        if raw is not None and len(raw) != n:
            raise DataFormatError(f"maps {len(raw)} ids but the dataset has {n}; the map does "
                                  "not belong to this dataset",
                                  f"{dataset.root}/{kind}_id_mapping.csv")
    users = _user_ids(args.users, raw_users, dataset.num_users, args.internal_ids, where)
    lists = recommend(model, dataset, users, args.k)

    def item(i: int) -> str:
        return raw_items[i] if raw_items is not None else str(i)
    rows = [[raw_users[u] if raw_users is not None else u, " ".join(item(i) for i in items)]
            for u, items in zip(users, lists)]
    print(format_table(rows, ["user", _heading(args.k, [len(items) for items in lists])]))
    return 0
