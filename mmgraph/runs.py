r"""Run folders: the one module that knows their files.

A **run folder** holds one trained (or unlearned) model::

    run.json              identity: model, resolved config, dataset
                          fingerprint, package and code versions
    results.json          the results (rewritten after every epoch;
                          "finished": true once the test split is evaluated)
    checkpoint.pt         the trainer's state at the selected epoch
    test_topk.tsv         the selected model's top-k list per test user
    training_curve.png    loss and validation curves (with matplotlib)
    unlearn_request.json  the forget requests applied (unlearned runs)
    unlearn.json          the comparison of an unlearning run

A **grid folder** holds ``grid.json`` and the runs of a grid under
``runs/``. Paths stored in a folder are relative to that folder. Every file
is written atomically (:mod:`mmgraph.io`): a run killed at any moment
leaves either the previous or the new version of each file.

:meth:`RunFolder.callbacks` makes a :class:`~mmgraph.train.Trainer` write
the folder (``results.json`` every epoch, the checkpoint on every
improvement, top-k and curve at the end) and resume from it: a run killed
and restarted with ``resume=True`` ends exactly as the uninterrupted run.
"""
from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import (Any, Callable, Dict, Iterator, List, Optional, Sequence,
                    Tuple, Union)

import torch

from mmgraph.config import TrainConfig
from mmgraph.distributed import is_main_process
from mmgraph.errors import DataFormatError, MMGraphError, RunFolderError
from mmgraph.io import (atomic_torch_save, atomic_write_json,
                        atomic_write_text, code_version, package_versions,
                        safe_torch_load)
from mmgraph.train.callbacks import Callback, plot_training_curve
from mmgraph.train.trainer import Trainer
from torch_geometric import seed_everything
from mmgraph.unlearn import (ForgetRequest, Unlearner, membership_auc,
                             nonmember_edges, requests_from_dict,
                             requests_to_dict, unlearning_metrics)

__all__ = ["RunFolder", "RunFolderWriter", "load_run", "run_dir_of_best",
           "train_run", "unlearn_run", "CHECKPOINT", "RESULTS", "TOPK_FILE",
           "CURVE_FILE", "GRID_FILE", "REQUEST_FILE", "IDENTITY_FILE",
           "UNLEARN_FILE", "LOCK_FILE", "RUN_FILES", "check_data",
           "check_unlearn_out"]

log = logging.getLogger("mmgraph")

CHECKPOINT = "checkpoint.pt"
RESULTS = "results.json"
TOPK_FILE = "test_topk.tsv"
CURVE_FILE = "training_curve.png"
GRID_FILE = "grid.json"
REQUEST_FILE = "unlearn_request.json"
IDENTITY_FILE = "run.json"
UNLEARN_FILE = "unlearn.json"
LOCK_FILE = ".lock"
#: The summary of a search folder (``mmgraph train --search``), its Optuna
#: study and the folder of its trials' runs.
SEARCH_FILE = "search.json"
STUDY_FILE = "study.journal"
TRIALS_DIR = "trials"

#: What a run (or grid) folder holds: :meth:`RunFolder.clear` removes
#: exactly these (files and sub-folders); anything else a user put there
#: stays.
RUN_FILES = (CHECKPOINT, RESULTS, TOPK_FILE, CURVE_FILE, GRID_FILE, "runs",
             IDENTITY_FILE, REQUEST_FILE, UNLEARN_FILE, "gold", "finetune",
             SEARCH_FILE, STUDY_FILE, TRIALS_DIR)
#: The folders whose lock this process holds, with their nesting depth
#: (:meth:`RunFolder.lock` is re-entrant within a process).
_HELD: Dict[str, int] = {}

#: Identity fields that may change between a run and its resumption.
RESUMABLE_CHANGES = ("config.train.epochs", "versions", "code_version",
                     "dataset", "data")
#: The identity fields named first when several differ.
_FIRST = ("model", "objective", "dataset_fingerprint")

PathLike = Union[str, os.PathLike]


