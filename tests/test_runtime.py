r"""reuse_freed_memory: with it the pages of a step's freed large temporaries
are mostly reused by the next step's; with glibc's defaults every one is
mapped afresh (a page fault per page per step)."""
import os
import subprocess
import sys

import pytest

from mmgraph import runtime

PROBE = r"""
import resource, sys, torch
from mmgraph.runtime import reuse_freed_memory
print(reuse_freed_memory(sys.argv[1] == "on"))
x = torch.randn(1 << 20, 16)
for step in range(6):  # a training step's pattern: large temporaries
    if step == 3:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    y = x * 2; z = y + x; w = torch.cat([y, z], 1); del y, z, w
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

#: Pages the temporaries of the last 3 steps touch (64, 64 and 128 MiB).
PAGES = 3 * (256 << 20) // 4096


def _probe(mode, **env):
    out = subprocess.run([sys.executable, "-c", PROBE, mode], check=True,
                         capture_output=True, text=True,
                         env=dict(os.environ, **env)).stdout.split()
    return out[0] == "True", int(out[1])


@pytest.mark.skipif(runtime._glibc() is None, reason="glibc only")
def test_freed_large_tensors_are_reused_without_page_faults():
    took, faults = _probe("on")
    assert took and faults < 0.6 * PAGES
    took, faults = _probe("off")  # glibc's defaults: a fresh mapping
    assert took and faults > 0.9 * PAGES


@pytest.mark.skipif(runtime._glibc() is None, reason="glibc only")
def test_environment_opt_out_leaves_the_allocator_alone():
    took, faults = _probe("on", MMGRAPH_MALLOC="system")
    assert not took and faults > 0.9 * PAGES


CONTEXT = r"""
from mmgraph import runtime
from mmgraph.runtime import reusing_freed_memory
with reusing_freed_memory() as outer:
    with reusing_freed_memory() as inner:
        pass
    still = runtime._active          # the inner exit left them in effect
print(outer, inner, still, runtime._active)
runtime.reuse_freed_memory(True)     # set by the program: kept on exit
with reusing_freed_memory():
    pass
print(runtime._active)
"""


@pytest.mark.skipif(runtime._glibc() is None, reason="glibc only")
def test_context_restores_the_defaults_only_where_it_set_them():
    out = subprocess.run([sys.executable, "-c", CONTEXT], check=True,
                         capture_output=True, text=True).stdout.split()
    assert out == ["True", "True", "True", "False", "True"]


def test_fit_and_evaluate_run_with_reused_memory(monkeypatch):
    # The trainer's and the evaluator's entry points enter the context.
    from mmgraph.data import load_dataset
    from mmgraph.models import create_model
    from mmgraph.train import Trainer
    seen = []
    monkeypatch.setattr(runtime, "_active", False)
    real = runtime.reuse_freed_memory

    def spy(enabled=True, **kw):
        seen.append(enabled)
        return real(enabled, **kw)
    monkeypatch.setattr(runtime, "reuse_freed_memory", spy)
    ds = load_dataset("synthetic", num_users=20, num_items=15,
                      avg_degree=3, seed=0)
    trainer = Trainer(create_model("mf", ds), ds, dict(epochs=1,
                      topk=[5], valid_metric="recall@5"), show_progress=False)
    trainer.fit()
    assert seen[:1] == [True] and seen[-1] is False
    seen.clear()
    trainer.evaluator.evaluate(trainer.model, "valid")
    assert seen == [True, False]


RELEASE = r"""
import torch
from mmgraph.runtime import release_freed_memory, reuse_freed_memory
def rss_mib():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
reuse_freed_memory(True)
keep, temps = [], []
for i in range(16):  # freed 32 MiB blocks between kept 1 MiB ones
    temps.append(torch.ones(8 << 20))
    keep.append(torch.ones(1 << 18))
del temps
held = rss_mib()
print(release_freed_memory(), held, rss_mib())
"""


@pytest.mark.skipif(runtime._glibc() is None, reason="glibc only")
def test_release_hands_back_freed_memory_the_heap_kept():
    # 512 MiB freed between live blocks: kept by the reuse settings, handed
    # back (the whole free pages) by release_freed_memory
    out = subprocess.run([sys.executable, "-c", RELEASE], check=True,
                         capture_output=True, text=True).stdout.split()
    ran, held, after = out[0] == "True", float(out[1]), float(out[2])
    assert ran and held - after > 400


def test_evaluate_releases_freed_memory_first(monkeypatch):
    from mmgraph.data import load_dataset
    from mmgraph.evaluation import evaluator as ev
    from mmgraph.models import create_model
    from mmgraph.train import Trainer
    calls = []
    monkeypatch.setattr(ev, "release_freed_memory",
                        lambda: calls.append(True) or True)
    ds = load_dataset("synthetic", num_users=20, num_items=15,
                      avg_degree=3, seed=0)
    trainer = Trainer(create_model("mf", ds), ds, dict(
        epochs=1, topk=[5], valid_metric="recall@5"), show_progress=False)
    trainer.evaluator.evaluate(trainer.model, "valid")
    assert calls == [True]
