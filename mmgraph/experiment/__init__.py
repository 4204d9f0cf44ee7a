r"""Experiments: configuration resolution, grids × seeds, and suites of runs.

**Configuration.** A resolved configuration has three sections::

    model:      the model's constructor keywords (typed by its signature)
    train:      :class:`~mmgraph.config.TrainConfig` fields
    objective:  the objective's keywords (e.g. NBPO's flip-model size)

Defaults come from the code only: the model constructor's keyword defaults,
:class:`~mmgraph.config.TrainConfig` updated by the model class's
``train_defaults`` (e.g. LIRDRec's learning rate), and the objective
constructor. The packaged ``mmgraph/configs/<model>.yaml`` holds the papers'
published ``grid`` (used with ``use_grid=True``) and notes. Then a user file,
then ``--set`` overrides. A value may be a list, which makes it a grid axis.
An unknown key is a :class:`~mmgraph.config.ConfigError` that suggests the
nearest valid one.

**Runs.** :func:`train_model` trains one configuration, or every point of a
grid with every seed, selecting the point on mean validation.
:class:`Experiment` (in the style of cornac's) crosses models × datasets ×
objectives × seeds, trains what is not finished (resumable: a finished run
with the same resolved configuration is skipped, an interrupted one resumes
from its checkpoint) and reports mean ± std over seeds.
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
