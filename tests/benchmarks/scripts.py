r"""Importing a script of ``benchmarks/`` (not a package) as a module."""
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str, module_name: str = "") -> ModuleType:
    r"""``benchmarks/<name>.py`` as the module ``module_name`` (default:
    ``name``), imported once per test session. It is registered in
    :data:`sys.modules` before it runs (dataclasses look their module up),
    and ``benchmarks/`` is importable for scripts that import each other."""
    module_name = module_name or name
    if module_name in sys.modules:
        return sys.modules[module_name]
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        module_name, ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = mod
    spec.loader.exec_module(mod)
    return mod
