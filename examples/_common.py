r"""The command line every model example shares (not an example itself).

``python examples/X.py [--data synthetic|FOLDER] [--fast]``: ``--fast`` (or
``MMGRAPH_FAST=1``) swaps the synthetic data for a tiny set, and the
example trains for a few epochs only.
"""
import argparse
import os
from typing import Tuple

import mmgraph
from mmgraph.data import RecDataset

#: The tiny synthetic set of fast mode (seconds per epoch).
FAST_SYNTHETIC = dict(num_users=300, num_items=150, avg_degree=12)


def example_dataset(doc: str) -> Tuple[RecDataset, bool]:
    r"""Parses ``--data`` and ``--fast`` (the help text is the first paragraph
    of ``doc``, the example's docstring), loads the dataset and prints it.

    Returns:
        (dataset, fast): ``fast`` is true with ``--fast`` or
        ``MMGRAPH_FAST=1``.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--data", default="synthetic",
                        help="'synthetic' or a prepared MMRec folder")
    parser.add_argument("--fast", action="store_true",
                        help="tiny data, a few epochs (also MMGRAPH_FAST=1)")
    args = parser.parse_args()
    fast = args.fast or os.environ.get("MMGRAPH_FAST") == "1"
    if args.data == "synthetic" and fast:
        dataset = mmgraph.load_dataset("synthetic", **FAST_SYNTHETIC)
    else:
        dataset = mmgraph.load_dataset(args.data)
    print(dataset)
    return dataset, fast