def _flatten(d: Any, prefix: str = "") -> Dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: Dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunFolder:
    r"""A run (or grid) folder: its file names, atomic reads and writes,
    identity record and lock.

    Args:
        path (str or PathLike): the folder (created on the first write).
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    def file(self, name: str) -> Path:
        r"""The path of file ``name`` in the folder."""
        return self.path / name

    # ------------------------------------------------------------ reading
    def _read_json(self, name: str, what: str) -> Dict[str, Any]:
        path = self.file(name)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            if not self.path.is_dir():
                raise RunFolderError(
                    "run folder not found" if not self.path.exists() else
                    "is not a folder; expected a run folder",
                    self.path) from None
            if name == RESULTS and self.has_checkpoint():
                raise RunFolderError(
                    f"no {RESULTS}: the run has not finished (resume it with "
                    f"'mmgraph train ... --resume')", self.path) from None
            raise RunFolderError(f"no {name} ({what} is missing: is this a "
                                 f"run folder of 'mmgraph train'?)",
                                 self.path) from None
        except UnicodeDecodeError:
            raise RunFolderError(f"is not UTF-8 text; expected {what} "
                                 f"(JSON)", path) from None
        except json.JSONDecodeError as e:
            raise RunFolderError(f"is corrupt: invalid JSON at line "
                                 f"{e.lineno} ({e.msg}); expected {what}",
                                 path) from None
        if not isinstance(data, dict):
            raise RunFolderError(f"is corrupt: expected a JSON object "
                                 f"holding {what}", path)
        return data

    def has_results(self) -> bool:
        return self.file(RESULTS).is_file()

    def has_checkpoint(self) -> bool:
        return self.file(CHECKPOINT).is_file()

    def is_grid(self) -> bool:
        return self.file(GRID_FILE).is_file() and not self.has_checkpoint()

    def read_results(self, loadable: bool = False) -> Dict[str, Any]:
        r"""``results.json``; with ``loadable``, checked for what
        :func:`load_run` needs (``model``, ``data`` and a ``config`` with
        its ``model`` / ``train`` sections)."""
        results = self._read_json(RESULTS, "the run's results")
        if loadable:
            path = self.file(RESULTS)
            for key in ("model", "config", "data"):
                if key not in results:
                    raise RunFolderError(f"is corrupt: no {key!r}", path)
            config = results["config"]
            if not isinstance(config, dict) or "model" not in config \
                    or "train" not in config:
                raise RunFolderError("is corrupt: 'config' lacks its "
                                     "model/train sections", path)
        return results

    def is_finished(self) -> bool:
        r"""Whether the folder holds a finished run."""
        return self.has_results() and \
            bool(self.read_results().get("finished"))

    def load_checkpoint(self, map_location: Any = None) -> Dict[str, Any]:
        r"""``checkpoint.pt`` (``weights_only=True``)."""
        path = self.file(CHECKPOINT)
        if not path.is_file():
            raise RunFolderError(f"no {CHECKPOINT}", self.path)
        try:
            return safe_torch_load(path, map_location=map_location)
        except Exception as e:  # noqa: BLE001 - torch raises many types
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise RunFolderError(f"cannot be read as a checkpoint "
                                 f"({type(e).__name__}: {first}); the run "
                                 f"folder is corrupt", path) from None

    def read_grid(self) -> Dict[str, Any]:
        r"""``grid.json``."""
        return self._read_json(GRID_FILE, "the grid summary")

    def read_identity(self) -> Optional[Dict[str, Any]]:
        r"""``run.json``, or :obj:`None` in a folder written before it
        existed."""
        if not self.file(IDENTITY_FILE).is_file():
            return None
        return self._read_json(IDENTITY_FILE, "the run's identity")

    def recorded_identity(self) -> Optional[Dict[str, Any]]:
        r"""What the folder says about its run: ``run.json``, or -- in a
        folder written before it existed -- the model and configuration of
        ``results.json``; :obj:`None` when neither exists."""
        identity = self.read_identity()
        if identity is not None or not self.has_results():
            return identity
        results = self.read_results()
        return {k: results[k] for k in ("model", "config") if k in results}

    def read_requests(self, name: str = REQUEST_FILE) -> List[ForgetRequest]:
        r"""The forget requests recorded in the folder, in order."""
        path = self.file(name)
        if not path.is_file():
            raise RunFolderError(f"{name} (the unlearning request record) "
                                 f"is missing", self.path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RunFolderError(f"{name} is not readable JSON ({e})",
                                 self.path) from None
        return requests_from_dict(data, str(path))

    def requests(self) -> List[ForgetRequest]:
        r"""The requests applied to this run (``[]`` for a trained run)."""
        rel = self.read_results().get("unlearn_request")
        return self.read_requests(rel) if rel else []

    def apply_requests(self, dataset):
        r"""``dataset`` with this run's recorded forget requests applied in
        order: the data its model was trained / unlearned on."""
        for request in self.requests():
            dataset = request.apply(dataset)
        return dataset

    # ------------------------------------------------------------ writing
    def write_results(self, results: Dict[str, Any]) -> None:
        atomic_write_json(self.file(RESULTS), results)

    def save_checkpoint(self, state: Dict[str, Any]) -> None:
        atomic_torch_save(self.file(CHECKPOINT), state)

    def write_requests(self, requests: Sequence[ForgetRequest],
                       name: str = REQUEST_FILE) -> str:
        r"""Records the requests applied to this run; returns the file
        name (relative to the folder) to store in the results."""
        atomic_write_json(self.file(name), requests_to_dict(requests))
        return name

    def write_grid(self, result: Dict[str, Any]) -> Dict[str, Any]:
        r"""Writes ``grid.json`` with every run folder stored relative to
        this folder; returns the written dict."""
        result = copy.deepcopy(result)

        def rel(p):
            if p is None:
                return None
            p = Path(p)
            try:
                return str(p.resolve().relative_to(self.path.resolve()))
            except ValueError:
                return str(p)

        result["best_run"] = rel(result.get("best_run"))
        for entry in [result.get("best")] + list(result.get("points", [])):
            for r in (entry or {}).get("runs", []):
                r["run_dir"] = rel(r.get("run_dir"))
        atomic_write_json(self.file(GRID_FILE), result)
        return result

    def write_topk(self, model, evaluator, dataset, k: int) -> None:
        r"""``test_topk.tsv``: one line per test user, the user id then the
        top-``k`` item ids in rank order (training items excluded)."""
        users = torch.unique(dataset.test_edge_index[0])
        ranked = evaluator.rank(model, users, k).cpu()
        lines = ["\t".join(map(str, [u, *row]))
                 for u, row in zip(users.tolist(), ranked.tolist())]
        atomic_write_text(self.file(TOPK_FILE), "\n".join(lines) + "\n")

    def write_curve(self, history: List[Dict[str, Any]],
                    valid_metric: str) -> None:
        r"""``training_curve.png`` (skipped without matplotlib)."""
        try:
            plot_training_curve(history, valid_metric, self.file(CURVE_FILE))
        except ImportError:  # matplotlib is optional
            log.warning("matplotlib is not installed: no training curve")

    # ----------------------------------------------------------- identity
    @staticmethod
    def identity(trainer: Trainer) -> Dict[str, Any]:
        r"""The identity of the run ``trainer`` performs: model, resolved
        config, dataset (name and content fingerprint), versions."""
        extra = trainer.extra_results
        config = copy.deepcopy(extra.get("config") or {})
        config["train"] = trainer.config.to_dict()
        return {"model": getattr(trainer.model, "registry_name",
                                 trainer.model.__class__.__name__),
                "objective": getattr(trainer.objective, "registry_name",
                                     "custom"),
                "config": config,
                "dataset": trainer.dataset.name,
                "data": extra.get("data"),
                "dataset_fingerprint": trainer.dataset.fingerprint(),
                "versions": package_versions(),
                "code_version": code_version()}

    def write_identity(self, identity: Dict[str, Any]) -> None:
        atomic_write_json(self.file(IDENTITY_FILE), identity)

    def check_identity(self, expected: Dict[str, Any], force: bool = False,
                       ignore: Sequence[str] = RESUMABLE_CHANGES,
                       hint: str = "start a new run folder (another --out) "
                                   "or drop --resume") -> None:
        r"""Raises :class:`~mmgraph.errors.RunFolderError` (one line: what
        differs, then :obj:`hint`) when the folder describes another run
        than ``expected`` (fields in ``ignore`` and below them may differ):
        another model, objective, dataset content or setting. A folder from
        before ``run.json`` is checked on the model and configuration of its
        ``results.json``; an empty folder passes; ``force`` skips the
        check."""
        if force:
            return
        legacy = self.read_identity() is None
        saved = self.recorded_identity()
        if saved is None:
            return
        a, b = _flatten(saved), _flatten(expected)

        def ignored(key: str) -> bool:
            return any(key == i or key.startswith(i + ".") for i in ignore)

        keys = set(a) if legacy else set(a) | set(b)
        diffs = sorted((k for k in keys
                        if not ignored(k) and a.get(k) != b.get(k)),
                       key=lambda k: (k not in _FIRST, k))
        if not diffs:
            return
        key = diffs[0]
        source = IDENTITY_FILE if not legacy else RESULTS
        if key in ("model", "objective"):
            what = f"a {a.get(key)!r} {key} run, not {b.get(key)!r}"
        elif key == "dataset_fingerprint":
            what = ("a run trained on other data (the dataset's content "
                    "fingerprint differs)")
        else:
            what = (f"a run with another setting ({key}: {a.get(key)!r} "
                    f"there, {b.get(key)!r} now)")
        n = len(diffs) - 1
        more = f" (and {n} more difference{'s' if n > 1 else ''})" \
            if n else ""
        raise RunFolderError(f"{source}: the folder holds {what}{more}; "
                             f"only epochs may change on --resume: {hint}",
                             self.path)

    # ------------------------------------------------------------ claiming
    def clear(self) -> List[str]:
        r"""Removes the run's files (:data:`RUN_FILES`; other files stay);
        returns their names."""
        removed = []
        for name in RUN_FILES:
            path = self.file(name)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
            else:
                continue
            removed.append(name)
        return removed

    @contextlib.contextmanager
    def claim(self, overwrite: bool = False,
              resume: Optional[bool] = False) -> Iterator["RunFolder"]:
        r"""Takes the folder for a new run, holding its :meth:`lock` for
        the block, before anything is computed.

        A non-empty folder is refused unless ``resume`` (then it must hold
        something; ``None`` for a command that cannot resume) or
        ``overwrite``: its run files (:meth:`clear`) are removed first, so
        a folder never mixes two runs. A folder another process is writing
        is refused (the lock). A folder created here and still empty when
        the block fails is removed again."""
        out = self.path
        if out.exists() and not out.is_dir():
            raise RunFolderError("exists and is not a folder; --out names a "
                                 "run folder", out)
        created = not out.exists()
        try:
            with self.lock():
                entries = sorted(p.name for p in out.iterdir()
                                 if p.name != LOCK_FILE)
                if resume:
                    if not entries:
                        raise RunFolderError("is empty: there is nothing to "
                                             "resume (drop --resume)", out)
                elif entries and not overwrite:
                    shown = ", ".join(entries[:4]) + \
                        (", ..." if len(entries) > 4 else "")
                    what = "a finished run" if self.is_finished() else \
                        "files"
                    raise RunFolderError(
                        f"is not empty (it holds {what}: {shown}); replace "
                        f"it with --overwrite"
                        + (" or continue it with --resume"
                           if resume is not None else "")
                        + ", or choose another --out", out)
                elif entries:
                    removed = self.clear()
                    if removed:
                        log.info("%s: --overwrite removed %s", out,
                                 ", ".join(removed))
                yield self
        except BaseException:
            if created and out.is_dir() and not any(out.iterdir()):
                out.rmdir()  # nothing was written: leave no empty folder
            raise

    # --------------------------------------------------------------- lock
    @contextlib.contextmanager
    def lock(self) -> Iterator["RunFolder"]:
        r"""Holds the folder's lock file (``.lock`` with this process id,
        created with ``O_EXCL``) for the block: a second writer gets a
        :class:`~mmgraph.errors.RunFolderError`. A lock left by a process
        that no longer runs is taken over. Re-entrant within a process."""
        self.path.mkdir(parents=True, exist_ok=True)
        path = self.file(LOCK_FILE)
        key = str(self.path.resolve())
        if _HELD.get(key):
            _HELD[key] += 1
            try:
                yield self
            finally:
                _HELD[key] -= 1
            return
        for _ in range(3):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                             0o644)
            except FileExistsError:
                try:
                    pid = int(path.read_text().strip())
                except (OSError, ValueError):
                    pid = None
                if pid is None or (_pid_alive(pid) and pid != os.getpid()):
                    who = f"process {pid}" if pid else "another process"
                    raise RunFolderError(
                        f"locked by {who} (another command is writing this "
                        f"folder; wait for it, or delete {LOCK_FILE} if no "
                        f"such process runs)", self.path) from None
                log.warning("%s: taking over the stale lock of process %d",
                            self.path, pid)
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            break
        else:
            raise RunFolderError("cannot take the lock", self.path)
        _HELD[key] = 1
        try:
            yield self
        finally:
            del _HELD[key]
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    # ---------------------------------------------------------- callbacks
    def callbacks(self, resume: Optional[bool] = None, force: bool = False,
                  top_k: Optional[int] = None) -> List[Callback]:
        r"""Trainer callbacks that write this folder: the identity at the
        start, ``results.json`` after every epoch, the checkpoint on every
        improvement, ``results.json``, ``test_topk.tsv`` and the curve at
        the end. With ``resume`` (default: the ``resume`` of
        :meth:`~mmgraph.train.Trainer.fit`) the last checkpoint is
        restored first, after checking the folder's identity."""
        return [RunFolderWriter(self, resume=resume, force=force,
                                top_k=top_k)]


