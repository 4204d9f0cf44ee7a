r"""The run folder: its files, identity, lock and writer callback.

A **run folder** holds one trained (or unlearned) model::

    run.json              identity: model, resolved config, dataset
                          fingerprint, package and code versions
    results.json          the results (rewritten after every epoch;
                          "finished": true once the test split is evaluated)
    checkpoint.pt         the trainer's state at the selected epoch
    resume.pt             the trainer's state at the last epoch, while it
                          is later than the selected one (a resumed run
                          continues from it)
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
improvement, the resume state on every other epoch, top-k and curve at the
end) and resume from it: a run killed and restarted with ``resume=True``
continues from its last finished epoch and ends exactly as the
uninterrupted run.
"""
from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import shutil
from pathlib import Path
from typing import (Any, Dict, Iterator, List, Optional, Sequence,
                    Union)

import torch

from mmgraph.config import TrainConfig
from mmgraph.distributed import barrier, is_main_process
from mmgraph.errors import RunFolderError
from mmgraph.io import (atomic_torch_save, atomic_write_json,
                        atomic_write_text, code_version, package_versions,
                        safe_torch_load)
from mmgraph.train.callbacks import Callback, plot_training_curve
from mmgraph.train.trainer import Trainer
from mmgraph.unlearn import (ForgetRequest, requests_from_dict,
                             requests_to_dict)

__all__ = ["RunFolder", "RunFolderWriter", "CHECKPOINT", "RESUME_FILE",
           "RESULTS",
           "TOPK_FILE", "CURVE_FILE", "GRID_FILE", "REQUEST_FILE",
           "IDENTITY_FILE", "UNLEARN_FILE", "LOCK_FILE", "SEARCH_FILE",
           "STUDY_FILE", "TRIALS_DIR", "RUN_FILES", "RESUMABLE_CHANGES",
           "locked"]

log = logging.getLogger("mmgraph")

