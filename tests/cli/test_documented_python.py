r"""The Python the README and the docs show: every fenced ``python`` block
compiles, and the self-contained walk-throughs a new user runs first (the
README's and the quickstart's) run as written, in a scratch folder with
every training capped at one epoch."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
#: Pages whose blocks, run in order in one namespace, need nothing else.
RUN_AS_WRITTEN = ["README.md", "docs/quickstart.md"]


def python_blocks(path: Path):
    return re.findall(r"^```python\n(.*?)^```", path.read_text("utf-8"),
                      re.S | re.M)


BLOCKS = [pytest.param(block, id=f"{path.relative_to(ROOT)}#{i}")
          for path in SOURCES for i, block in enumerate(python_blocks(path))]


@pytest.mark.parametrize("block", BLOCKS)
def test_documented_python_compiles(block):
    compile(block, "<doc>", "exec")


@pytest.mark.parametrize("page", RUN_AS_WRITTEN)
def test_walkthrough_runs_as_written(page, tmp_path, monkeypatch, capsys):
    from mmgraph.train.trainer import Trainer
    blocks = python_blocks(ROOT / page)
    assert blocks, page
    init = Trainer.__init__

    def one_epoch(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.config.epochs = min(self.config.epochs, 1)

    monkeypatch.setattr(Trainer, "__init__", one_epoch)
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__doc__"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{page}#{i}", "exec"), namespace)
