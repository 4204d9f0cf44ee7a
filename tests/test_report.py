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
