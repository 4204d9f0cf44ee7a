r"""Experiments: configuration resolution, grids × seeds, and suites of runs.

* :mod:`~mmgraph.experiment.resolve` -- a run's full configuration from the
  code's defaults (model constructors, ``TrainConfig`` and the model class's
  ``train_defaults``, objective constructors), the packaged published grids,
  a user file and ``--set`` overrides (:func:`resolve_config`).
* :mod:`~mmgraph.experiment.grid` -- :func:`train_model`: one configuration,
  or every grid point with every seed, selected on mean validation.
* :mod:`~mmgraph.experiment.suite` -- :class:`Experiment` (in the style of
  cornac's): models × datasets × objectives × seeds (× grid points),
  resumable, with mean ± std reports; ``benchmarks/run.py`` is its command
  line.
* :mod:`~mmgraph.experiment.runner` -- one :class:`RunSpec` per run, its
  digest and state, and the worker processes that train them.
"""
from mmgraph.experiment.resolve import (CONFIG_DIR, SECTIONS,
                                        apply_overrides, expand_grid,
                                        grid_axes, load_model_yaml,
                                        model_config_path, parse_override,
                                        resolve_config, train_defaults)
from mmgraph.experiment.grid import grid_table, train_model
from mmgraph.experiment.runner import ExperimentError, RunSpec, execute
from mmgraph.experiment.suite import Experiment

__all__ = ["resolve_config", "parse_override", "apply_overrides",
           "expand_grid", "grid_axes", "model_config_path", "load_model_yaml",
           "train_defaults", "train_model", "grid_table", "Experiment",
           "RunSpec", "ExperimentError", "execute", "CONFIG_DIR", "SECTIONS"]
