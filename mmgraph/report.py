r"""Terminal tables and small formatting helpers shared by the CLI,
benchmarks and examples."""
from __future__ import annotations

import math
import statistics
from typing import Any, Dict, Iterable, List, Optional, Sequence

__all__ = ["format_table", "metrics_table", "mean_std", "fmt_mean_std"]


def _cell(value: Any, digits: int) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.{digits}f}"
    return str(value)


def format_table(rows: Sequence[Sequence[Any]], headers: Sequence[str],
                 digits: int = 4, markdown: bool = False) -> str:
    r"""Aligned plain-text (or Markdown) table. Numbers are right-aligned."""
    cells = [[_cell(v, digits) for v in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells])
              for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], (int, float)) for row in rows)
               if rows else False for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w)
                 for v, w, num in zip(values, widths, numeric)]
        return ("| " + " | ".join(parts) + " |") if markdown \
            else "  ".join(parts).rstrip()

    sep = ("|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2))
                          for w, num in zip(widths, numeric)) + "|") \
        if markdown else "  ".join("-" * w for w in widths)
    return "\n".join([line(list(headers)), sep] + [line(r) for r in cells])


def metrics_table(results: Dict[str, Dict[str, float]],
                  keys: Optional[Iterable[str]] = None) -> str:
    r"""A table with one row per split (``{'valid': {...}, 'test': {...}}``)
    and one column per ``metric@k``."""
    splits = [s for s in results if results[s]]
    if keys is None:
        keys = [k for k in next(iter(results.values())) if "@" in k]
    keys = list(keys)
    rows = [[s] + [results[s].get(k, float("nan")) for k in keys]
            for s in splits]
    return format_table(rows, ["split"] + keys)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    r"""Mean and sample standard deviation (0 for a single value)."""
    values = list(values)
    if not values:
        return float("nan"), float("nan")
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


def fmt_mean_std(values: Sequence[float], digits: int = 4) -> str:
    r"""``"mean ± std"``; a single value is printed alone (a standard
    deviation of one run would read as a measured zero)."""
    values = list(values)
    m, s = mean_std(values)
    if len(values) == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def metric_columns(topk: List[int], metrics: List[str]) -> List[str]:
    return [f"{m}@{k}" for m in metrics for k in topk]
