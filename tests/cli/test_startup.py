r"""``mmgraph --help`` and argument errors answer before torch is imported."""
import subprocess
import sys

import pytest

HEAVY = ("torch", "torch_geometric", "mmgraph.data.dataset", "mmgraph.models",
         "mmgraph.train", "mmgraph.evaluation")

PROBE = """
import sys, mmgraph.cli
rc = mmgraph.cli.main({argv!r})
heavy = [m for m in {heavy!r} if m in sys.modules]
print("RC", rc, "HEAVY", ",".join(heavy) or "-")
"""


@pytest.mark.parametrize("argv", [
    ["--help"],
    ["train", "--help"],
    ["prepare", "--help"],
    ["unlearn", "--help"],
    ["export", "--help"],
    ["serve", "--help"],
    ["export", "--run", "r", "--format", "annoy", "--out", "o"],   # a bad choice
    ["train", "--model", "mf", "--search", "grid"],                 # a bad sampler
    ["train", "--model", "mf", "--epochs", "0"],          # a bad value
    ["train", "--model", "mf", "--seeds", "1,,2"],        # a bad list
    ["prepare", "--format", "nope", "--interactions", "x", "--name", "n", "--out", "o"],
    ["recommend", "--run", "r", "--users", "1", "--k", "-3"],
    ["no-such-verb"],
])
def test_help_and_argument_errors_do_not_import_torch(argv):
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
                         capture_output=True, text=True, timeout=120)
    last = out.stdout.strip().splitlines()[-1]
    expected = 0 if "--help" in argv else 2
    assert last == f"RC {expected} HEAVY -", (last, out.stderr)
    if expected:
        err = out.stderr.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: "), out.stderr


def test_import_mmgraph_is_lazy_but_public_names_work():
    code = ("import sys, mmgraph; assert 'torch' not in sys.modules; "
            "T = mmgraph.Trainer; from mmgraph import load_dataset, Unlearner; "
            "assert 'torch' in sys.modules; print(T.__name__, 'Trainer' in dir(mmgraph))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.stdout.split() == ["Trainer", "True"], out.stderr


def test_unknown_public_name_is_an_attribute_error():
    import mmgraph
    with pytest.raises(AttributeError, match="no attribute 'Trainr'"):
        mmgraph.Trainr  # noqa: B018 (the attribute access is the test)


@pytest.mark.parametrize("module", ["mmgraph", "mmgraph.data"])
def test_static_names_match_the_lazy_ones(module):
    # The TYPE_CHECKING imports (for type checkers and the API docs) and the
    # lazy __getattr__ map must list the same public names.
    import ast
    import importlib
    mod = importlib.import_module(module)
    tree = ast.parse(open(mod.__file__).read())
    static = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for imp in node.body:
                static |= {a.asname or a.name for a in imp.names}
    assert static == set(mod._PUBLIC)
    for name in mod._PUBLIC:
        assert getattr(mod, name) is not None