class RunFolderWriter(Callback):
    r"""The :class:`~mmgraph.train.Trainer` callback of a
    :class:`RunFolder` (see :meth:`RunFolder.callbacks`). Only the main
    process writes."""

    def __init__(self, folder: RunFolder, resume: Optional[bool] = None,
                 force: bool = False, top_k: Optional[int] = None) -> None:
        self.folder = folder
        self.resume = resume
        self.force = force
        self.top_k = top_k
        self.resumed = False

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({str(self.folder.path)!r})"

    def on_fit_start(self, trainer) -> None:
        folder = self.folder
        resume = trainer.resuming if self.resume is None else self.resume
        identity = RunFolder.identity(trainer)
        self.resumed = False
        if resume and folder.has_checkpoint():
            folder.check_identity(identity, force=self.force)
            state = folder.load_checkpoint(map_location=trainer.device)
            self._check_config(state, trainer)
            try:
                trainer.load_state_dict(state)
            except (RuntimeError, ValueError, KeyError, TypeError) as e:
                first = (str(e).strip().splitlines() or [""])[0][:200]
                raise RunFolderError(
                    f"cannot resume from it: it does not fit this "
                    f"{type(trainer.model).__name__} ({type(e).__name__}: "
                    f"{first}); start a new run folder or drop --resume",
                    folder.file(CHECKPOINT)) from None
            self.resumed = True
            log.info("resumed from %s at epoch %d (best epoch %d, %s=%.4f)",
                     folder.path, trainer.start_epoch, trainer.best_epoch,
                     trainer.config.valid_metric, trainer.best_score)
        if not is_main_process():
            return
        folder.path.mkdir(parents=True, exist_ok=True)
        folder.write_identity(identity)
        if not self.resumed and trainer.history and \
                trainer.history[-1].get("improved"):
            # A callback selected a starting point (unlearning's epoch -1).
            folder.save_checkpoint(trainer.state_dict())

    def _check_config(self, state: Dict[str, Any], trainer) -> None:
        # Only the epoch budget may change: extending a finished run is a
        # resume too; anything else would mix two experiments.
        saved = {k: v for k, v in state.get("config", {}).items()
                 if k != "epochs"}
        current = {k: v for k, v in trainer.config.to_dict().items()
                   if k != "epochs"}
        if saved != current:
            changed = sorted(k for k in set(saved) | set(current)
                             if saved.get(k) != current.get(k))
            raise RunFolderError(
                f"was written with another training setting (differs in "
                f"{', '.join(changed)}); only epochs may change on --resume: "
                f"start a new run folder (another --out) or drop --resume",
                self.folder.file(CHECKPOINT))

    def on_epoch_end(self, trainer, epoch: int,
                     record: Dict[str, Any]) -> None:
        if not is_main_process():
            return
        if record.get("improved"):
            self.folder.save_checkpoint(trainer.state_dict())
        self.folder.write_results(trainer.results(final=False))

    def on_fit_end(self, trainer, results: Dict[str, Any]) -> None:
        if not is_main_process():
            return
        self.folder.write_results(results)
        self.folder.write_topk(trainer.model, trainer.evaluator,
                               trainer.dataset,
                               self.top_k or trainer.config.top_k_file)
        self.folder.write_curve(trainer.history, trainer.config.valid_metric)


