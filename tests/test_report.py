import math
import statistics

from mmgraph.report import (fmt_mean_std, format_table, mean_std,
                            metrics_table)


def test_mean_std_is_the_sample_standard_deviation():
    vals = [0.1, 0.2, 0.4]
    mean, std = mean_std(vals)
    assert math.isclose(mean, statistics.fmean(vals))
    assert math.isclose(std, statistics.stdev(vals))
    assert mean_std([0.5]) == (0.5, 0.0)
    assert all(math.isnan(v) for v in mean_std([]))
    # statistics.stdev fails on nan values; a missing metric is nan, nan.
    assert all(math.isnan(v) for v in mean_std([float("nan")] * 2))
    assert all(math.isnan(v) for v in mean_std([0.1, float("nan")]))


def test_fmt_mean_std_shows_no_deviation_for_one_value():
    assert fmt_mean_std([0.12345]) == "0.1235"
    assert fmt_mean_std([0.1, 0.3], digits=2) == "0.20 ± 0.14"


def test_format_table_aligns_and_right_aligns_numbers():
    text = format_table([["mf", 0.5], ["lightgcn", 0.25]], ["model", "r@20"])
    lines = text.splitlines()
    assert lines[0].split() == ["model", "r@20"]
    assert lines[2] == "mf        0.5000"
    assert lines[3] == "lightgcn  0.2500"
    assert len({len(line) for line in lines}) == 1
    md = format_table([["mf", 1]], ["model", "n"], markdown=True)
    assert md.splitlines()[1] == "|-------|--:|"


def test_metrics_table_has_one_row_per_split():
    text = metrics_table({"valid": {"recall@20": 0.1, "num_users": 3},
                          "test": {"recall@20": 0.2}})
    rows = [line.split() for line in text.splitlines()]
    assert rows[0] == ["split", "recall@20"]
    assert rows[2] == ["valid", "0.1000"] and rows[3] == ["test", "0.2000"]


def _record(label, seed, recall, valid, peak=100.0):
    return {"dataset": "d", "model": label, "objective": "bpr",
            "label": label, "seed": seed, "valid_metric": "recall@20",
            "test": {"recall@20": recall}, "valid": {"recall@20": valid},
            "epochs": 4, "best_epoch": 2, "seconds_per_epoch": 1.0,
            "seconds_per_eval": 0.5, "total_seconds": 6.0,
            "peak_rss_mb": peak, "base_rss_mb": peak / 2,
            "curve": [{"epoch": e, "loss": 1.0 / (e + 1), "valid": valid,
                       "seconds": 1.5 * (e + 1)} for e in range(4)]}


def test_summarise_groups_by_dataset_and_label_over_seeds():
    from mmgraph.report import summarise
    rows = summarise([_record("mf", 1, 0.1, 0.2, 90.0),
                      _record("lightgcn", 1, 0.3, 0.3),
                      _record("mf", 2, 0.2, 0.4, 110.0)])
    assert [r["label"] for r in rows] == ["mf", "lightgcn"]
    mf = rows[0]
    assert mf["seeds"] == [1, 2]
    assert mf["recall@20"]["values"] == [0.1, 0.2]
    assert math.isclose(mf["recall@20"]["mean"], 0.15)
    assert math.isclose(mf["recall@20"]["std"], statistics.stdev([0.1, 0.2]))
    assert math.isclose(mf["valid_recall@20"]["mean"], 0.3)
    assert math.isnan(mf["ndcg@20"]["mean"])   # not measured: nan, no error
    assert mf["peak_rss_mb"] == 110.0 and mf["base_rss_mb"] == 45.0
    assert rows[1]["recall@20"]["std"] == 0.0


def test_summary_csv_markdown_and_figures():
    from mmgraph.report import (summarise, summary_csv, summary_figures,
                                summary_markdown)
    records = [_record("mf", 1, 0.1, 0.2), _record("mf", 2, 0.2, 0.4)]
    rows = summarise(records)
    lines = summary_csv(rows).splitlines()
    head = lines[0].split(",")
    cells = dict(zip(head, lines[1].split(",")))
    assert len(lines) == 2 and cells["model"] == "mf"
    assert cells["num_seeds"] == "2" and cells["recall@20_mean"] == "0.150000"
    md = summary_markdown("T", rows, "about", "method", {"torch": "x"}, 3)
    assert md.startswith("# T\n\nabout\n")
    assert "| d " in md and "0.1500 ± 0.0707" in md
    assert "Memory: method." in md and "Versions: torch x." in md
    assert "3 run(s) of the suite are not finished" in md
    images = summary_figures(records)
    assert sorted(images) == ["accuracy_vs_time_d.png", "curves_d.png"]
    assert all(png.startswith(b"\x89PNG") for png in images.values())
    assert summary_figures([]) == {}
