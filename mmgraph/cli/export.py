r"""``mmgraph export``: a run's embeddings (``npz``), a FAISS inner-product
index (``faiss``) or an ONNX scorer (``onnx``); see :mod:`mmgraph.export`."""
from __future__ import annotations

import argparse

__all__ = ["add_parser", "run", "FORMATS"]

#: The formats of :data:`mmgraph.export.FORMATS`, spelt here so that the
#: parser imports no torch (a test checks that both lists agree).
FORMATS = ("npz", "faiss", "onnx")


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "export", help="export a run's embeddings (npz), a FAISS index or an ONNX scorer")
    p.add_argument("--run", required=True, help="a run, grid or search folder of 'mmgraph train'")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--out", required=True,
                   help="file to write (faiss and onnx also write OUT.npz with the raw ids "
                        "and training items)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace OUT (and OUT.npz) if they exist (default: refuse)")
    return p


def run(args: argparse.Namespace) -> int:
    from mmgraph.export import sidecar_path, export_run
    from mmgraph.runs.train import selected_run_note
    path = export_run(args.run, args.format, args.out, overwrite=args.overwrite)
    note = selected_run_note(args.run)
    if note:  # a grid/search folder: say which of its runs was exported
        print(note)
    extra = f" and {sidecar_path(path)}" if args.format != "npz" else ""
    print(f"wrote {path}{extra} ({args.format} export of {args.run})")
    return 0
