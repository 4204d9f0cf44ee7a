r"""Side by side with the reference implementation (MMRec): the first epochs'
validation recall@20 and seconds per training epoch of each model, on the
same prepared data, the same hyper-parameters and the same thread count.

1. A two-modality data set of the shape of MMRec's released sets (a
   4096-d image-like feature plus a 384-d text feature) is generated
   (:func:`mmgraph.data.synthetic.generate_synthetic`) and written in MMRec's
   folder format (``<name>.inter`` with ``x_label``, ``image_feat.npy``,
   ``text_feat.npy``). For the models that read a user--user graph (DualGNN,
   DRAGON) the reference's own ``user_graph_dict.npy`` is made with the
   checkout's ``preprocessing/dualgnn-gen-u-u-matrix.py`` function (mmgraph
   builds its graph in memory from the interactions).
2. The reference trains each model for ``--epochs`` epochs in a subprocess
   (its ``utils.quick_start``, CPU, ``--threads`` threads, seed 999), run
   from a scratch directory (``--workdir``) whose ``configs`` links to the
   checkout's; nothing of the checkout is copied. Its log gives the
   validation recall@20 and the training seconds of every epoch. The
   reference moves a few graphs with ``.cuda()`` unconditionally; the runner
   makes that a no-op so the CPU run works, and stands in an empty module
   for ``torchvision`` (imported by MMRec only for raw-image input) and
   stands in ``index_add`` for ``torch_scatter.scatter_add`` when that
   compiled extension is absent (MMRec's MGCN and SMORE use it), restores
   numpy's ``np.float`` alias (MMRec pins numpy 1.21) and scipy's private
   ``dok_matrix._update`` (gone in scipy 1.11; MMRec pins 1.7);
   DualGNN's, DRAGON's, CM3's and LIRDRec's ``result_embed`` is made the
   plain tensor it is on a GPU (on the CPU it stays a registered parameter
   that the forward cannot overwrite; their user preference tables stay
   registered and trained, the CPU behaviour mmgraph's default matches).
3. mmgraph trains the same model on the same folder with its packaged
   defaults plus the overrides below (which pin every grid key of the
   reference to one value), same epochs, batch size, learning rate, seed
   and threads.
4. One table: model, epoch, valid R@20 (reference, ours), s/epoch
   (reference, ours, ratio ours / reference). ``--clock cpu`` times the
   training epochs of both sides by the process's CPU time instead of the
   wall clock (both trainers' timers are redirected), which a machine
   shared with other jobs disturbs much less.

The reference needs its own Python environment (``--python``; e.g. a
scratch venv with ``torch numpy scipy pandas pyyaml tqdm pillow lmdb
matplotlib torch-geometric``),
never the project's.

Usage::

    python benchmarks/compare_reference.py --reference /path/to/MMRec \
        --python /path/to/mmrec-venv/bin/python --epochs 3 --threads 1
    python benchmarks/compare_reference.py --reference /path/to/MMRec \
        --python ... --models lattice,freedom --seeds 999,1000
    # CM3 and LIRDRec are not in MMRec: their authors' repositories
    python benchmarks/compare_reference.py --reference /path/to/MMRec \
        --reference-for cm3=/path/to/CM3 \
        --reference-for lirdrec=/path/to/LIRDRec --models cm3,lirdrec ...
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: mmgraph name -> (MMRec model name, MMRec config overrides, mmgraph model
#: overrides). The MMRec overrides pin each key the reference lists as a
#: grid to the value of mmgraph's packaged default; adding a model is one
#: line.
MODELS: Dict[str, Tuple[str, Dict[str, Any], Dict[str, Any]]] = {
    "mf": ("BPR", {"reg_weight": 1e-4}, {}),
    "lightgcn": ("LightGCN", {"n_layers": 2, "reg_weight": 1e-4}, {}),
    "vbpr": ("VBPR", {"reg_weight": 1.0}, {}),
    "freedom": ("FREEDOM", {"dropout": 0.8, "reg_weight": 1e-4}, {}),
    "bm3": ("BM3", {"n_layers": 1, "dropout": 0.5, "reg_weight": 0.1}, {}),
    "lattice": ("LATTICE", {"reg_weight": 1e-4, "learning_rate": 1e-3}, {}),
    "mgcn": ("MGCN", {"cl_loss": 0.01}, {}),
    "dualgnn": ("DualGNN", {"reg_weight": 1e-4, "learning_rate": 1e-3,
                            "aggr_mode": "add"}, {}),
    "dragon": ("DRAGON", {"reg_weight": 1e-4, "learning_rate": 1e-3,
                          "aggr_mode": "add"}, {}),
    "lgmrec": ("LGMRec", {"n_ui_layers": 2, "n_mm_layers": 2,
                          "n_hyper_layer": 1, "hyper_num": 4,
                          "keep_rate": 0.5, "alpha": 0.3, "cl_weight": 1e-4,
                          "reg_weight": 1e-6}, {}),
    "smore": ("SMORE", {"n_ui_layers": 3, "image_knn_k": 10,
                        "text_knn_k": 10, "reg_weight": 1e-5,
                        "dropout_rate": 0.0}, {}),
    "grcn": ("GRCN", {"reg_weight": 1e-3, "learning_rate": 1e-3}, {}),
    "mmgcn": ("MMGCN", {"reg_weight": 1e-4, "learning_rate": 1e-3}, {}),
    # Not in MMRec: their authors' repositories (MMRec's layout) are run,
    # given with --reference-for. CM3 is compared with the reference's
    # calibration gradient (mmgraph's default detaches it).
    "cm3": ("CM3", {"n_ui_layers": 3, "gamma": 0.5, "max_sim": 1.0,
                    "alpha": 0.5, "weight_decay": 0.0},
            {"detach_calibration": False}),
    "lirdrec": ("LIRDRec", {"n_ui_layers": 2, "mm_image_weight": 0.1,
                            "reg_weight": 1e-4, "learning_rate": 1e-4,
                            "weight_decay": 0.0, "decay_weight": 0.9}, {}),
}

#: Models whose reference is not MMRec but their authors' repository (the
#: same layout), passed as ``--reference-for MODEL=PATH``.
OWN_REPOSITORY = {"cm3": "github enoche/CM3", "lirdrec": "github enoche/LIRDRec"}

#: MMRec keys every run gets (the data set's fields and the run length).
BASE_CONFIG: Dict[str, Any] = {
    "USER_ID_FIELD": "userID",
    "ITEM_ID_FIELD": "itemID",
    "TIME_FIELD": "timestamp",
    "vision_feature_file": "image_feat.npy",
    "text_feature_file": "text_feat.npy",
    "user_graph_dict_file": "user_graph_dict.npy",
    "field_separator": "\t",
    "use_gpu": False,
    "hyper_parameters": [],
    "learning_rate": 1e-3,
    "train_batch_size": 2048,
    "eval_batch_size": 4096,
    "save_recommended_topk": False,
    "stopping_step": 1000,
}

NEEDS_USER_GRAPH = {"DualGNN", "DRAGON"}

RUNNER = r'''
import importlib.util, json, os, sys
src, model, dataset, config_json, threads, clock = sys.argv[1:7]
sys.path.insert(0, src)
import numpy as np
import torch
for _alias, _type in (("float", float), ("int", int), ("bool", bool)):
    if not hasattr(np, _alias):  # removed in numpy 1.24; MMRec pins 1.21
        setattr(np, _alias, _type)
torch.set_num_threads(int(threads))
import scipy.sparse as _sp
if not hasattr(_sp.dok_matrix, "_update"):  # private API gone in scipy 1.11
    _sp.dok_matrix._update = lambda self, data: self._dict.update(data)
torch.Tensor.cuda = lambda self, *args, **kwargs: self  # CPU run
import types  # torchvision: imported only for raw-image input, unused here
_tv = {n: types.ModuleType(n) for n in (
    "torchvision", "torchvision.transforms",
    "torchvision.transforms.functional")}
_tv["torchvision.transforms.functional"].pad = None
_tv["torchvision.transforms.functional"].resize = None
_tv["torchvision.transforms"].functional = _tv["torchvision.transforms.functional"]
_tv["torchvision"].transforms = _tv["torchvision.transforms"]
for _n, _m in _tv.items():
    sys.modules.setdefault(_n, _m)
try:
    import torch_scatter  # noqa: F401  (compiled extension, optional)
except ImportError:  # MGCN's and SMORE's kNN normalisations need scatter_add
    _ts = types.ModuleType("torch_scatter")

    def _scatter_add(src, index, dim=-1, out=None, dim_size=None):
        dim = dim % src.dim()
        if dim_size is None:
            dim_size = int(index.max()) + 1 if index.numel() else 0
        shape = list(src.shape)
        shape[dim] = dim_size
        base = src.new_zeros(shape) if out is None else out
        return base.index_add(dim, index, src)
    _ts.scatter_add = _scatter_add
    sys.modules["torch_scatter"] = _ts
config = json.loads(config_json)
folder = os.path.join(config["data_path"], dataset)
graph_file = os.path.join(folder, config["user_graph_dict_file"])
if model in ("DualGNN", "DRAGON") and not os.path.exists(graph_file):
    # The reference's own preprocessing (co-occurrence counts, top 200).
    path = os.path.join(os.path.dirname(src), "preprocessing",
                        "dualgnn-gen-u-u-matrix.py")
    spec = importlib.util.spec_from_file_location("uugen", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    import pandas as pd
    df = pd.read_csv(os.path.join(folder, config["inter_file_name"]),
                     sep="\t")
    num_user = df["userID"].nunique()
    train = df[df["x_label"] == 0][["userID", "itemID"]].to_numpy()
    mat = mod.gen_user_matrix(train, num_user)
    graph = {}
    for u in range(num_user):
        n = min(int((mat[u] != 0).sum()), 200)
        top = torch.topk(mat[u], n)
        graph[u] = [top.indices.tolist(), top.values.tolist()]
    np.save(graph_file, graph, allow_pickle=True)
if model in ("DualGNN", "DRAGON", "CM3", "LIRDRec"):
    # `nn.Parameter(...).to(device)` is a plain tensor on a GPU but stays a
    # registered Parameter on the CPU, which the forward then cannot
    # overwrite: make it the plain attribute it is on a GPU.
    import importlib
    _cls = getattr(importlib.import_module("models." + model.lower()), model)
    _init = _cls.__init__

    def _cpu_init(self, *args, **kwargs):
        _init(self, *args, **kwargs)
        p = self._parameters.pop("result_embed", None)
        if p is not None:
            self.result_embed = p.detach()
    _cls.__init__ = _cpu_init
from utils.quick_start import quick_start
if clock == "cpu":  # the trainer times epochs with time.time()
    import time as _time
    import common.trainer as _trainer
    _trainer.time = _time.process_time
quick_start(model=model, dataset=dataset, config_dict=config,
            save_model=False)
'''

_TRAIN = re.compile(r"epoch (\d+) training \[time: ([0-9.]+)s")
_VALID = re.compile(r"valid result: \s*\n\s*(.*)")


def make_data(folder: Path, name: str, num_users: int, num_items: int,
              seed: int = 0) -> Path:
    r"""Writes the synthetic two-modality MMRec folder (unless present)."""
    from mmgraph.data.prepare import PreparedData, write_mmrec_folder
    from mmgraph.data.synthetic import generate_synthetic
    if (folder / f"{name}.inter").exists():
        return folder
    data = generate_synthetic(num_users=num_users, num_items=num_items,
                              avg_degree=20, seed=seed,
                              modalities={"image": (4096, 0.8),
                                          "text": (384, 0.5)})
    prep = PreparedData(data.user, data.item, data.label, None, None,
                        np.arange(data.num_users), np.arange(data.num_items))
    write_mmrec_folder(folder, name, prep, data.features)
    return folder


def parse_reference_log(text: str) -> List[Dict[str, float]]:
    r"""Per epoch ``{"recall@20", "train_seconds"}`` from an MMRec log."""
    secs = [float(s) for _, s in _TRAIN.findall(text)]
    recalls = []
    for line in _VALID.findall(text):
        metrics = dict(re.findall(r"([a-z]+@\d+): ([0-9.]+)", line))
        recalls.append(float(metrics["recall@20"]))
    return [{"recall@20": r, "train_seconds": s}
            for r, s in zip(recalls, secs)]


def run_reference(reference: Path, python: str, model: str, name: str,
                  data_root: Path, workdir: Path, overrides: Dict[str, Any],
                  epochs: int, seed: int, threads: int,
                  timeout: float, clock: str = "wall"
                  ) -> List[Dict[str, float]]:
    src = reference / "src"
    workdir.mkdir(parents=True, exist_ok=True)
    link = workdir / "configs"
    # One work directory serves several checkouts (MMRec, CM3, LIRDRec):
    # the link must name this one's configs.
    if link.is_symlink() and link.resolve() != (src / "configs").resolve():
        link.unlink()
    if not link.exists():
        link.symlink_to(src / "configs")
    runner = workdir / "run_reference.py"
    runner.write_text(RUNNER)
    config = {**BASE_CONFIG, "data_path": str(data_root) + os.sep,
              "inter_file_name": f"{name}.inter", "epochs": epochs,
              "seed": [seed], **overrides}
    env = {**os.environ, "OMP_NUM_THREADS": str(threads),
           "MKL_NUM_THREADS": str(threads), "PYTHONPATH": ""}
    proc = subprocess.run(
        [python, str(runner), str(src), model, name, json.dumps(config),
         str(threads), clock], cwd=workdir, env=env, capture_output=True,
        text=True, timeout=timeout)
    text = proc.stdout + proc.stderr
    (workdir / f"{model}-{seed}.log").write_text(text)
    epochs_out = parse_reference_log(text)
    if proc.returncode != 0 or not epochs_out:
        tail = "\n".join(text.strip().splitlines()[-15:])
        raise RuntimeError(f"reference {model} failed (exit "
                           f"{proc.returncode}):\n{tail}")
    return epochs_out


def run_ours(model: str, folder: Path, overrides: Dict[str, Any],
             epochs: int, seed: int, learning_rate: float,
             clock: str = "wall") -> List[Dict[str, float]]:
    import types
    import torch
    import mmgraph.train.trainer as trainer_module
    from mmgraph.experiment import resolve_config
    from mmgraph.data import load_dataset
    from mmgraph.models import create_model
    from mmgraph.train.trainer import Trainer
    ds = load_dataset(str(folder))
    cfg = resolve_config(model)
    hp = {**cfg["model"], **overrides}
    torch.manual_seed(seed)
    net = create_model(model, ds, **hp)
    train = {**cfg["train"], "epochs": epochs, "seed": seed,
             "learning_rate": learning_rate, "batch_size": 2048,
             "topk": [5, 10, 20, 50], "eval_batch_size": 4096}
    saved = trainer_module.time
    if clock == "cpu":  # the trainer times epochs with time.perf_counter()
        trainer_module.time = types.SimpleNamespace(
            perf_counter=time.process_time, process_time=time.process_time)
    try:
        res = Trainer(net, ds, train,
                      objective_params=cfg["objective"] or None,
                      show_progress=False).fit()
    finally:
        trainer_module.time = saved
    return [{"recall@20": h["valid"]["recall@20"],
             "train_seconds": h["train_seconds"]} for h in res["history"]]


def _mean_std(xs: Sequence[float]) -> str:
    if len(xs) == 1:
        return f"{xs[0]:.4f}"
    return f"{np.mean(xs):.4f}±{np.std(xs, ddof=1):.4f}"


def table(rows: Dict[str, Dict[str, List[List[Dict[str, float]]]]],
          epochs: int) -> str:
    r"""Markdown table: model, epoch, valid R@20 ref / ours, s/epoch ref /
    ours, ratio (ours / reference; mean over seeds)."""
    out = ["| model | epoch | valid R@20 reference | valid R@20 mmgraph | "
           "s/epoch reference | s/epoch mmgraph | ratio |",
           "|---|---|---|---|---|---|---|"]
    for model, sides in rows.items():
        for e in range(epochs):
            cells = {}
            for side in ("reference", "ours"):
                runs = [r for r in sides.get(side, []) if len(r) > e]
                cells[side] = ([r[e]["recall@20"] for r in runs],
                               [r[e]["train_seconds"] for r in runs])
            ref_r, ref_s = cells["reference"]
            our_r, our_s = cells["ours"]
            ratio = (f"{np.mean(our_s) / np.mean(ref_s):.2f}"
                     if ref_s and our_s and np.mean(ref_s) > 0 else "–")
            out.append(" | ".join([
                f"| {model}", str(e),
                _mean_std(ref_r) if ref_r else "–",
                _mean_std(our_r) if our_r else "–",
                f"{np.mean(ref_s):.2f}" if ref_s else "–",
                f"{np.mean(our_s):.2f}" if our_s else "–",
                ratio]) + " |")
    return "\n".join(out)


def main(argv: Optional[Sequence[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference", required=True, type=Path,
                   help="an MMRec checkout (its src/ is run, never copied)")
    p.add_argument("--reference-for", action="append", default=[],
                   metavar="MODEL=PATH",
                   help="the checkout of a model's own reference repository "
                        "(cm3: enoche/CM3, lirdrec: enoche/LIRDRec; "
                        "repeatable)")
    p.add_argument("--python", default=sys.executable,
                   help="the Python of the reference's environment")
    p.add_argument("--models", default=",".join(MODELS),
                   help="comma-separated mmgraph names")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seeds", default="999",
                   help="comma-separated seeds (each side, each model)")
    p.add_argument("--users", type=int, default=2000)
    p.add_argument("--items", type=int, default=1500)
    p.add_argument("--workdir", type=Path,
                   default=Path("/tmp/mmgraph-compare-reference"))
    p.add_argument("--timeout", type=float, default=3600.0,
                   help="seconds per reference run")
    p.add_argument("--skip-reference", action="store_true",
                   help="run mmgraph only")
    p.add_argument("--json", type=Path, help="also write the raw numbers")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="time training epochs by wall clock or by the "
                        "process's CPU time (steadier on a shared machine; "
                        "with --threads 1 the two agree on an idle one)")
    p.add_argument("--set", action="append", default=[], dest="sets",
                   metavar="MODEL.KEY=VALUE",
                   help="an mmgraph-side model option for one model, e.g. "
                        "dualgnn.reference_user_sum=true (repeatable)")
    args = p.parse_args(argv)
    own: Dict[str, Path] = {}
    for item in args.reference_for:
        target, eq, path = item.partition("=")
        if not eq or target not in OWN_REPOSITORY:
            raise SystemExit(f"compare_reference: --reference-for {item!r}: "
                             f"expected MODEL=PATH with MODEL one of "
                             f"{', '.join(OWN_REPOSITORY)}")
        own[target] = Path(path)
    from mmgraph.experiment import parse_override
    ours_extra: Dict[str, Dict[str, Any]] = {}
    for item in args.sets:
        target, _, rest = item.partition(".")
        if not rest or "=" not in rest:
            raise SystemExit(f"compare_reference: --set {item!r}: expected "
                             f"MODEL.KEY=VALUE")
        key, value = parse_override(rest)
        ours_extra.setdefault(target, {})[key] = value
    # Checked before any data or run is made: a wrong name costs nothing.
    from mmgraph.models.registry import MODELS as REGISTERED
    from mmgraph.registry import UnknownNameError
    for target, extra in ours_extra.items():
        try:
            REGISTERED.check_kwargs(target, extra)
        except (KeyError, UnknownNameError) as e:
            raise SystemExit(f"compare_reference: --set {target}.*: "
                             f"{e.args[0] if e.args else e}") from None

    import torch
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    name = "mmsynth"
    data_root = args.workdir / "data"
    folder = make_data(data_root / name, name, args.users, args.items)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows: Dict[str, Dict[str, List[List[Dict[str, float]]]]] = {}
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        reference = args.reference
        if model in OWN_REPOSITORY:
            if model not in own:
                print(f"# {model}: not in MMRec; pass --reference-for "
                      f"{model}=PATH (a checkout of "
                      f"{OWN_REPOSITORY[model]}); skipped")
                continue
            reference = own[model]
        if model not in MODELS:
            raise SystemExit(f"compare_reference: no reference mapping for "
                             f"{model!r}; known: {', '.join(MODELS)}")
        ref_name, ref_over, our_over = MODELS[model]
        our_over = {**our_over, **ours_extra.get(model, {})}
        lr = float(ref_over.get("learning_rate",
                                BASE_CONFIG["learning_rate"]))
        rows[model] = {"reference": [], "ours": []}
        for seed in seeds:
            if not args.skip_reference:
                t0 = time.time()
                try:
                    rows[model]["reference"].append(run_reference(
                        reference.resolve(), args.python, ref_name,
                        name, data_root.resolve(), args.workdir / "reference",
                        ref_over, args.epochs, seed, args.threads,
                        args.timeout, args.clock))
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    print(f"# {model}: reference failed: {e}",
                          file=sys.stderr)
                print(f"# {model} seed {seed}: reference "
                      f"{time.time() - t0:.0f}s", file=sys.stderr)
            t0 = time.time()
            rows[model]["ours"].append(run_ours(model, folder, our_over,
                                                args.epochs, seed, lr,
                                                args.clock))
            print(f"# {model} seed {seed}: mmgraph {time.time() - t0:.0f}s",
                  file=sys.stderr)
        print(table({model: rows[model]}, args.epochs).split("\n", 2)[2],
              file=sys.stderr)
    print(textwrap.dedent(f"""
        Data: {args.users} users x {args.items} items (synthetic, image 4096-d
        + text 384-d), {args.epochs} epochs, {args.threads} thread(s), seeds
        {seeds}, {args.clock} clock; ratio = mmgraph s/epoch / reference
        s/epoch.
        """).strip())
    print(table(rows, args.epochs))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
