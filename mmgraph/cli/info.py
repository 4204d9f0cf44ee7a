r"""``mmgraph info``: the dataset card of a prepared folder."""
from __future__ import annotations

import argparse
import json
from typing import Any, Dict, List

__all__ = ["add_parser", "run", "format_card"]


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("info", help="print the dataset card of an MMRec folder",
                              description="Users, items, interactions per split, density, "
                                          "degrees, modalities and connected components.")
    p.add_argument("path", help="an MMRec folder, its NAME.inter file (to pick one of "
                                "several), or 'synthetic'")
    p.add_argument("--name", default=None, help="NAME of NAME.inter if the folder has several")
    p.add_argument("--json", action="store_true", help="print the card as JSON")
    return p


def format_card(s: Dict[str, Any]) -> str:
    r"""Render :meth:`~mmgraph.data.RecDataset.summary` as a terminal table."""
    from mmgraph.report import format_table
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
        # Every item no training row reaches (as the isolated nodes below),
        # not only those a cold-start split listed in cold_items.txt.
        ["cold items (no training interaction)", f"{s['num_items'] - s['items_in_train']:,}"],
    ]
    if s.get("cold_items"):
        rows.append(["  of them listed in cold_items.txt", f"{s['cold_items']:,}"])
    rows.append(["modalities",
                 ", ".join(f"{m} ({d}-d)" for m, d in s["modalities"].items()) or "none"])
    if "components" in s:
        c = s["components"]
        rows.append(["train graph components", f"{c['count']:,} (largest {c['largest']:,} "
                     f"nodes, {c['isolated_nodes']:,} isolated)"])
    title = f"dataset: {s['name']}" + (f"  ({s['root']})" if s.get("root") else "")
    return title + "\n" + format_table(rows, ["statistic", "value"])


def run(args: argparse.Namespace) -> int:
    from mmgraph.data import load_dataset
    ds = load_dataset(args.path, name=args.name)
    s = ds.summary()
    print(json.dumps(s, indent=2) if args.json else format_card(s))
    return 0