# ---------------------------------------------------------------------------
# Training into a folder, reloading
# ---------------------------------------------------------------------------
@contextlib.contextmanager
def _locked(folder: Optional[RunFolder]):
    if folder is None or not is_main_process():
        yield
    else:
        with folder.lock():
            yield


def dataset_spec(data) -> str:
    r"""How a run records its data: the resolved folder path, ``'synthetic'``
    or the dataset's root/name."""
    if isinstance(data, (str, Path)):
        return str(Path(data).resolve()) if str(data) != "synthetic" \
            else "synthetic"
    root = getattr(data, "root", None)
    return str(root) if root is not None else str(data.name)


def train_run(model_name: str, dataset, config: Dict[str, Dict[str, Any]],
              out_dir: Optional[PathLike] = None, resume: bool = False,
              data_spec: Optional[str] = None, show_progress: bool = True,
              extra_results: Optional[Dict[str, Any]] = None,
              extra_callbacks: Sequence[Callback] = ()
              ) -> Tuple[Dict[str, Any], Any]:
    r"""Trains one fully resolved configuration (``model`` / ``train`` /
    ``objective`` sections, no list values) of ``model_name`` on
    ``dataset``, into the run folder ``out_dir`` if given (locked while
    training; ``resume`` continues its checkpoint). ``extra_callbacks``
    (e.g. the loggers of :func:`mmgraph.train.make_loggers`) run after the
    run folder's own.

    Returns ``(results, model)``."""
    from mmgraph.models import create_model
    tc = TrainConfig(**config["train"])
    seed_everything(tc.seed)
    model = create_model(model_name, dataset, **config["model"])
    folder = RunFolder(out_dir) if out_dir is not None else None
    extra = {"config": config, "data": data_spec or dataset_spec(dataset),
             **(extra_results or {})}
    trainer = Trainer(model, dataset, tc, objective=tc.objective,
                      objective_params=config["objective"],
                      callbacks=[*(folder.callbacks() if folder else ()),
                                 *extra_callbacks],
                      extra_results=extra, show_progress=show_progress)
    with _locked(folder):
        results = trainer.fit(resume=resume)
    return results, model


