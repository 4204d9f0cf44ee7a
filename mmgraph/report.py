r"""Tables, summaries and figures of results: terminal and Markdown tables,
mean ± std, and the summary of an experiment's runs (CSV, Markdown, PNG).

Pure formatting: nothing here reads or writes files (the caller does, e.g.
:class:`mmgraph.experiment.Experiment`), and it imports nothing from mmgraph.
"""
from __future__ import annotations

import csv
import io
import math
import statistics
from typing import Any, Dict, Iterable, List, Optional, Sequence

__all__ = ["format_table", "metrics_table", "mean_std", "fmt_mean_std",
           "TABLE_METRICS", "BEYOND_METRICS", "COLD_METRICS", "metric_group",
           "metric_rows_table", "grouped_metrics_tables", "extra_tables", "extra_markdown",
           "summarise",
           "SUMMARY_HEADERS", "VALID_HEADERS",
           "summary_rows", "valid_summary_rows", "summary_csv",
           "summary_markdown", "summary_figures", "figure_png"]


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
    r"""Mean and sample standard deviation (0 for a single value; both
    ``nan`` for no value or when a value is ``nan``)."""
    values = [float(v) for v in values]
    if not values or any(math.isnan(v) for v in values):
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


# ------------------------------------------------- experiment summaries
#: Test metrics of an experiment's results table (at the best-validation
#: epoch).
TABLE_METRICS = ("recall@10", "recall@20", "ndcg@10", "ndcg@20")


def summarise(records: Sequence[Dict[str, Any]],
              metrics: Sequence[str] = TABLE_METRICS) -> List[Dict[str, Any]]:
    r"""One row per ``(dataset, label)`` of run records (see
    :meth:`mmgraph.experiment.Experiment.records`), in first-seen order:
    for each of :obj:`metrics` the test value's ``{"mean", "std",
    "values"}`` over seeds (``valid_<metric>`` for validation), the means of
    the epoch and time columns, and the largest peak / smallest baseline
    memory."""
    groups: Dict[tuple, List[Dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["dataset"], r["label"]), []).append(r)
    rows = []
    for (ds, label), rs in groups.items():
        row: Dict[str, Any] = {"dataset": ds, "model": rs[0]["model"],
                               "objective": rs[0]["objective"],
                               "label": label,
                               "seeds": [r["seed"] for r in rs]}
        for m in metrics:
            for split, key in (("test", m), ("valid", f"valid_{m}")):
                vals = [r[split].get(m, float("nan")) for r in rs]
                mean, std = mean_std(vals)
                row[key] = {"mean": mean, "std": std, "values": vals}
        for key in ("epochs", "best_epoch", "seconds_per_epoch",
                    "seconds_per_eval", "total_seconds"):
            mean, std = mean_std([float(r[key]) for r in rs])
            row[key] = {"mean": mean, "std": std}
        peaks = [r["peak_rss_mb"] for r in rs
                 if not math.isnan(r["peak_rss_mb"])]
        bases = [r["base_rss_mb"] for r in rs
                 if not math.isnan(r["base_rss_mb"])]
        row["peak_rss_mb"] = max(peaks) if peaks else float("nan")
        row["base_rss_mb"] = min(bases) if bases else float("nan")
        rows.append(row)
    return rows


SUMMARY_HEADERS = (["dataset", "model", "seeds"]
                   + [f"test {m}" for m in TABLE_METRICS]
                   + ["epochs", "s/epoch", "s/eval", "total s", "peak MB",
                      "base MB"])
VALID_HEADERS = (["dataset", "model", "seeds"]
                 + [f"valid {m}" for m in TABLE_METRICS] + ["best epoch"])


def summary_rows(rows: Sequence[Dict[str, Any]]) -> List[List[Any]]:
    r"""Table cells of :func:`summarise` rows under :data:`SUMMARY_HEADERS`."""
    return [[r["dataset"], r["label"], len(r["seeds"])]
            + [fmt_mean_std(r[m]["values"]) for m in TABLE_METRICS]
            + [f"{r['epochs']['mean']:.1f}",
               f"{r['seconds_per_epoch']['mean']:.2f}",
               f"{r['seconds_per_eval']['mean']:.2f}",
               f"{r['total_seconds']['mean']:.1f}",
               f"{r['peak_rss_mb']:.0f}", f"{r['base_rss_mb']:.0f}"]
            for r in rows]


