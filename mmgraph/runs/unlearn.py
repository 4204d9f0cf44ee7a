r"""Unlearning a finished run into a new run folder, with the comparison
models (gold, fine-tune) and ``unlearn.json``."""
from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Sequence, Tuple


from mmgraph.distributed import (barrier, cpu_seconds_all_ranks,
                                  is_main_process)
from mmgraph.errors import DataFormatError, MMGraphError, RunFolderError
from mmgraph.io import (atomic_write_json)
from mmgraph.unlearn import (ForgetRequest, Unlearner, membership_auc,
                             nonmember_edges, unlearning_metrics)

from mmgraph.runs.folder import (CHECKPOINT, IDENTITY_FILE, LOCK_FILE,
                                  REQUEST_FILE, RESULTS, RESUME_FILE,
                                  UNLEARN_FILE, PathLike, RunFolder,
                                  added_at_default, flatten_dict, locked)
from mmgraph.runs.train import load_run, run_dir_of_best, train_run

__all__ = ["GOLD_MAY_DIFFER", "check_gold_run", "check_unlearn_out",
           "finetune_settings", "retrain_gold", "unlearn_run"]

log = logging.getLogger("mmgraph")

#: Settings a gold run may have other than the unlearned run's: where it
#: ran and what it reports, not what it learned.
GOLD_MAY_DIFFER = frozenset(f"config.train.{k}" for k in (
    "device", "metrics", "topk", "eval_batch_size", "eval_test_each_epoch",
    "top_k_file"))


def finetune_settings(unlearn_kwargs: Dict[str, Any]) -> Dict[str, Any]:
    r"""The :class:`~mmgraph.unlearn.Unlearner` keywords of the fine-tuned
    baseline: the retained data only (``alpha=0``), from the original,
    under ``'mmrecun'``'s stopping and selection (whatever the unlearning's
    ``method``, so every method of a request is compared with the same
    fine-tune), one optimiser, no fresh rows. The loop, its length, batch
    sizes, tolerance and seed are the unlearning's; a target or selection
    given explicitly is kept."""
    return dict(unlearn_kwargs, method="mmrecun", alpha=0.0,
                reinit_rows=False, forget_learning_rate=None,
                forget_side="both")


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


def check_gold_run(gold_dir: PathLike, results: Dict[str, Any],
                   requests: Sequence[ForgetRequest],
                   flag: str = "--gold-from") -> None:
    r"""Checks that ``gold_dir`` is a finished retraining of the same model
    and data as the run of ``results``, with the same settings (model
    hyper-parameters, objective and training settings but those in
    :data:`GOLD_MAY_DIFFER`) and exactly ``requests`` applied (the same
    ids), else a :class:`~mmgraph.errors.RunFolderError` naming the folder,
    what differs and the option (``flag``) that named it."""
    folder = RunFolder(gold_dir)
    gold = folder.read_results(loadable=True)
    if not gold.get("finished", True):
        raise RunFolderError(f"{flag}: the gold run has not finished",
                             folder.path)
    for key in ("model", "data"):
        if gold.get(key) != results.get(key):
            raise RunFolderError(
                f"{flag}: its {key} is {gold.get(key)!r}, the unlearned "
                f"run's {results.get(key)!r}", folder.path)
    ours = flatten_dict(results.get("config", {}), "config")
    theirs = flatten_dict(gold.get("config", {}), "config")
    differ = sorted(
        k for k in set(ours) | set(theirs)
        if k not in GOLD_MAY_DIFFER and ours.get(k) != theirs.get(k)
        and not added_at_default(theirs, k, ours.get(k), results.get("model"))
        and not added_at_default(ours, k, theirs.get(k), results.get("model")))
    if differ:
        shown = ", ".join(f"{k[len('config.'):]} {theirs.get(k)!r} there, "
                          f"{ours.get(k)!r} here" for k in differ[:3])
        more = f" and {len(differ) - 3} more" if len(differ) > 3 else ""
        raise RunFolderError(
            f"{flag}: it was trained with other settings than the unlearned "
            f"run ({shown}{more}); a gold is the same training on the "
            f"retained data", folder.path)
    _check_gold_requests(folder, requests, flag)