def run_dir_of_best(run_dir: PathLike) -> Path:
    r"""The run folder that holds the checkpoint: ``run_dir`` itself, or the
    selected run of a grid folder (``grid.json``) or of a search folder
    (``search.json``): stored relative to that folder, so a moved folder
    still finds it; never relative to the working directory)."""
    folder = RunFolder(run_dir)
    if not folder.path.is_dir():
        raise RunFolderError("run folder not found" if not folder.path.exists()
                             else "is not a folder; expected a run folder",
                             folder.path)
    if folder.has_checkpoint() or folder.has_results():
        return folder.path
    for name, what in ((GRID_FILE, "the grid summary"),
                       (SEARCH_FILE, "the search summary")):
        if not folder.file(name).is_file():
            continue
        summary = folder.file(name)
        best = folder._read_json(name, what).get("best_run")
        if not isinstance(best, str) or not best:
            raise RunFolderError(f"{name} names no best run (unfinished?)", folder.path)
        path = Path(best)
        path = path if path.is_absolute() else folder.path / path
        if not (path / CHECKPOINT).is_file():
            raise RunFolderError(f"its best run {best!r} has no {CHECKPOINT}",
                                 summary)
        return path
    raise RunFolderError(f"no {CHECKPOINT}, {RESULTS}, {GRID_FILE} or {SEARCH_FILE} (is "
                         f"this a run folder of 'mmgraph train'?)", folder.path)


