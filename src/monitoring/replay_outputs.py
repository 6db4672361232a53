"""The replay's files: the month table, the metrics, the candidates' trade-off and the plot.

Built from :class:`src.monitoring.replay.Result` as plain data first (pure), numbers
rounded to 6 places, so a rerun writes the same bytes; the plot is matplotlib's PNG
without its version string (:func:`src.core.files.write_png`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from src.core.files import atomic_path, dump_json, write_png
from src.monitoring.decision import MonitorParams, drifted_features
from src.monitoring.walk import Step, month_name

if TYPE_CHECKING:
    from src.monitoring.replay import Result

STRATEGIES = ("never", "policy", "every_month")
LABELS = {"never": "never retrain", "policy": "the policy", "every_month": "retrain every month"}
METRICS = ("roc_auc", "average_precision")
PLOT = Path("plots") / "roc_auc.png"


def rounded(value: float) -> float:
    return round(float(value), 6)


def thresholds(params: MonitorParams) -> dict[str, float]:
    return {
        "score_psi_limit": params.score_psi_limit,
        "roc_auc_drop": params.max_performance_drop["roc_auc"],
        "max_model_age_days": params.max_model_age_days,
    }


def summary(steps: Sequence[Step]) -> dict[str, float]:
    """Mean monthly metrics and the retrains decided over ``steps``."""
    found = {metric: rounded(np.mean([step.metrics[metric] for step in steps])) for metric in METRICS}
    return {**found, "retrains": sum(step.retrain for step in steps)}


def phases(result: Result, steps: Sequence[Step]) -> dict[str, list[Step]]:
    tuning = set(result.tuning)
    return {
        "tuning": [step for step in steps if step.month in tuning],
        "test": [step for step in steps if step.month not in tuning],
        "all": list(steps),
    }


def month_rows(result: Result) -> list[dict[str, Any]]:
    """One record per live month: the data, the policy's measurement and decision, each strategy's metrics."""
    policy = result.grid[result.chosen][0]
    rows = []
    for position, month in enumerate(result.live):
        frame = result.months[month]
        step = result.walks["policy"][position]
        decision = step.decision
        row: dict[str, Any] = {
            "month": month_name(frame),
            "month_number": month + 1,
            "phase": "tuning" if month in result.tuning else "test",
            "flights": len(frame),
            "policy_model": f"{month_name(result.months[step.window[0]])} to "
            f"{month_name(result.months[step.window[1]])}",
        }
        findings = result.findings[step.window, month]
        row["drifted_features"] = ", ".join(drifted_features(findings.features, policy)) or "none"
        row["score_psi"] = rounded(findings.scores.psi) if findings.scores.psi is not None else None
        change = next(c for c in findings.performance or () if c.metric == "roc_auc")
        row["roc_auc_change"] = None if change.delta is None else rounded(change.delta)
        row["decision"] = decision.verdict if decision else None
        row["reasons"] = "; ".join(decision.reasons) if decision else ""
        row["retrained_after"] = step.retrain
        for name in STRATEGIES:
            for metric in METRICS:
                row[f"{metric}_{name}"] = rounded(result.walks[name][position].metrics[metric])
        rows.append(row)
    return rows


def metrics_data(result: Result) -> dict[str, Any]:
    data: dict[str, Any] = {
        phase: {name: summary(phases(result, result.walks[name])[phase]) for name in STRATEGIES}
        for phase in ("tuning", "test", "all")
    }
    data["policy_thresholds"] = thresholds(result.grid[result.chosen][0])
    data["months"] = {"tuning": len(result.tuning), "test": len(result.live) - len(result.tuning)}
    data["fits"] = result.fits
    return data


def candidate_rows(result: Result) -> list[dict[str, Any]]:
    """The trade-off: every candidate's retrains against its mean ROC AUC, tuning and test months."""
    rows = []
    for index, (params, tuned, walked) in enumerate(result.grid):
        test = phases(result, walked)["test"]
        rows.append(
            {
                **thresholds(params),
                "tuning_roc_auc": rounded(np.mean([s.metrics["roc_auc"] for s in tuned])),
                "tuning_retrains": sum(s.retrain for s in tuned),
                "test_roc_auc": summary(test)["roc_auc"],
                "test_retrains": summary(test)["retrains"],
                "chosen": index == result.chosen,
            }
        )
    return rows


def roc_auc_figure(result: Result, rows: Sequence[dict[str, Any]]) -> Any:
    """The strategies' monthly ROC AUC; where the policy retrained; the tuning months shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    x = [row["month_number"] for row in rows]
    styles = {"never": ("#888888", "s"), "policy": ("#d62728", "o"), "every_month": ("#1f77b4", "^")}
    for name in STRATEGIES:
        colour, marker = styles[name]
        label = legend_label(result, name)
        axes.plot(x, [row[f"roc_auc_{name}"] for row in rows], color=colour, marker=marker, label=label)
    for row in rows:
        if row["retrained_after"]:
            axes.axvline(row["month_number"] + 0.5, color="#d62728", linestyle=":", linewidth=1)
    tuning = [row["month_number"] for row in rows if row["phase"] == "tuning"]
    if tuning:
        axes.axvspan(min(tuning) - 0.5, max(tuning) + 0.5, color="#eeeeee", zorder=0, label="tuning months")
    axes.set_xticks(x, [row["month"] for row in rows], rotation=45, fontsize=8)
    axes.set_ylabel("ROC AUC of the month")
    axes.set_title("Replay: monthly ROC AUC (dotted: the policy's model changes)")
    axes.legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    return figure


def legend_label(result: Result, name: str) -> str:
    test = summary(phases(result, result.walks[name])["test"])
    return f"{LABELS[name]}: test {test['roc_auc']:.4f}, {test['retrains']} retrains"


def write_outputs(result: Result, out_dir: Path) -> None:
    """Write the whole directory, replacing the last one only when everything is written."""
    rows = month_rows(result)
    with atomic_path(out_dir) as staged:
        staged.mkdir(parents=True)
        (staged / "metrics.json").write_text(dump_json(metrics_data(result)), encoding="utf-8")
        (staged / "months.json").write_text(dump_json({"months": rows}), encoding="utf-8")
        (staged / "thresholds.json").write_text(
            dump_json({"candidates": candidate_rows(result)}), encoding="utf-8"
        )
        write_png(roc_auc_figure(result, rows), staged / PLOT)