def _check_gold_requests(folder: RunFolder,
                         requests: Sequence[ForgetRequest], flag: str) -> None:
    # (a retraining stopped in its first epoch has no results.json yet)
    chain = folder.requests() if folder.has_results() else \
        folder.read_requests(REQUEST_FILE)
    theirs = [r.to_dict() for r in chain]
    ours = [r.to_dict() for r in requests]
    if [{k: v for k, v in r.items() if k != "source"} for r in theirs] != \
            [{k: v for k, v in r.items() if k != "source"} for r in ours]:
        def described(chain):
            return ", ".join(f"{r['kind']} x{len(r['ids'])}"
                             for r in chain) or "none"
        what = "the same kinds and sizes but other ids" \
            if described(theirs) == described(ours) else "other requests"
        raise RunFolderError(
            f"{flag}: it was retrained for {what} "
            f"({described(theirs)}) than this unlearning's "
            f"({described(ours)}); the same kinds and ids are needed (a "
            f"random fraction: the same --seed)", folder.path)


def retrain_gold(gold_dir: PathLike, results: Dict[str, Any],
                 config: Dict[str, Any], retain_ds,
                 requests: Sequence[ForgetRequest],
                 show_progress: bool = True, flag: str = "--gold-dir"
                 ) -> Optional[Tuple[Dict[str, Any], Any]]:
    r"""Retrains the gold model of ``requests`` (the run of ``results``
    trained from scratch on ``retain_ds``) into ``gold_dir``, unless it
    already holds a finished one; an interrupted retraining of the same
    requests there (its checkpoint) is resumed, so an hour-long gold
    survives a stopped job. Anything else in the folder is refused, with
    ``flag`` (the option that named the folder) in the message.

    Returns :func:`train_run`'s ``(results, model)``, or ``None`` when the
    folder already held a finished retraining (measure it as is, after
    :func:`check_gold_run`)."""
    folder = RunFolder(gold_dir)
    finished = folder.is_finished()
    entries = {p.name for p in folder.path.iterdir() if p.name != LOCK_FILE} \
        if folder.path.is_dir() and not finished else set()
    resume = bool(entries & {CHECKPOINT, RESUME_FILE})
    if entries:
        # a retraining stopped before its first checkpoint left only these
        if REQUEST_FILE not in entries or not resume and not entries <= {
                REQUEST_FILE, IDENTITY_FILE, RESULTS}:
            raise RunFolderError(
                f"{flag}: holds files but no finished or interrupted "
                "retraining of a forget request; remove it or choose "
                "another folder", folder.path)
        _check_gold_requests(folder, requests, flag)
    barrier()  # every rank has read the folder before the main one clears
    if finished:
        return None
    if entries and not resume and is_main_process():
        folder.clear()  # nothing to resume: start over
    rel = folder.write_requests(requests) if is_main_process() \
        else REQUEST_FILE
    log.info("gold: %s the retraining on the retained data in %s",
             "resuming" if resume else "starting", folder.path)
    trained = train_run(results["model"], retain_ds, copy.deepcopy(config),
                        folder.path, resume=resume, data_spec=results["data"],
                        show_progress=show_progress,
                        extra_results={"unlearn_request": rel})
    barrier()  # the main process has finished writing the folder
    return trained


