"""Evaluation of embeddings: metrics (:mod:`.evaluate`, the one call, over :mod:`.clustering`, :mod:`.probes`,
:mod:`.retrieval`, :mod:`.holds` and :mod:`.inputs`), leakage-free splits (:mod:`.splits`), confidence intervals
over test groups (:mod:`.confidence`), figures (:mod:`.plots`).

Typical notebook use::

    from emkit.analysis import evaluate_embeddings, metrics_table, group_split
    metrics = evaluate_embeddings(emb_df, points_df, label_col="label", group_col="neuron_id")
    metrics_table(metrics)           # metric, value, interval, unit, target, passed

The plotting functions live in :mod:`emkit.analysis.plots` (matplotlib/seaborn are imported only when used).
"""

from emkit.analysis.confidence import accuracy_interval, accuracy_ratio_interval, finite_interval, grouped_hits
from emkit.analysis.evaluate import (
    DEFAULT_TARGETS,
    class_variance_share,
    decodability,
    embedding_matrix,
    evaluate_embeddings,
    hopkins,
    hopkins_from_samples,
    knn_accuracy,
    label_budget_curve,
    linear_probe,
    metrics_table,
    readout_shift,
    same_object_retrieval,
    sample_label_fraction,
    silhouette,
)
from emkit.analysis.splits import (
    check_no_leakage,
    group_split,
    random_split,
    split_imbalance,
    split_indices,
    split_summary,
)

__all__ = [
    "accuracy_interval",
    "accuracy_ratio_interval",
    "finite_interval",
    "grouped_hits",
    "DEFAULT_TARGETS",
    "class_variance_share",
    "decodability",
    "embedding_matrix",
    "evaluate_embeddings",
    "hopkins",
    "hopkins_from_samples",
    "knn_accuracy",
    "label_budget_curve",
    "linear_probe",
    "metrics_table",
    "readout_shift",
    "same_object_retrieval",
    "sample_label_fraction",
    "silhouette",
    "check_no_leakage",
    "group_split",
    "random_split",
    "split_imbalance",
    "split_indices",
    "split_summary",
]
