"""Units of the metrics: "%" marks accuracy points, the unit an equivalence margin is in."""

from __future__ import annotations

UNITS = {"test_acc": "%", "train_acc": "%", "val_acc": "%", "nb_acc": "%", "peak_mem_mb": "MB"}
UNITS |= {"teacher_acc": "%", "teacher_gap": "%"}  # the network at T_t, and minus itself at T_s
UNITS |= dict.fromkeys(["wall_s", "train_total_s", "epoch_time_s"], "s")


def unit_of(metric: str) -> str:
    """Display unit of a metric ("%": accuracy points; "" when it has none)."""
    return "%" if metric.startswith("test_acc_T") else UNITS.get(metric, "")
