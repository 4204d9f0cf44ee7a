r"""Many models: :class:`Experiment`, models × datasets × objectives × seeds
(× grid points), resumable, with its reports; and suite files."""
from __future__ import annotations

import copy
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from mmgraph.errors import did_you_mean
from mmgraph.experiment.resolve import (expand_grid, read_yaml_mapping,
                                       resolve_config)
from mmgraph.experiment.runner import (MEMORY_NOTE, ExperimentError, RunSpec,
                                       execute, run_record)
from mmgraph.models.registry import MODELS
from mmgraph.report import (TABLE_METRICS, extra_markdown, extra_tables, mean_std,
                            summarise, summary_csv,
                            summary_figures, summary_markdown)
from mmgraph.train.objectives.base import OBJECTIVES
from mmgraph.io import (atomic_write_bytes, atomic_write_json,
                        atomic_write_text, package_versions)

__all__ = ["Experiment", "QUICK_DEFAULTS"]

#: What ``mmgraph prepare`` runs from: the folder that holds the package.
_PACKAGE_PARENT = Path(__file__).resolve().parents[2]
#: Applied by ``quick=True`` before the suite's own ``quick:`` section.
QUICK_DEFAULTS: Dict[str, Any] = {
    "datasets": {"synthetic": "synthetic"},
    "seeds": [999, 2024],
    "train": {"epochs": 3, "patience": 3},
}
SUITE_KEYS = ("name", "description", "data_root", "raw_root", "datasets",
              "models", "objectives", "seeds", "train", "overrides", "quick",
              "grid", "extends")




def _merge(base: Dict[str, Any], over: Dict[str, Any]) -> Dict[str, Any]:
    r"""Recursive dict merge; ``over`` wins, lists are replaced."""
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_suite(path: Path, seen: Sequence[Path] = ()) -> Dict[str, Any]:
    r"""One suite file's mapping, with its ``extends:`` chain merged under it.

    ``extends: base.yaml`` (relative to the extending file) reads that suite
    first and merges this file over it (:func:`_merge`: mappings merge, lists
    and scalars replace), so a variant such as a capped-epoch run of a suite
    names only what differs and cannot drift from its base.
    """
    if seen and not path.exists():
        raise ExperimentError(f"{path}: suite file not found (extended by "
                              f"{seen[-1]})")
    raw = read_yaml_mapping(path, ExperimentError, "suite file")
    unknown = sorted(set(raw) - set(SUITE_KEYS))
    if unknown:
        raise ExperimentError(
            f"{path}: unknown key(s) {unknown}; valid: "
            f"{sorted(SUITE_KEYS)}.{did_you_mean(unknown[0], SUITE_KEYS)}")
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ExperimentError(f"{path}: 'extends' must be the path of one "
                              f"suite file, got {parent!r}")
    parent_path = (path.parent / parent).resolve()
    chain = [*seen, path.resolve()]
    if parent_path in chain:
        raise ExperimentError(
            f"{path}: 'extends' loops: "
            f"{' -> '.join(str(p) for p in [*chain, parent_path])}")
    return _merge(_read_suite(parent_path, chain), raw)


def _as_list(value: Any, where: str) -> list:
    if value is None:
        return []
    if isinstance(value, (str, int)):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise ExperimentError(f"{where}: expected a list, got {value!r}")
    return list(value)


def _resolve_path(path: Union[str, Path], root: Path) -> str:
    path = os.path.expanduser(os.path.expandvars(str(path)))
    if path == "synthetic":
        return path
    p = Path(path)
    return str(p if p.is_absolute() else (root / p).resolve())


