"""The monitor's report: JSON for machines, Markdown for people, a picture of the most drifted features.

The JSON is built first (:func:`report_data`, pure) and the Markdown is written from it,
so the two never disagree. Numbers are rounded to 6 places: the files are the same bytes
for the same drop and model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from src.monitoring.decision import Decision, MonitorParams, drifted_features
from src.monitoring.drift import FeatureDrift, FeatureProfile
from src.review.assessment import MetricChange
from src.review.markdown import table

FIGURE_FEATURES = 6


def rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 6)


def drift_entry(drift: FeatureDrift, seasonal: bool, findings: Sequence[str]) -> dict[str, Any]:
    return {
        "kind": drift.kind,
        "psi": rounded(drift.psi),
        "ks_statistic": rounded(drift.ks_statistic),
        "ks_pvalue": rounded(drift.ks_pvalue),
        "reference_missing": rounded(drift.reference_missing),
        "drop_missing": rounded(drift.drop_missing),
        "unseen_share": rounded(drift.unseen_share),
        "seasonal": seasonal,
        "beyond_limits": list(findings),
        "note": drift.note,
    }


def performance_entry(change: MetricChange) -> dict[str, Any]:
    interval = change.interval
    return {
        "drop": rounded(change.branch),
        "test": rounded(change.base),
        "change": rounded(change.delta),
        "interval": None if interval is None else [rounded(interval.low), rounded(interval.high)],
        "confidence": None if interval is None else interval.confidence,
        "note": change.reason,
    }


def report_data(
    *,
    drop: Mapping[str, Any],
    reference: Mapping[str, Any],
    features: Mapping[str, FeatureDrift],
    scores: FeatureDrift,
    performance: Sequence[MetricChange] | None,
    decision: Decision,
    params: MonitorParams,
) -> dict[str, Any]:
    """Everything the report says, as plain data (the JSON file)."""
    drifted = drifted_features(features, params)
    ordered = sorted(features.values(), key=lambda drift: (-(drift.psi or 0.0), drift.feature))
    return {
        "decision": decision.verdict,
        "reasons": list(decision.reasons),
        "checks": list(decision.checks),
        "not_assessed": list(decision.not_assessed),
        "drop": dict(drop),
        "reference": dict(reference),
        "features": {
            drift.feature: drift_entry(
                drift, drift.feature in params.seasonal_features, drifted.get(drift.feature, [])
            )
            for drift in ordered
        },
        "scores": drift_entry(scores, False, []),
        "performance": None if performance is None else {c.metric: performance_entry(c) for c in performance},
        "thresholds": params.model_dump(mode="json"),
    }


def cell(value: float | None, digits: int = 3, percent: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:.1%}" if percent else f"{value:.{digits}f}"


def report_markdown(data: Mapping[str, Any]) -> str:
    """The report as Markdown, from :func:`report_data`'s output."""
    drop, reference = data["drop"], data["reference"]
    lines = [
        f"# Monitoring: {data['decision']}",
        "",
        f"Drop `{drop['directory']}`: {drop['flights']:,} flights scored ({drop['rejected']:,} rejected), "
        f"{drop['first_date']} to {drop['last_date']}; model {reference['model']}.",
        "",
        "## Decision",
        "",
        *(f"- **{line}**" for line in data["reasons"]),
        *(f"- {line}" for line in data["checks"] if line not in data["reasons"]),
    ]
    if data["not_assessed"]:
        lines += ["", "Not assessed:", "", *(f"- {line}" for line in data["not_assessed"])]
    lines += [
        "",
        "## Reference",
        "",
        f"- features: {reference['features']}",
        f"- scores: {reference['scores']}",
        *(f"- {note}" for note in reference["notes"]),
        "",
        "## Data drift",
        "",
        "PSI on the reference's bins; KS: two-sample Kolmogorov–Smirnov statistic (p-value) on numeric features; "
        "seasonal features are shown, not counted.",
        "",
    ]
    rows = [
        [
            name + (" (seasonal)" if entry["seasonal"] else ""),
            cell(entry["psi"]),
            "—"
            if entry["ks_statistic"] is None
            else f"{entry['ks_statistic']:.3f} ({entry['ks_pvalue']:.2g})",
            f"{cell(entry['reference_missing'], percent=True)} → {cell(entry['drop_missing'], percent=True)}",
            cell(entry["unseen_share"], percent=True),
            "; ".join(entry["beyond_limits"]) or (entry["note"] or ""),
        ]
        for name, entry in data["features"].items()
    ]
    lines += table(rows, ["feature", "PSI", "KS (p)", "missing", "unseen", "beyond limits"], "lrrrrl")
    scores = data["scores"]
    lines += [
        "",
        "## Prediction drift",
        "",
        f"Scores: PSI {cell(scores['psi'])}, KS {cell(scores['ks_statistic'])} (p {scores['ks_pvalue']:.2g})."
        if scores["psi"] is not None
        else f"Scores: not assessed ({scores['note']}).",
        "",
        "## Performance",
        "",
    ]
    performance = data["performance"]
    if performance is None:
        lines.append(f"Not assessed: {drop['outcome_note']}.")
    else:
        rows = [
            [
                metric,
                cell(entry["drop"], 4),
                cell(entry["test"], 4),
                "—" if entry["change"] is None else f"{entry['change']:+.4f}",
                "—"
                if entry["interval"] is None
                else f"[{entry['interval'][0]:+.4f}, {entry['interval'][1]:+.4f}]",
                entry["note"] or "",
            ]
            for metric, entry in performance.items()
        ]
        lines += table(rows, ["metric", "drop", "test", "change", "interval", "note"], "lrrrrl")
        lines += ["", f"Late: {drop['late_rate']:.1%} of the drop's labelled flights."]
    lines += ["", "![most drifted features](drift.png)", ""]
    return "\n".join(lines)


def drift_figure(profiles: Mapping[str, FeatureProfile], features: Mapping[str, FeatureDrift]) -> Any:
    """Reference against drop shares per bin, for the features with the largest PSI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = sorted((d for d in features.values() if d.psi is not None), key=lambda d: (-d.psi, d.feature))
    shown = shown[:FIGURE_FEATURES]
    figure, axes = plt.subplots(2, 3, figsize=(12, 6.5), squeeze=False)
    for axis in axes.flat[len(shown) :]:
        axis.set_visible(False)
    for axis, drift in zip(axes.flat, shown, strict=False):
        profile = profiles[drift.feature]
        positions = range(len(profile.shares))
        axis.bar([p - 0.2 for p in positions], profile.shares, width=0.4, label="reference")
        axis.bar([p + 0.2 for p in positions], drift.drop_shares, width=0.4, label="drop")
        axis.set_title(f"{drift.feature}: PSI {drift.psi:.2f}", fontsize=10)
        axis.set_xticks(list(positions), bin_labels(profile), rotation=60, fontsize=6)
        axis.tick_params(axis="y", labelsize=7)
    if shown:
        axes.flat[0].legend(fontsize=8)
    figure.suptitle("Share of flights per reference bin: the most drifted features")
    figure.tight_layout()
    return figure


def bin_labels(profile: FeatureProfile) -> list[str]:
    if profile.kind == "categorical":
        labels = list(profile.categories) + ["(unseen)"]
        return labels if len(labels) <= 20 else ["" for _ in labels]
    edges = [f"{edge:g}" for edge in profile.edges]
    if not edges:
        return ["all"]
    return [f"≤{edges[0]}", *(f"≤{edge}" for edge in edges[1:]), f">{edges[-1]}"]