def unlearn_run(run_dir: PathLike, out_dir: PathLike,
                request_fn: Callable[[Any], ForgetRequest],
                gold: bool = False, finetune: bool = False,
                device: Optional[str] = None, show_progress: bool = True,
                force: bool = False, gold_from: Optional[PathLike] = None,
                gold_dir: Optional[PathLike] = None,
                **unlearn_kwargs: Any) -> Dict[str, Any]:
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
            (the same loop with ``alpha=0``, :func:`finetune_settings`: the
            same baseline whatever ``method``).
        gold_from: instead of retraining (``gold``), measure the gold model
            of an earlier run of the same request: a ``gold/`` folder that
            ``gold=True`` wrote. Its recorded requests must equal this run's
            (:func:`check_gold_run`); its seconds are those its training
            recorded (wall and CPU; without the graph building that
            ``gold=True`` also times).
        gold_dir: retrain the gold into this folder (outside ``out_dir``,
            so it outlives the unlearning run) *before* unlearning, resuming
            an interrupted retraining of the same request found there, or
            taking a finished one as is (:func:`retrain_gold`); then it is
            measured as with ``gold_from``. For long golds a job may stop
            in.
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
    if bool(gold) + (gold_from is not None) + (gold_dir is not None) > 1:
        raise ValueError("unlearn_run: give one of gold, gold_from and "
                         "gold_dir")
    if gold_dir is not None:
        retrain_gold(gold_dir, results, config, retain_ds,
                     previous + [request], show_progress=show_progress)
        gold_from = gold_dir
    if gold_from is not None:
        check_gold_run(gold_from, results, previous + [request],
                       flag="--gold-dir" if gold_dir is not None
                       else "--gold-from")
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
        with locked(folder):
            extra = dict(base)
            if is_main_process():
                extra["unlearn_request"] = folder.write_requests(
                    previous + [request])
            un = Unlearner(m, dataset, request, config=tc,
                           retain_dataset=retain_ds,
                           epoch_offset=epoch_offset, extra_results=extra,
                           previous_requests=previous,
                           callbacks=folder.callbacks(resume=False),
                           show_progress=show_progress, **kw)
            return un, un.fit()

    log.info("unlearn: method %s", unlearn_kwargs.get("method", "mmrecun"))
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
        log.info("fine-tune (the baseline: the retained data only)")
        tuner, res_ft = unlearn_into(RunFolder(out.path / "finetune"),
                                     frozen,
                                     **finetune_settings(unlearn_kwargs))
        models["finetune"] = {**measure(frozen),
                              "seconds": res_ft["wall_seconds"],
                              "cpu_seconds": res_ft["cpu_seconds"],
                              "epochs": len(res_ft["history"]) - 1,
                              "selected_epoch": res_ft["best_epoch"],
                              "stop_reason": res_ft["unlearn"]["stop_reason"],
                              "settings": {
                                  "method": tuner.method,
                                  "alpha": tuner.alpha,
                                  "target_forget":
                                      res_ft["unlearn"]["target_forget"],
                                  "target_rule": tuner.target_forget,
                                  "selection": tuner.selection}}
        del frozen, state0

    if gold_from is not None:
        gold_model, _, res_g = load_run(gold_from, dataset=retain_ds,
                                        device=device)
        # the seconds its training recorded (not its graph building)
        models["gold"] = {**measure(gold_model),
                          "seconds": res_g.get("wall_seconds"),
                          "cpu_seconds": res_g.get("cpu_seconds"),
                          "epochs": res_g.get("epochs"),
                          "selected_epoch": res_g.get("best_epoch"),
                          "run": str(Path(gold_from).resolve())}
        del gold_model
    elif gold:
        # retrained over whatever an earlier run left in out/gold
        if is_main_process():
            RunFolder(out.path / "gold").clear()
        barrier()
        t0, c0 = time.perf_counter(), time.process_time()
        res_g, gold_model = retrain_gold(
            out.path / "gold", results, config, retain_ds,
            previous + [request], show_progress=show_progress, flag="--gold")
        seconds = time.perf_counter() - t0
        cpu_seconds = cpu_seconds_all_ranks(time.process_time() - c0)
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
                     "target_estimate": res["unlearn"]["target_estimate"],
                     "reinit_rows": unlearner.reinit_rows,
                     "selection": unlearner.selection,
                     "forget_loss": unlearner.forget_loss,
                     "retain_loss": unlearner.retain_loss,
                     "forget_side": unlearner.forget_side,
                     "seed": unlearner.config.seed,
                     "train_epochs_cap": tc["epochs"]},
        "protocol": ("forget: forget edges as targets, retained training "
                     "items masked (lower is better); valid/test: the retain "
                     "dataset's splits, each model's own training items and "
                     "removed items masked; seconds: end-to-end wall clock "
                     "(original and gold: training to early stopping or the "
                     "epoch cap); cpu_seconds: CPU time of every process "
                     "of the job (summed over torchrun's ranks; None where "
                     "the run did not record it); mia_auc: "
                     "membership-inference AUC of the forget pairs against "
                     "the same users' test pairs (per-user rank among the "
                     "items outside the retained training set; 0.5 = "
                     "indistinguishable, compare with gold)"),
        "models": models,
    }
    for key, name in (("seconds", "speedup_vs_gold"),
                      ("cpu_seconds", "cpu_speedup_vs_gold")):
        spent = models.get("gold", {}).get(key)
        if spent is not None and models["unlearned"][key] is not None:
            summary[name] = spent / max(models["unlearned"][key], 1e-9)
    if is_main_process():
        atomic_write_json(out.file(UNLEARN_FILE), summary)
    return summary
