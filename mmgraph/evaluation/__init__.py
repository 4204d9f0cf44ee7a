r"""Evaluation: MMRec's full-ranking protocol and top-k metrics."""
from mmgraph.evaluation.evaluator import DEFAULT_METRICS, DEFAULT_TOPK, Evaluator
from mmgraph.evaluation.metrics import METRICS, compute_metrics, parse_metric_name

__all__ = ["Evaluator", "METRICS", "compute_metrics", "parse_metric_name",
           "DEFAULT_METRICS", "DEFAULT_TOPK"]
