r"""What several verbs share: the device check and loading a finished run
with every failure named by its file."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional

from mmgraph.config import ConfigError
from mmgraph.errors import ANTICIPATED, RunFolderError

__all__ = ["check_device", "load_run", "read_results", "run_dir_of_best", "claim_run_folder",
           "RUN_FILES"]

# The run folder's file names (the shared contract of mmgraph.runs.RunFolder).
CHECKPOINT = "checkpoint.pt"
RESULTS = "results.json"
GRID = "grid.json"
#: What a run (or grid) folder holds: ``--overwrite`` removes exactly these.
RUN_FILES = (CHECKPOINT, RESULTS, "test_topk.tsv", "training_curve.png", GRID, "runs",
             "run.json", "unlearn_request.json", "unlearn.json", "gold", "finetune", ".lock")


def claim_run_folder(out: Path, overwrite: bool, resume: Optional[bool] = False) -> bool:
    r"""Checks an output run folder before anything is computed: a non-empty
    one is refused unless :obj:`resume` (it must then hold something; ``None``
    for a command that cannot resume) or
    :obj:`overwrite` (its run files, :data:`RUN_FILES`, are removed first;
    other files stay). Creates the folder, so an unwritable one fails now;
    returns whether it was created here."""
    import shutil
    if out.exists() and not out.is_dir():
        raise RunFolderError("exists and is not a folder; --out names a run folder", out)
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if resume:
        if not entries:
            raise RunFolderError("is empty: there is nothing to resume (drop --resume)", out)
        return False
    if entries and not overwrite:
        shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
        raise RunFolderError(f"is not empty ({shown}); replace it with --overwrite"
                             + (" or continue it with --resume" if resume is not None else "")
                             + ", or choose another --out", out)
    for name in entries:
        if name in RUN_FILES:
            path = out / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    return created


def check_device(device: Optional[str], option: str = "--device") -> None:
    r"""``cuda`` needs a CUDA device."""
    if device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise ConfigError(f"{option} cuda: no CUDA device is available (torch "
                              f"{torch.__version__}, built "
                              f"{'with' if torch.version.cuda else 'without'} CUDA); "
                              f"use {option} cpu")


def _read_json(path: Path, what: str) -> Dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise RunFolderError(f"is not UTF-8 text; expected the {what} (JSON)", path) from None
    except json.JSONDecodeError as e:
        raise RunFolderError(f"is corrupt: invalid JSON at line {e.lineno} ({e.msg}); "
                             f"expected the {what}", path) from None
    if not isinstance(data, dict):
        raise RunFolderError(f"is corrupt: expected a JSON object holding the {what}", path)
    return data


def run_dir_of_best(run_dir: Path) -> Path:
    r"""``run_dir`` itself, or the selected run of a grid folder (a path
    relative to the grid folder, or one from before that rule)."""
    if not run_dir.is_dir():
        raise RunFolderError("run folder not found" if not run_dir.exists()
                             else "is not a folder; expected a run folder", run_dir)
    if (run_dir / CHECKPOINT).exists() or (run_dir / RESULTS).exists():
        return run_dir
    grid = run_dir / GRID
    if grid.exists():
        best = _read_json(grid, "grid summary").get("best_run")
        if not isinstance(best, str):
            raise RunFolderError("is corrupt: no 'best_run'", grid)
        path = Path(best)
        candidates = [path] if path.is_absolute() else [run_dir / path, path]
        for c in candidates:
            if (c / CHECKPOINT).exists():
                return c
        raise RunFolderError(f"its best run {best!r} has no {CHECKPOINT}", grid)
    if (run_dir / "search.json").exists():  # a search folder (train --search)
        from mmgraph.runs import run_dir_of_best as selected_run
        return selected_run(run_dir)
    raise RunFolderError(f"no {CHECKPOINT}, {RESULTS} or {GRID} (is this a run folder of "
                         "'mmgraph train'?)", run_dir)


def read_results(run_dir: Path) -> Dict[str, Any]:
    r"""The run's ``results.json``, checked for what loading needs."""
    path = run_dir / RESULTS
    if not path.exists():
        raise RunFolderError(f"no {RESULTS}: the run has not finished (resume it with "
                             "'mmgraph train ... --resume')", run_dir)
    results = _read_json(path, "run's results")
    for key in ("model", "config", "data"):
        if key not in results:
            raise RunFolderError(f"is corrupt: no {key!r}", path)
    if not isinstance(results["config"], dict) or "model" not in results["config"] \
            or "train" not in results["config"]:
        raise RunFolderError("is corrupt: 'config' lacks its model/train sections", path)
    return results


def load_run(run_dir, dataset=None, device: Optional[str] = None):
    r"""``(model, dataset, results)`` of a finished run (or a grid's
    selected run); a missing, corrupt or mismatched file is a
    :class:`~mmgraph.errors.RunFolderError` naming it."""
    from mmgraph.runs import load_run as _load_run
    run = run_dir_of_best(Path(run_dir))
    results = read_results(run)
    checkpoint = run / CHECKPOINT
    if not checkpoint.exists():
        raise RunFolderError(f"no {CHECKPOINT}", run)
    check_device(device)
    try:
        return _load_run(run, dataset=dataset, device=device)
    except ANTICIPATED:
        raise
    except OSError as e:
        if e.filename is not None:  # a named file: the boundary names it
            raise
        raise RunFolderError(f"cannot be read as a checkpoint ({e.strerror or e})",
                             checkpoint) from e
    except Exception as e:  # torch.load / load_state_dict on a damaged file
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise RunFolderError(f"cannot be loaded as the checkpoint of this '{results['model']}'"
                             f" run ({type(e).__name__}: {first[:200]})", checkpoint) from e