@dataclass
class Experiment:
    r"""Models × datasets × objectives × seeds (× grid points), resumable.

    In the style of cornac's ``Experiment``: declare what to compare, call
    :meth:`run`, read the table. Every run trains one model to early
    stopping on validation (:func:`train_model`) into
    ``out/runs/<dataset>/<model>[+<objective>]/seed<seed>/`` (with a grid:
    ``.../<point>-seed<seed>/``). A run whose results are finished with the
    same resolved configuration is skipped, an interrupted one resumes from
    its checkpoint, and a run whose specification changed (the experiment
    or a model default) starts over. :meth:`write_reports` summarises every
    finished run as mean ± std over seeds (``results.{md,csv,json}`` and
    figures); with a grid, the point with the best mean validation
    ``valid_metric`` is reported (the test split never selects).

    Args:
        models (list of str): registered model names.
        datasets (dict): name -> ``'synthetic'``, a prepared folder, or
            ``{"path": ..., "options": {...synthetic generator keywords},
            "prepare": {...mmgraph prepare options}}``.
        objectives (list of str): ``'auto'`` (the model's native loss, else
            BPR) or registered objective names (default: ``['auto']``).
        seeds (list of int): seeds of every run (default: ``[999]``).
        train (dict): config keys for every run (``{'epochs': 100}``).
        overrides (dict): model name -> config keys for that model.
        grid (bool): search each model's published grid (default:
            :obj:`False`); list values in ``train``/``overrides`` are grid
            axes either way.
        name (str): the experiment's name (report title).
        description (str): a paragraph for the report.

    Example::

        exp = Experiment(["mf", "lightgcn"], {"synthetic": "synthetic"},
                         seeds=[1, 2], train={"epochs": 20})
        failed = exp.run("runs/exp")
        rows = exp.write_reports("runs/exp")
    """
    models: List[str]
    datasets: Dict[str, Any]
    objectives: List[str] = field(default_factory=lambda: ["auto"])
    seeds: List[int] = field(default_factory=lambda: [999])
    train: Dict[str, Any] = field(default_factory=dict)
    overrides: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    grid: bool = False
    name: str = "experiment"
    description: str = ""

    def __post_init__(self) -> None:
        self.models = [str(m) for m in _as_list(self.models, "models")]
        self.seeds = [int(s) for s in _as_list(self.seeds, "seeds")]
        self.objectives = [str(o) for o in
                           _as_list(self.objectives, "objectives")]
        datasets = {}
        for name, entry in dict(self.datasets or {}).items():
            if isinstance(entry, (str, Path)):
                entry = {"path": str(entry)}
            if not isinstance(entry, dict) or "path" not in entry:
                raise ExperimentError(
                    f"dataset {name!r}: expected 'synthetic', a prepared "
                    f"folder or a mapping with a 'path'")
            d = {"path": str(entry["path"]),
                 "options": dict(entry.get("options") or {})}
            if entry.get("prepare"):
                d["prepare"] = dict(entry["prepare"])
            datasets[str(name)] = d
        self.datasets = datasets
        self.overrides = {k: dict(v or {}) for k, v in
                          (self.overrides or {}).items()}
        self.train = dict(self.train or {})

    # ------------------------------------------------------------ building
    @classmethod
    def from_yaml(cls, path: Union[str, Path], quick: bool = False,
                  data_root: Optional[str] = None,
                  raw_root: Optional[str] = None,
                  data_overrides: Sequence[str] = (),
                  base: Union[str, Path, None] = None) -> "Experiment":
        r"""Reads a suite file (see ``benchmarks/suites/``).

        Args:
            path: the YAML file.
            quick (bool): merge :data:`QUICK_DEFAULTS` and the suite's own
                ``quick:`` section over it (a smoke test).
            data_root (str, optional): base of relative dataset paths
                (default: ``$MMGRAPH_DATA_ROOT``, else the suite's
                ``data_root``, relative to ``base``).
            raw_root (str, optional): base of relative ``prepare`` inputs
                (default: ``$MMGRAPH_RAW_ROOT``, else the suite's
                ``raw_root``).
            data_overrides (list of str): ``NAME=PATH``: use the prepared
                folder ``PATH`` for dataset ``NAME``.
            base (str, optional): what relative roots start from (default:
                the current directory).
        """
        raw = _read_suite(Path(path))
        if quick:
            raw = _merge(_merge(raw, QUICK_DEFAULTS), raw.get("quick") or {})
            # quick replaces the datasets rather than adding synthetic data.
            raw["datasets"] = (raw.get("quick") or {}).get(
                "datasets", QUICK_DEFAULTS["datasets"])
        root = Path(base) if base is not None else Path.cwd()
        data_root = data_root or os.environ.get("MMGRAPH_DATA_ROOT") or \
            raw.get("data_root", ".")
        raw_root = raw_root or os.environ.get("MMGRAPH_RAW_ROOT") or \
            raw.get("raw_root", ".")
        droot = Path(_resolve_path(data_root, root))
        rroot = Path(_resolve_path(raw_root, root))
        given = dict(raw.get("datasets") or {})
        for item in data_overrides:
            if "=" not in item:
                raise ExperimentError(f"--data {item!r}: expected NAME=PATH")
            name, value = item.split("=", 1)
            if name not in given:
                raise ExperimentError(
                    f"--data {name}: the suite has no dataset {name!r} (has "
                    f"{sorted(given)}){did_you_mean(name, given)}")
            entry = dict(given[name]) if isinstance(given[name], dict) else {}
            entry.update(path=value, prepare=None)  # an existing folder
            given[name] = entry
        if not given:
            raise ExperimentError(f"{path}: no datasets")
        datasets: Dict[str, Dict[str, Any]] = {}
        for name, entry in given.items():
            if isinstance(entry, str):
                entry = {"path": entry}
            if not isinstance(entry, dict) or "path" not in entry:
                raise ExperimentError(
                    f"{path}: dataset {name!r} needs a path ('synthetic' or "
                    f"a prepared folder)")
            d = {"path": _resolve_path(entry["path"], droot),
                 "options": dict(entry.get("options") or {})}
            if d["options"] and d["path"] != "synthetic":
                raise ExperimentError(
                    f"{path}: dataset {name!r}: 'options' are generator "
                    f"settings of 'synthetic' only")
            prep = entry.get("prepare")
            if prep:
                prep = dict(prep)
                for k in ("interactions", "item_text", "images"):
                    if prep.get(k):
                        prep[k] = _resolve_path(prep[k], rroot)
                prep.setdefault("name", name)
                d["prepare"] = prep
            datasets[name] = d
        models = [str(m) for m in _as_list(raw.get("models"), "models")]
        if not models:
            raise ExperimentError(f"{path}: no models")
        overrides = raw.get("overrides") or {}
        for m in overrides:
            if m not in models:
                raise ExperimentError(
                    f"{path}: overrides for {m!r}, which is not in models "
                    f"{models}")
        return cls(models=models, datasets=datasets,
                   objectives=raw.get("objectives") or ["auto"],
                   seeds=raw.get("seeds") or [999],
                   train=dict(raw.get("train") or {}), overrides=overrides,
                   grid=bool(raw.get("grid", False)),
                   name=str(raw.get("name") or Path(path).stem),
                   description=str(raw.get("description") or ""))

    def select(self, models: Union[str, Sequence[str], None] = None,
               datasets: Union[str, Sequence[str], None] = None,
               seeds: Union[str, Sequence[int], None] = None,
               objectives: Union[str, Sequence[str], None] = None
               ) -> "Experiment":
        r"""A copy restricted to a subset (comma-separated strings or
        lists); asking for something the experiment lacks is an error."""
        s = copy.deepcopy(self)

        def pick(given, have: list, what: str, cast=str) -> list:
            if not given:
                return have
            items = given.split(",") if isinstance(given, str) else given
            want = [cast(str(x).strip()) for x in items if str(x).strip()]
            missing = [w for w in want if w not in have]
            if missing:
                raise ExperimentError(
                    f"--{what} {','.join(map(str, missing))}: not in the "
                    f"suite ({', '.join(map(str, have))})"
                    f"{did_you_mean(missing[0], have)}")
            return [h for h in have if h in want]
        s.models = pick(models, s.models, "models")
        s.seeds = pick(seeds, s.seeds, "seeds", int)
        s.objectives = pick(objectives, s.objectives, "objectives")
        keep = pick(datasets, list(s.datasets), "datasets")
        s.datasets = {k: v for k, v in s.datasets.items() if k in keep}
        return s

    def check(self) -> None:
        r"""Every model and objective is registered (else
        :class:`ExperimentError` with a hint)."""
        have = MODELS.names()
        missing = [m for m in self.models if m not in have]
        if missing:
            raise ExperimentError(
                f"unknown model(s) {missing}; registered: {', '.join(have)}."
                f"{did_you_mean(missing[0], have)}")
        objs = ["auto"] + OBJECTIVES.names()
        bad = [o for o in self.objectives if o not in objs]
        if bad:
            raise ExperimentError(f"unknown objective(s) {bad}; valid: "
                                  f"{objs}.{did_you_mean(bad[0], objs)}")

    def plan(self, out: Union[str, Path]) -> List[RunSpec]:
        r"""Every run, in dataset, model, objective, grid point, seed
        order."""
        out = Path(out)
        runs = []
        for ds, data in self.datasets.items():
            for model in self.models:
                for obj in self.objectives:
                    base = dict(self.train)
                    base.update(self.overrides.get(model, {}))
                    if obj != "auto":
                        base["objective"] = obj
                    points = list(expand_grid(resolve_config(
                        model, None, base, use_grid=self.grid), model))
                    for i, (point, _) in enumerate(points):
                        # The point's value replaces the axis (a list),
                        # whether the axis was given bare or qualified.
                        axes = set(point) | {k.split(".", 1)[1]
                                             for k in point}
                        fixed = {k: v for k, v in base.items()
                                 if k not in axes}
                        for seed in self.seeds:
                            over = {**fixed, **point, "seed": int(seed)}
                            spec = RunSpec(ds, model, obj, int(seed), data,
                                           over, out)
                            folder = f"seed{seed}"
                            if len(points) > 1:
                                spec.point, spec.point_index = point, i
                                folder = f"{i}-seed{seed}"
                            spec.run_dir = out / "runs" / ds / spec.label / \
                                folder
                            runs.append(spec)
        for i, r in enumerate(runs):
            r.index, r.total = i + 1, len(runs)
        return runs

    # ------------------------------------------------------------- running
    def prepare_data(self, log=print) -> None:
        r"""Runs ``mmgraph prepare`` for datasets whose folder does not
        exist yet but that say how to make it."""
        for name, d in self.datasets.items():
            if d["path"] == "synthetic" or Path(d["path"]).exists():
                continue
            prep = d.get("prepare")
            if not prep:
                raise ExperimentError(
                    f"dataset {name!r}: folder {d['path']} not found "
                    f"(prepare it with 'mmgraph prepare', or pass --data "
                    f"{name}=PATH / --data-root DIR)")
            cmd = [sys.executable, "-m", "mmgraph.cli", "prepare",
                   "--out", d["path"]]
            for key, value in prep.items():
                if value is None or value is False:
                    continue
                flag = "--" + key.replace("_", "-")
                cmd += [flag] if value is True else [flag, str(value)]
            log(f"preparing {name}: {' '.join(cmd[2:])}")
            rc = subprocess.call(cmd, cwd=str(_PACKAGE_PARENT))
            if rc != 0:
                raise ExperimentError(f"dataset {name!r}: 'mmgraph prepare' "
                                      f"failed (exit code {rc})")

    def run(self, out: Union[str, Path], isolation: str = "process",
            threads: Optional[int] = None, stream=None) -> List[RunSpec]:
        r"""Trains every run that is not finished; returns the runs that
        failed.

        Args:
            out: the experiment folder.
            isolation (str): ``'process'`` (each run in its own process
                forked from a server that has imported mmgraph, so its peak
                memory is its own; a run stops when this process is killed)
                or ``'none'`` (in this process).
            threads (int, optional): torch threads per run.
            stream: where progress lines go (default: ``sys.stdout``).
        """
        self.check()
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        return execute(self.plan(out), isolation, stream or sys.stdout,
                       threads)

    # ------------------------------------------------------------ results
    def records(self, out: Union[str, Path]) -> List[Dict[str, Any]]:
        r"""One record per finished run (test and validation metrics at the
        best-validation epoch, epochs, times, memory, the validation curve).
        With a grid, only the runs of each model's selected point: the one
        with the best mean validation ``valid_metric`` over its seeds."""
        records = [r for r in (run_record(s) for s in self.plan(out))
                   if r is not None]
        by_point: Dict[tuple, List[Dict[str, Any]]] = {}
        for r in records:
            by_point.setdefault((r["dataset"], r["label"], r["point_index"]),
                                []).append(r)
        best: Dict[tuple, Tuple[float, Any]] = {}
        for (ds, label, i), rs in by_point.items():
            score = mean_std([r["valid"].get(r["valid_metric"], float("nan"))
                              for r in rs])[0]
            if (ds, label) not in best or score > best[(ds, label)][0]:
                best[(ds, label)] = (score, i)
        return [r for r in records
                if best[(r["dataset"], r["label"])][1] == r["point_index"]]

    def write_reports(self, out: Union[str, Path], quick: bool = False
                      ) -> List[Dict[str, Any]]:
        r"""Writes ``results.{csv,json,md}`` and the figures of every
        finished run into ``out``; returns the summary rows
        (:func:`mmgraph.report.summarise`)."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        runs = self.plan(out)
        records = self.records(out)
        rows = summarise(records)
        finished = sum(1 for s in runs if s.state() == "done")
        missing = len(runs) - finished
        versions = package_versions()
        atomic_write_json(out / "results.json", {
            "suite": self.name, "description": self.description,
            "quick": quick, "table_metrics": list(TABLE_METRICS),
            "selection": "test metrics at the best-validation epoch "
                         "(early stopping and selection on validation only)",
            "memory": MEMORY_NOTE, "versions": versions,
            "unfinished_runs": missing, "rows": rows,
            "extra_tables": {k: {"headers": h, "rows": r} for k, (h, r)
                             in extra_tables(records).items()},
            "runs": [{k: v for k, v in r.items() if k != "curve"}
                     for r in records]})
        atomic_write_text(out / "results.csv", summary_csv(rows))
        atomic_write_text(out / "results.md", summary_markdown(
            f"Benchmark suite `{self.name}`" + (" (quick)" if quick else ""),
            rows, self.description, MEMORY_NOTE, versions, missing)
            + "\n" + extra_markdown(records))
        for name, png in summary_figures(records).items():
            atomic_write_bytes(out / name, png)
        return rows

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.name!r}, "
                f"models={self.models}, datasets={list(self.datasets)}, "
                f"objectives={self.objectives}, seeds={self.seeds}"
                f"{', grid=True' if self.grid else ''})")
