r"""Run folders: the one package that knows their files.

* :mod:`mmgraph.runs.folder`: :class:`RunFolder` (file names, atomic reads
  and writes, identity record, lock) and the
  :class:`RunFolderWriter` callback that makes a
  :class:`~mmgraph.train.Trainer` write and resume a folder;
* :mod:`mmgraph.runs.train`: training a configuration into a folder
  (:func:`train_run`) and reloading a finished run (:func:`load_run`);
* :mod:`mmgraph.runs.unlearn`: unlearning a finished run into a new folder
  (:func:`unlearn_run`).
"""
from mmgraph.runs.folder import (CHECKPOINT, CURVE_FILE, GRID_FILE,
                                 IDENTITY_FILE, LOCK_FILE, REQUEST_FILE,
                                 RESULTS, RESUME_FILE, RESUMABLE_CHANGES, RUN_FILES,
                                 SEARCH_FILE, STUDY_FILE, TOPK_FILE,
                                 TRIALS_DIR, UNLEARN_FILE, RunFolder,
                                 RunFolderWriter, locked)
from mmgraph.runs.train import (check_data, dataset_spec, load_run,
                                run_dir_of_best, train_run)
from mmgraph.runs.unlearn import (check_gold_run, check_unlearn_out, retrain_gold,
                                  unlearn_run)

__all__ = ["RunFolder", "RunFolderWriter", "locked", "load_run",
           "run_dir_of_best", "train_run", "unlearn_run", "check_data",
           "check_unlearn_out", "check_gold_run", "retrain_gold", "dataset_spec",
           "CHECKPOINT", "RESUME_FILE", "RESULTS",
           "TOPK_FILE", "CURVE_FILE", "GRID_FILE", "REQUEST_FILE",
           "IDENTITY_FILE", "UNLEARN_FILE", "LOCK_FILE", "SEARCH_FILE",
           "STUDY_FILE", "TRIALS_DIR", "RUN_FILES", "RESUMABLE_CHANGES"]