def valid_summary_rows(rows: Sequence[Dict[str, Any]]) -> List[List[Any]]:
    r"""Table cells of :func:`summarise` rows under :data:`VALID_HEADERS`."""
    return [[r["dataset"], r["label"], len(r["seeds"])]
            + [fmt_mean_std(r[f"valid_{m}"]["values"]) for m in TABLE_METRICS]
            + [f"{r['best_epoch']['mean']:.1f}"] for r in rows]


def summary_csv(rows: Sequence[Dict[str, Any]]) -> str:
    r"""The :func:`summarise` rows as CSV text (one line per row)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["dataset", "model", "objective", "num_seeds"]
               + [f"{m}_{s}" for m in TABLE_METRICS for s in ("mean", "std")]
               + [f"valid_{m}_{s}" for m in TABLE_METRICS
                  for s in ("mean", "std")]
               + ["epochs_mean", "best_epoch_mean", "seconds_per_epoch",
                  "seconds_per_eval", "total_seconds", "peak_rss_mb",
                  "base_rss_mb"])
    for r in rows:
        w.writerow([r["dataset"], r["model"], r["objective"], len(r["seeds"])]
                   + [f"{r[m][s]:.6f}" for m in TABLE_METRICS
                      for s in ("mean", "std")]
                   + [f"{r['valid_' + m][s]:.6f}" for m in TABLE_METRICS
                      for s in ("mean", "std")]
                   + [f"{r['epochs']['mean']:.2f}",
                      f"{r['best_epoch']['mean']:.2f}",
                      f"{r['seconds_per_epoch']['mean']:.4f}",
                      f"{r['seconds_per_eval']['mean']:.4f}",
                      f"{r['total_seconds']['mean']:.2f}",
                      f"{r['peak_rss_mb']:.1f}", f"{r['base_rss_mb']:.1f}"])
    return buf.getvalue()


def summary_markdown(title: str, rows: Sequence[Dict[str, Any]],
                     description: str = "", memory_note: str = "",
                     versions: Optional[Dict[str, str]] = None,
                     unfinished: int = 0) -> str:
    r"""The Markdown report of an experiment: the test table, the
    validation table and the notes."""
    md = [f"# {title}", ""]
    if description:
        md += [description.strip(), ""]
    md += [format_table(summary_rows(rows), SUMMARY_HEADERS, markdown=True),
           "", "Test metrics at the best-validation epoch, mean ± std over "
           "seeds; epochs = epochs trained (early stopping on validation "
           "recall@20); s/epoch and s/eval = seconds per training epoch and "
           "per validation evaluation; total s = training + evaluation "
           "seconds of one run (mean over seeds).", "",
           "Validation metrics at the selected (best-validation) epoch:", "",
           format_table(valid_summary_rows(rows), VALID_HEADERS,
                        markdown=True), ""]
    if memory_note:
        md += [f"Memory: {memory_note}.", ""]
    if versions:
        md += ["Versions: " + ", ".join(f"{k} {v}"
                                        for k, v in versions.items()) + "."]
    if unfinished:
        md.append(f"\n{unfinished} run(s) of the suite are not finished and "
                  f"are not in the table.")
    return "\n".join(md) + "\n"


#: The beyond-accuracy columns of a suite report (test split, top 20).
BEYOND_METRICS = ("coverage@20", "novelty@20", "diversity_text@20",
                  "avg_popularity@20", "gini@20")
#: The cold-start columns of a suite report (suites on a ``--cold-items``
#: folder): cold items ranked among all items, and among cold items only.
COLD_METRICS = ("cold_recall@20", "cold_among_cold_recall@20")
_BEYOND_NAMES = ("coverage", "novelty", "avg_popularity", "gini")


def metric_group(key: str) -> str:
    r"""``'cold'`` (``cold_*``), ``'beyond'`` (coverage, novelty, diversity,
    average popularity, Gini) or ``'accuracy'`` for a ``metric@k`` key."""
    name = key.partition("@")[0]
    if name.startswith("cold_"):
        return "cold"
    if name in _BEYOND_NAMES or name.startswith("diversity"):
        return "beyond"
    return "accuracy"


#: The titles of :func:`grouped_metrics_tables`, in print order.
GROUP_TITLES = {"accuracy": "accuracy",
                "beyond": "beyond accuracy (catalogue, novelty, diversity, popularity)",
                "cold": "cold-start items (cold_: among all items; "
                        "cold_among_cold_: among cold items)"}


def metric_rows_table(results: Dict[str, Dict[str, Any]], keys: Sequence[str]) -> str:
    r"""A terminal-width table of :obj:`keys`: one row per metric name, one
    column per split and cut-off (``valid@20``); ``-`` where a split lacks
    the key."""
    names = list(dict.fromkeys(k.partition("@")[0] for k in keys))
    cuts = sorted({int(k.partition("@")[2]) for k in keys})
    splits = [s for s in results if results[s]]
    rows = [[name] + [results[s].get(f"{name}@{c}", "-") for s in splits for c in cuts]
            for name in names]
    return format_table(rows, ["metric"] + [f"{s}@{c}" for s in splits for c in cuts])


def _same_lists(results: Dict[str, Dict[str, Any]], keys: Sequence[str]) -> bool:
    r"""Whether the validation and test results agree on every key in
    :obj:`keys` -- true of the list-level (beyond-accuracy) measures when
    both splits evaluate the same users, since under the MMRec protocol
    both rank the same lists (only training items are masked)."""
    valid, test = results.get("valid"), results.get("test")
    return bool(valid) and bool(test) and set(results) == {"valid", "test"} \
        and all(valid.get(k) == test.get(k) for k in keys)


def grouped_metrics_tables(results: Dict[str, Dict[str, Any]]) -> str:
    r"""Every ``metric@k`` of ``{'valid': {...}, 'test': {...}}`` in up to
    three tables (accuracy, beyond-accuracy, cold-start; see
    :func:`metric_rows_table`), each under its title; a split's
    ``cold_note`` (an ID-only model) follows the tables."""
    first = next((r for r in results.values() if r), {})
    keys = [k for k in first if "@" in k]
    parts = []
    for group, title in GROUP_TITLES.items():
        mine = [k for k in keys if metric_group(k) == group]
        if not mine:
            continue
        shown = results
        if group == "beyond" and _same_lists(results, mine):
            # Validation and test rank the same lists (only training items
            # are masked), so one column set says it all.
            shown = {"valid=test": results["valid"]}
        parts.append(f"{title}:\n{metric_rows_table(shown, mine)}")
    notes = dict.fromkeys(str(r["cold_note"]) for r in results.values()
                          if r and r.get("cold_note"))
    parts += [f"cold-start: {n}" for n in notes]
    return "\n\n".join(parts)


def _extra_cell(rs: Sequence[Dict[str, Any]], metric: str) -> str:
    vals = [r["test"].get(metric) for r in rs]
    if all(isinstance(v, (int, float)) for v in vals):
        return fmt_mean_std([float(v) for v in vals])
    if metric_group(metric) == "cold" and \
            any(r["test"].get("cold_note") for r in rs):
        return "ID-only"
    return "n/a"


def extra_tables(records: Sequence[Dict[str, Any]]
                 ) -> Dict[str, tuple]:
    r"""The beyond-accuracy table (:data:`BEYOND_METRICS`) and, when the
    runs evaluated cold items, the cold-start table (:data:`COLD_METRICS`)
    of run records: ``{"beyond" | "cold": (headers, rows)}``, one row per
    ``(dataset, label)`` with the test mean ± std over seeds. A model that
    cannot score an item from content (its results carry a ``cold_note``)
    shows ``ID-only`` in the cold columns; a metric the run lacks (e.g.
    text diversity without a text modality) ``n/a``."""
    groups: Dict[tuple, List[Dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["dataset"], r["label"]), []).append(r)
    out = {}
    wanted = {"beyond": BEYOND_METRICS}
    if any(k.startswith("cold_") for r in records for k in r["test"]):
        wanted["cold"] = COLD_METRICS
    for name, metrics in wanted.items():
        rows = [[ds, label, len(rs)] + [_extra_cell(rs, m) for m in metrics]
                for (ds, label), rs in groups.items()]
        out[name] = (["dataset", "model", "seeds"] + [f"test {m}" for m in metrics],
                     rows)
    return out


def extra_markdown(records: Sequence[Dict[str, Any]]) -> str:
    r"""The tables of :func:`extra_tables` as Markdown sections."""
    titles = {"beyond": "Beyond accuracy (test, top 20): catalogue coverage, "
                        "novelty (mean self-information), intra-list distance "
                        "in the text feature space, average popularity and "
                        "Gini index of the recommended items.",
              "cold": "Cold-start items (test, top 20): recall of the cold "
                      "items ranked among all items (cold_) and among the cold "
                      "items only (cold_among_cold_); ID-only models cannot "
                      "score an item without interactions."}
    md = []
    for name, (headers, rows) in extra_tables(records).items():
        title = titles[name]
        if name == "cold":
            title += cold_chance_levels(records)
        md += [title, "", format_table(rows, headers, markdown=True), ""]
    return "\n".join(md)


def cold_chance_levels(records: Sequence[Dict[str, Any]], k: int = 20) -> str:
    r"""The expected recall@k of a random ranking on cold items, as a
    sentence for the cold-start table: :math:`k/I` among all :math:`I`
    items and :math:`k/C` among the :math:`C` cold items, whatever the
    number of held-out items per user (each is in the top :math:`k` with
    probability :math:`k/I`, resp. :math:`k/C`); empty when
    the records do not carry the counts (runs made before they were
    recorded) or carry more than one pair (several datasets)."""
    pairs = {(r["test"]["num_items"], r["test"]["cold_items"])
             for r in records if "num_items" in r["test"]
             and "cold_items" in r["test"]}
    if len(pairs) != 1:
        return ""
    (items, cold), = pairs
    return (f" Chance level (a random ranking): about {k}/{items:,} = "
            f"{k / items:.4f} among all items (a little more, as each "
            f"user's training items are masked), {k}/{cold:,} = "
            f"{min(1.0, k / cold):.4f} among the cold items.")


def _mean_curve(curves: List[List[Dict[str, Any]]], key: str):
    n = min(len(c) for c in curves)
    xs = [c[i]["epoch"] for c in curves[:1] for i in range(n)]
    ys = [sum((c[i][key] if c[i][key] is not None else float("nan"))
              for c in curves) / len(curves) for i in range(n)]
    ts = [sum(c[i]["seconds"] for c in curves) / len(curves)
          for i in range(n)]
    return xs, ys, ts


def figure_png(fig, layout: bool = True) -> bytes:
    r"""A matplotlib figure as PNG bytes (100 dpi; with a tight layout
    unless :obj:`layout` is :obj:`False`, for a figure laid out by its
    caller); the figure is closed."""
    import matplotlib.pyplot as plt
    if layout:
        fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def summary_figures(records: Sequence[Dict[str, Any]]) -> Dict[str, bytes]:
    r"""PNG images per dataset, by file name: ``curves_<dataset>.png``, one
    panel per model with the training loss and the validation metric per
    epoch, and ``accuracy_vs_time_<dataset>.png``, the validation metric
    against the cumulative training + evaluation seconds, one line per
    model. Curves are means over seeds (over the epochs every seed
    reached). Needs matplotlib."""
    if not records:
        return {}
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images: Dict[str, bytes] = {}
    for ds in sorted({r["dataset"] for r in records}):
        by_label: Dict[str, List[Dict[str, Any]]] = {}
        for r in records:
            if r["dataset"] == ds:
                by_label.setdefault(r["label"], []).append(r)
        labels = sorted(by_label)
        metric = by_label[labels[0]][0]["valid_metric"]
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        ncols = min(4, len(labels))
        nrows = math.ceil(len(labels) / ncols)
        fig1, axes = plt.subplots(nrows, ncols, squeeze=False,
                                  figsize=(3.6 * ncols, 2.9 * nrows))
        fig2, ax_time = plt.subplots(figsize=(6.5, 4.5))
        for n, label in enumerate(labels):
            curves = [r["curve"] for r in by_label[label]]
            xs, loss, ts = _mean_curve(curves, "loss")
            _, valid, _ = _mean_curve(curves, "valid")
            color = colors[n % len(colors)]
            ax = axes[n // ncols][n % ncols]
            ax.plot(xs, loss, color="tab:grey")
            ax.set(title=f"{label} ({len(curves)} seed(s))", xlabel="epoch")
            ax.set_ylabel("training loss", color="tab:grey")
            ax2 = ax.twinx()
            ax2.plot(xs, valid, color=color)
            ax2.set_ylabel(f"valid {metric}", color=color)
            best = max(range(len(valid)), key=lambda i: valid[i])
            ax2.axvline(xs[best], color=color, ls="--", lw=0.8)
            ax_time.plot(ts, valid, label=label, color=color)
            ax_time.scatter([ts[best]], [valid[best]], color=color, s=18)
        for k in range(len(labels), nrows * ncols):
            axes[k // ncols][k % ncols].set_visible(False)
        fig1.suptitle(f"{ds}: training loss (grey) and validation {metric} "
                      f"(dashed: best epoch)", fontsize=10)
        ax_time.set(xlabel="training + evaluation time (s)",
                    ylabel=f"valid {metric}",
                    title=f"{ds}: accuracy against time (dot = best epoch)")
        ax_time.grid(alpha=0.3)
        ax_time.legend(fontsize=8)
        images[f"curves_{ds}.png"] = figure_png(fig1)
        images[f"accuracy_vs_time_{ds}.png"] = figure_png(fig2)
    return images