def check_data(folder: RunFolder, dataset, force: bool = False) -> None:
    r"""Refuses (one line) a ``dataset`` whose content fingerprint differs
    from the one the run in ``folder`` recorded in ``run.json`` (the data
    were re-prepared, re-split or edited since); with ``force`` only warns.
    A folder without a recorded fingerprint passes."""
    want = (folder.read_identity() or {}).get("dataset_fingerprint")
    if not want or dataset.fingerprint() == want:
        return
    where = dataset.root if getattr(dataset, "root", None) is not None \
        else dataset.name
    message = (f"the data at {where} changed since the run was trained "
               f"(their content fingerprint differs from {IDENTITY_FILE})")
    if force:
        log.warning("%s: %s; --force: using them anyway, the metrics are not "
                    "those of the recorded run", folder.path, message)
        return
    raise RunFolderError(f"{message}; re-prepare them as they were, or pass "
                         f"--force to use them anyway", folder.path)


def load_run(run_dir: PathLike, dataset=None, device: Optional[str] = None,
             force: bool = False):
    r"""Rebuilds the dataset and the selected model of a finished run (or
    of a grid folder's selected run).

    Returns ``(model, dataset, results)``; the model is in eval mode with the
    best checkpoint loaded (``weights_only=True``). Without ``dataset`` the
    run's data are loaded (with its recorded forget requests applied) and
    checked against the dataset fingerprint of ``run.json``
    (:func:`check_data`; ``force`` only warns). A missing, corrupt or
    mismatched file is a :class:`~mmgraph.errors.RunFolderError` naming
    it."""
    from mmgraph.data import load_dataset
    from mmgraph.models import create_model
    folder = RunFolder(run_dir_of_best(run_dir))
    results = folder.read_results(loadable=True)
    checkpoint = folder.file(CHECKPOINT)
    if not checkpoint.is_file():
        raise RunFolderError(f"no {CHECKPOINT}", folder.path)
    if dataset is None:
        dataset = folder.apply_requests(load_dataset(results["data"]))
        check_data(folder, dataset, force)
    config = results["config"]
    dev = torch.device(device or config["train"].get("device", "cpu"))
    state = folder.load_checkpoint(map_location=dev)
    try:
        model = create_model(results["model"], dataset, **config["model"])
        model.load_state_dict(state["model"])
    except (RuntimeError, ValueError, KeyError, TypeError) as e:
        if isinstance(e, RunFolderError):
            raise
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise RunFolderError(f"cannot be loaded as the checkpoint of this "
                             f"{results['model']!r} run ({type(e).__name__}: "
                             f"{first[:200]})", checkpoint) from None
    model.to(dev).eval()
    return model, dataset, results