CHECKPOINT = "checkpoint.pt"
#: The trainer's state after the last epoch when that epoch did not improve
#: (the checkpoint holds the selected one); without it a resumed run would
#: repeat every epoch after the best one.
RESUME_FILE = "resume.pt"
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
RUN_FILES = (CHECKPOINT, RESUME_FILE, RESULTS, TOPK_FILE, CURVE_FILE, GRID_FILE, "runs",
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


#: No default known for a setting.
_NO_DEFAULT = object()


def setting_default(key: str, model: Optional[str] = None) -> Any:
    r"""The code's default of a flattened configuration key
    (``config.train.<field>``: :class:`~mmgraph.config.TrainConfig`;
    ``config.model.<arg>``: ``model``'s constructor), else a sentinel that
    equals nothing."""
    import dataclasses
    import inspect
    parts = key.split(".")
    if len(parts) == 3 and parts[0] == "config" and parts[1] == "train":
        fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
        f = fields.get(parts[2])
        if f is not None:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
    if len(parts) == 3 and parts[0] == "config" and parts[1] == "model" \
            and model:
        from mmgraph.models.registry import MODELS
        if model in MODELS:
            param = inspect.signature(MODELS.get(model).__init__
                                      ).parameters.get(parts[2])
            if param is not None and param.default is not param.empty:
                return param.default
    return _NO_DEFAULT


def added_at_default(saved: Dict[str, Any], key: str, value: Any,
                     model: Optional[str] = None) -> bool:
    r"""Whether flattened ``key`` is a setting the code gained after
    ``saved`` (flattened) was recorded, at its default value: such a key
    describes the same run (a run folder or suite run written by an older
    version stays resumable, and is not started over)."""
    return key not in saved and value == setting_default(key, model)


#: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (what identities are compared on).
flatten_dict = _flatten


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

    def load_checkpoint(self, map_location: Any = None,
                        name: str = CHECKPOINT) -> Dict[str, Any]:
        r"""``checkpoint.pt`` (or :obj:`name`, e.g. :data:`RESUME_FILE`;
        ``weights_only=True``)."""
        path = self.file(name)
        if not path.is_file():
            raise RunFolderError(f"no {name}", self.path)
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

    def save_checkpoint(self, state: Dict[str, Any],
                        name: str = CHECKPOINT) -> None:
        atomic_torch_save(self.file(name), state)

    def drop_resume_state(self) -> None:
        r"""Removes :data:`RESUME_FILE` (the checkpoint is the latest
        state again)."""
        with contextlib.suppress(FileNotFoundError):
            self.file(RESUME_FILE).unlink()

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
        model = b.get("model") if isinstance(b.get("model"), str) else None
        diffs = sorted((k for k in keys
                        if not ignored(k) and a.get(k) != b.get(k)
                        and not added_at_default(a, k, b.get(k), model)),
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
        the block fails is removed again.

        Under ``torchrun`` every rank makes the same checks (so every rank
        stops on the same error); only the main process, which writes the
        run, takes the lock and clears, after every rank has looked."""
        out = self.path
        if out.exists() and not out.is_dir():
            raise RunFolderError("exists and is not a folder; --out names a "
                                 "run folder", out)
        main = is_main_process()
        created = not out.exists()
        try:
            with self.lock() if main else contextlib.nullcontext(self):
                entries = sorted(p.name for p in out.iterdir()
                                 if p.name != LOCK_FILE) \
                    if out.is_dir() else []
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
                barrier()  # every rank has looked before the main one writes
                if entries and not resume and main:
                    removed = self.clear()
                    if removed:
                        log.info("%s: --overwrite removed %s", out,
                                 ", ".join(removed))
                yield self
        except BaseException:
            if main and created and out.is_dir() and not any(out.iterdir()):
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
            self._load(trainer, state, CHECKPOINT)
            last = self._resume_state(state, trainer)
            if last is not None:
                self._load(trainer, last, RESUME_FILE,
                           best_model=state["model"])
            self._check_budget(trainer)
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

    def _load(self, trainer, state: Dict[str, Any], name: str,
              **kwargs: Any) -> None:
        try:
            trainer.load_state_dict(state, **kwargs)
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise RunFolderError(
                f"cannot resume from it: it does not fit this "
                f"{type(trainer.model).__name__} ({type(e).__name__}: "
                f"{first}); start a new run folder or drop --resume",
                self.folder.file(name)) from None

    def _resume_state(self, checkpoint: Dict[str, Any], trainer
                      ) -> Optional[Dict[str, Any]]:
        # resume.pt continues the run only if it is later than the
        # checkpoint and selected the checkpoint's epoch; one left behind by
        # a kill between the two writes of an improving epoch is older.
        folder = self.folder
        if not folder.file(RESUME_FILE).is_file():
            return None
        try:
            last = folder.load_checkpoint(trainer.device, name=RESUME_FILE)
        except RunFolderError as e:
            raise RunFolderError(
                f"{e.reason}; delete {RESUME_FILE} to resume from "
                f"{CHECKPOINT} (its epochs after the best one are trained "
                f"again)", e.path) from None
        self._check_config(last, trainer, RESUME_FILE)
        if int(last["epoch"]) <= int(checkpoint["epoch"]):
            return None
        if int(last["best_epoch"]) != int(checkpoint["epoch"]):
            raise RunFolderError(
                f"selected epoch {last['best_epoch']} but {CHECKPOINT} holds "
                f"epoch {checkpoint['epoch']}: the two files are not of one "
                f"run; delete {RESUME_FILE} to resume from {CHECKPOINT}",
                folder.file(RESUME_FILE))
        return last

    def _check_budget(self, trainer) -> None:
        # The epoch budget may only grow: a smaller one trains nothing, yet
        # would record a run of fewer epochs than its results hold.
        trained, cap = trainer.start_epoch, trainer.config.epochs
        if cap < trained:
            raise RunFolderError(
                f"holds a run trained for {trained} epochs, more than the "
                f"epochs={cap} given; the epoch budget may only grow on "
                f"--resume: set epochs to at least {trained}, or start a new "
                f"run folder (another --out)", self.folder.path)

    def _check_config(self, state: Dict[str, Any], trainer,
                      name: str = CHECKPOINT) -> None:
        # Only the epoch budget may change: extending a finished run is a
        # resume too; anything else would mix two experiments.
        saved = {k: v for k, v in state.get("config", {}).items()
                 if k != "epochs"}
        # A setting the code gained since the checkpoint, at its default,
        # is the same run (as in RunFolder.check_identity).
        flat = {f"config.train.{k}": v for k, v in saved.items()}
        current = {k: v for k, v in trainer.config.to_dict().items()
                   if k != "epochs" and not added_at_default(
                       flat, f"config.train.{k}", v)}
        if saved != current:
            changed = sorted(k for k in set(saved) | set(current)
                             if saved.get(k) != current.get(k))
            raise RunFolderError(
                f"was written with another training setting (differs in "
                f"{', '.join(changed)}); only epochs may change on --resume: "
                f"start a new run folder (another --out) or drop --resume",
                self.folder.file(name))

    def on_epoch_end(self, trainer, epoch: int,
                     record: Dict[str, Any]) -> None:
        if not is_main_process():
            return
        if record.get("improved"):
            self.folder.save_checkpoint(trainer.state_dict())
            self.folder.drop_resume_state()
        elif self.resume is not False:  # False: a run never resumed (unlearning)
            self.folder.save_checkpoint(trainer.state_dict(), RESUME_FILE)
        self.folder.write_results(trainer.results(final=False))

    def on_fit_end(self, trainer, results: Dict[str, Any]) -> None:
        if not is_main_process():
            return
        self.folder.write_results(results)
        if trainer.stop_reason != "max_epochs":
            # Stopped for good (early stopping); a run that reached its
            # epoch budget keeps the state to be extended from.
            self.folder.drop_resume_state()
        self.folder.write_topk(trainer.model, trainer.evaluator,
                               trainer.dataset,
                               self.top_k or trainer.config.top_k_file)
        self.folder.write_curve(trainer.history, trainer.config.valid_metric)


@contextlib.contextmanager
def locked(folder: Optional[RunFolder]):
    r"""Holds ``folder``'s lock on the main process (nothing for ``None``
    or another rank)."""
    if folder is None or not is_main_process():
        yield
    else:
        with folder.lock():
            yield
