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


def test_fit_reuses_memory_and_evaluate_suspends_it(monkeypatch):
    # fit enters the context; evaluate suspends it where it is on.
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
    # on for fit, off for each validation inside it (glibc's defaults for
    # the evaluation's chunks), on again, off at the end
    assert seen[:3] == [True, False, True] and seen[-1] is False
    seen.clear()
    trainer.evaluator.evaluate(trainer.model, "valid")
    assert seen == []  # not on outside fit: nothing to turn off



SUSPEND = r"""
from mmgraph import runtime
from mmgraph.runtime import reusing_freed_memory, with_system_allocator
with with_system_allocator():        # not on: nothing to turn off
    a = runtime._active
with reusing_freed_memory():
    with with_system_allocator():
        b = runtime._active          # off inside
    c = runtime._active              # on again after
print(a, b, c, runtime._active)
"""


@pytest.mark.skipif(runtime._glibc() is None, reason="glibc only")
def test_system_allocator_suspends_the_reuse_settings_and_restores_them():
    out = subprocess.run([sys.executable, "-c", SUSPEND], check=True,
                         capture_output=True, text=True).stdout.split()
    assert out == ["False", "False", "True", "False"]