def check_unlearn_out(run_dir: PathLike, out_dir: PathLike) -> Path:
    r"""The finished run an unlearning reads (:func:`run_dir_of_best`),
    after checking that ``out_dir`` is neither that run nor inside it:
    unlearning writes a new run and never replaces the original."""
    run = run_dir_of_best(run_dir)
    results = RunFolder(run).read_results(loadable=True)
    if not results.get("finished", True):
        raise RunFolderError("the run has not finished training (resume it "
                             "with 'mmgraph train ... --resume')", run)
    out = Path(out_dir).resolve()
    for source in {Path(run_dir).resolve(), run.resolve()}:
        if out == source or source in out.parents:
            raise RunFolderError(
                f"--out is (inside) the --run folder {run_dir}; unlearning "
                f"writes a new run next to the original: choose another "
                f"--out", out_dir)
    return run


# ---------------------------------------------------------------------------
# Unlearning a run
# ---------------------------------------------------------------------------
def unlearn_run(run_dir: PathLike, out_dir: PathLike,
                request_fn: Callable[[Any], ForgetRequest],
                gold: bool = False, finetune: bool = False,
                device: Optional[str] = None, show_progress: bool = True,
                force: bool = False, **unlearn_kwargs: Any) -> Dict[str, Any]:
    r"""Unlearns a request from a finished run and compares the models.

    Args:
        run_dir: a run folder of ``mmgraph train`` (or of an earlier
            ``mmgraph unlearn``: requests chain).
        out_dir: the new run folder (``results.json``, ``checkpoint.pt``,
            ``unlearn_request.json``, ``unlearn.json``; ``gold/`` and
            ``finetune/`` sub-runs).
        request_fn: ``dataset -> ForgetRequest`` (built on the run's
            dataset, so random fractions see its ids).
        gold (bool): also retrain from scratch on the retain set with the
            run's config (same epoch cap).
        finetune (bool): also fine-tune the original on the retain set only
            (the same loop with ``alpha=0``).
        device (str, optional): ``'cpu'`` or ``'cuda'``.
        force (bool): unlearn even when the run's data changed since it was
            trained (:func:`check_data` only warns).
        **unlearn_kwargs: keywords of :class:`~mmgraph.unlearn.Unlearner`.

    Returns:
        The ``unlearn.json`` dict.
    """
    from mmgraph.models import create_model

    source = RunFolder(check_unlearn_out(run_dir, out_dir))
    run = source.path
    out = RunFolder(out_dir)
    results = source.read_results(loadable=True)
    previous = source.requests()
    model, dataset, _ = load_run(run, device=device, force=force)
    config = copy.deepcopy(results["config"])
    if device:
        config["train"]["device"] = device
    tc = config["train"]
    request = request_fn(dataset)
    source_name = request.source or "the forget request"
    try:
        forget, _ = request.split(dataset)
        retain_ds = request.apply(dataset)
    except ValueError as e:  # an empty request, or one that removes nothing
        if isinstance(e, MMGraphError):
            raise
        raise DataFormatError(str(e), source_name) from None
    for split in ("train", "valid", "test"):
        if retain_ds.split_edge_index(split).size(1) == 0:
            raise DataFormatError(
                f"the request leaves no {split} interactions (forgetting "
                f"{len(request)} {request.kind}); nothing would be left to "
                f"{'train' if split == 'train' else 'evaluate'} on: forget "
                f"fewer", source_name)
    log.info("unlearn: %r -> %d forget / %d retain training interactions",
             request, forget.size(1), retain_ds.train_edge_index.size(1))

    nonmembers = nonmember_edges(dataset, forget[0])

    def measure(m, train_edges=None):
        out = unlearning_metrics(m, retain_ds, forget, train_edges,
                                 tc["metrics"], tc["topk"],
                                 tc["eval_batch_size"])
        # Membership inference: forget pairs against the same users' test
        # pairs, ranked among the items outside D_r (every model alike).
        out["mia_auc"] = membership_auc(
            m, forget, nonmembers, retain_ds.train_edge_index,
            batch_size=tc["eval_batch_size"]) if nonmembers.size(1) else None
        return out

    models: Dict[str, Dict[str, Any]] = {}
    models["original"] = {**measure(model, dataset.train_edge_index),
                          "seconds": results.get("wall_seconds"),
                          "cpu_seconds": results.get("cpu_seconds"),
                          "epochs": results.get("epochs")}
    # Sparse graph buffers cannot be deep-copied: keep the weights only.
    state0 = {k: v.detach().clone() for k, v in model.state_dict().items()} \
        if finetune else None
    epoch_offset = int(results.get("best_epoch", -1)) + 1
    base = {"config": config, "data": results["data"],
            "source_run": str(run)}

    def unlearn_into(folder: RunFolder, m, **kw):
        with _locked(folder):
            extra = dict(base)
            if is_main_process():
                extra["unlearn_request"] = folder.write_requests(
                    previous + [request])
            un = Unlearner(m, dataset, request, config=tc,
                           epoch_offset=epoch_offset, extra_results=extra,
                           previous_requests=previous,
                           callbacks=folder.callbacks(resume=False),
                           show_progress=show_progress, **kw)
            return un, un.fit()

    unlearner, res = unlearn_into(out, model, **unlearn_kwargs)
    models["unlearned"] = {**measure(model), "seconds": res["wall_seconds"],
                           "cpu_seconds": res["cpu_seconds"],
                           "epochs": len(res["history"]) - 1,
                           "selected_epoch": res["best_epoch"],
                           "stop_reason": res["unlearn"]["stop_reason"],
                           "over_forgetting":
                               res["unlearn"]["over_forgetting"]}

    if finetune:
        frozen = create_model(results["model"], dataset, **config["model"])
        frozen.load_state_dict(state0)
        frozen.to(next(iter(state0.values())).device)
        _, res_ft = unlearn_into(RunFolder(out.path / "finetune"), frozen,
                                 **dict(unlearn_kwargs, alpha=0.0,
                                        reinit_rows=False))
        models["finetune"] = {**measure(frozen),
                              "seconds": res_ft["wall_seconds"],
                              "cpu_seconds": res_ft["cpu_seconds"],
                              "epochs": len(res_ft["history"]) - 1,
                              "selected_epoch": res_ft["best_epoch"],
                              "stop_reason": res_ft["unlearn"]["stop_reason"]}
        del frozen, state0

    if gold:
        gold_dir = RunFolder(out.path / "gold")
        t0, c0 = time.perf_counter(), time.process_time()
        rel = gold_dir.write_requests(previous + [request]) \
            if is_main_process() else REQUEST_FILE
        res_g, gold_model = train_run(
            results["model"], retain_ds, copy.deepcopy(config),
            gold_dir.path, data_spec=results["data"],
            show_progress=show_progress,
            extra_results={"unlearn_request": rel})
        seconds = time.perf_counter() - t0
        cpu_seconds = time.process_time() - c0
        models["gold"] = {**measure(gold_model), "seconds": seconds,
                          "cpu_seconds": cpu_seconds,
                          "epochs": res_g["epochs"],
                          "selected_epoch": res_g["best_epoch"]}

    summary = {
        "model": results["model"], "dataset": results.get("dataset"),
        "data": results["data"], "source_run": str(run),
        "request": {**{k: v for k, v in request.to_dict().items()
                       if k != "ids"}, "num_ids": len(request),
                    "forget_edges": int(forget.size(1)),
                    "retain_edges": int(retain_ds.train_edge_index.size(1)),
                    "previous_requests": len(previous)},
        "method": unlearner.method,
        "settings": {"method": unlearner.method, "alpha": unlearner.alpha,
                     "epochs": unlearner.config.epochs,
                     "learning_rate": unlearner.config.learning_rate,
                     "forget_learning_rate": unlearner.forget_learning_rate,
                     "batch_size": unlearner.config.batch_size,
                     "retain_batch_size": unlearner.retain_batch_size,
                     "min_steps": res["unlearn"]["min_steps"],
                     "patience": unlearner.config.patience,
                     "valid_tolerance": unlearner.valid_tolerance,
                     "target_forget": unlearner.stopping.target,
                     "target_rule": unlearner.target_forget,
                     "selection": unlearner.selection,
                     "forget_loss": unlearner.forget_loss,
                     "forget_side": unlearner.forget_side,
                     "seed": unlearner.config.seed,
                     "train_epochs_cap": tc["epochs"]},
        "protocol": ("forget: forget edges as targets, retained training "
                     "items masked (lower is better); valid/test: the retain "
                     "dataset's splits, each model's own training items and "
                     "removed items masked; seconds: end-to-end wall clock "
                     "(original and gold: training to early stopping or the "
                     "epoch cap); cpu_seconds: CPU time of this process "
                     "(None where the run did not record it); mia_auc: "
                     "membership-inference AUC of the forget pairs against "
                     "the same users' test pairs (per-user rank among the "
                     "items outside the retained training set; 0.5 = "
                     "indistinguishable, compare with gold)"),
        "models": models,
    }
    if gold:
        summary["speedup_vs_gold"] = models["gold"]["seconds"] / \
            max(models["unlearned"]["seconds"], 1e-9)
        summary["cpu_speedup_vs_gold"] = models["gold"]["cpu_seconds"] / \
            max(models["unlearned"]["cpu_seconds"], 1e-9)
    if is_main_process():
        atomic_write_json(out.file(UNLEARN_FILE), summary)
    return summary

