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


def _extra_record(label, seed, test):
    return {"dataset": "beauty", "label": label, "model": label, "seed": seed,
            "test": test}


def test_metric_group_sorts_every_kind_of_key():
    from mmgraph.report import metric_group
    assert [metric_group(k) for k in (
        "recall@20", "mrr@10", "coverage@20", "novelty@5", "diversity_text@20",
        "diversity_image@20", "avg_popularity@20", "gini@50", "cold_recall@20",
        "cold_among_cold_ndcg@20")] == \
        ["accuracy", "accuracy", "beyond", "beyond", "beyond", "beyond", "beyond",
         "beyond", "cold", "cold"]


def test_extra_tables_beyond_and_cold_with_id_only_models():
    from mmgraph.report import BEYOND_METRICS, extra_markdown, extra_tables
    beyond = {"coverage@20": 0.5, "novelty@20": 7.0, "diversity_text@20": 0.9,
              "avg_popularity@20": 30.0, "gini@20": 0.8}
    records = [
        _extra_record("bm3", 0, {**beyond, "cold_recall@20": 0.1,
                                 "cold_among_cold_recall@20": 0.4}),
        _extra_record("bm3", 1, {**beyond, "coverage@20": 0.7,
                                 "cold_recall@20": 0.3,
                                 "cold_among_cold_recall@20": 0.6}),
        _extra_record("lightgcn", 0, {"coverage@20": 0.25, "novelty@20": 6.0,
                                      "avg_popularity@20": 40.0, "gini@20": 0.9,
                                      "cold_note": "ID-only model"})]
    tables = extra_tables(records)
    headers, rows = tables["beyond"]
    assert headers == ["dataset", "model", "seeds"] + [f"test {m}" for m in BEYOND_METRICS]
    # bm3: coverage (0.5, 0.7) -> mean 0.6, sample std 0.1414
    assert rows[0] == ["beauty", "bm3", 2, "0.6000 ± 0.1414", "7.0000 ± 0.0000",
                       "0.9000 ± 0.0000", "30.0000 ± 0.0000", "0.8000 ± 0.0000"]
    # lightgcn has no text diversity in its results: n/a, not NaN
    assert rows[1] == ["beauty", "lightgcn", 1, "0.2500", "6.0000", "n/a",
                       "40.0000", "0.9000"]
    headers, rows = tables["cold"]
    assert headers[3:] == ["test cold_recall@20", "test cold_among_cold_recall@20"]
    assert rows[0][3:] == ["0.2000 ± 0.1414", "0.5000 ± 0.1414"]
    assert rows[1][3:] == ["ID-only", "ID-only"]
    md = extra_markdown(records)
    cold_line = [line for line in md.splitlines() if "lightgcn" in line][-1]
    assert [c.strip() for c in cold_line.strip("|").split("|")][3:] == \
        ["ID-only", "ID-only"]
    assert "nan" not in md.lower() and md.count("|") > 0
    # without cold metrics in any record there is no cold table
    assert set(extra_tables([_extra_record("mf", 0, beyond)])) == {"beyond"}
    # records without the item counts (older runs) state no chance level
    assert "Chance level" not in md


def test_cold_table_states_the_chance_levels():
    from mmgraph.report import cold_chance_levels, extra_markdown
    counts = {"num_items": 12101, "cold_items": 1210}
    records = [_extra_record("bm3", s, {"cold_recall@20": 0.1,
                                        "cold_among_cold_recall@20": 0.4,
                                        **counts}) for s in (0, 1)]
    # 20/12,101 and 20/1,210
    assert cold_chance_levels(records) == (
        " Chance level (a random ranking): about 20/12,101 = 0.0017 among all "
        "items (a little more, as each user's training items are masked), "
        "20/1,210 = 0.0165 among the cold items.")
    assert cold_chance_levels(records, k=10).endswith("10/1,210 = 0.0083 "
                                                      "among the cold items.")
    assert "20/1,210 = 0.0165" in extra_markdown(records)
    # two datasets (two pairs of counts): no single chance level to state
    other = _extra_record("bm3", 2, {"cold_recall@20": 0.1,
                                     "num_items": 50, "cold_items": 5})
    assert cold_chance_levels(records + [other]) == ""


def test_grouped_metrics_tables_split_accuracy_beyond_and_cold():
    from mmgraph.report import grouped_metrics_tables
    res = {"valid": {"recall@20": 0.25, "coverage@20": 0.5, "num_users": 9,
                     "cold_note": "ID-only model: no cold-item scores"},
           "test": {"recall@20": 0.5, "coverage@20": 0.75, "num_users": 9,
                    "cold_note": "ID-only model: no cold-item scores"}}
    text = grouped_metrics_tables(res)
    acc, beyond, note = text.split("\n\n")
    assert acc.splitlines()[0] == "accuracy:"
    assert acc.splitlines()[1].split() == ["metric", "valid@20", "test@20"]
    assert acc.splitlines()[3].split() == ["recall", "0.2500", "0.5000"]
    assert "coverage" not in acc and "num_users" not in text
    assert beyond.startswith("beyond accuracy")
    assert beyond.splitlines()[3].split() == ["coverage", "0.5000", "0.7500"]
    assert note == "cold-start: ID-only model: no cold-item scores"
    # equal list-level measures (the same lists ranked) share one column set
    res["test"]["coverage@20"] = 0.5
    beyond = grouped_metrics_tables(res).split("\n\n")[1]
    assert beyond.splitlines()[1].split() == ["metric", "valid=test@20"]
    assert beyond.splitlines()[3].split() == ["coverage", "0.5000"]
    res = {"test": {"recall@20": 0.5, "recall@5": 0.25, "ndcg@20": 0.5,
                    "cold_recall@20": 0.125}}
    acc, cold = grouped_metrics_tables(res).split("\n\n")
    # cut-offs sorted; a missing key is '-'
    assert acc.splitlines()[1].split() == ["metric", "test@5", "test@20"]
    assert acc.splitlines()[4].split() == ["ndcg", "-", "0.5000"]
    assert cold.startswith("cold-start items") and "0.1250" in cold
