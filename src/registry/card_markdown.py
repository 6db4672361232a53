"""The model card as Markdown, written from :func:`src.registry.card.build_card`'s data only (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tabulate import tabulate

DIGITS = 4
SEGMENT_COLUMNS = ("late_rate", "roc_auc", "average_precision")


def _table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.{DIGITS}f}"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "n/a" if value is None else str(value)


def _setting(value: Any) -> str:
    """A parameter as written in params.yaml (no rounding)."""
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _interval(bounds: Sequence[float] | None) -> str:
    return f"{bounds[0]:.{DIGITS}f} to {bounds[1]:.{DIGITS}f}" if bounds else "n/a"


def metrics_table(metrics: Mapping[str, Mapping[str, Mapping[str, Any]]], confidence: float) -> str:
    splits = list(metrics)
    names = list(metrics[splits[0]]) if splits else []
    rows = [
        [name, *(part for split in splits for part in _metric_cells(metrics[split][name]))] for name in names
    ]
    headers = ["metric"]
    for split in splits:
        headers += [split, f"{confidence:.0%} interval", f"{split} baseline"]
    return _table(rows, headers)


def _metric_cells(entry: Mapping[str, Any]) -> list[str]:
    return [_value(entry.get("value")), _interval(entry.get("interval")), _value(entry.get("baseline"))]


def render_markdown(card: Mapping[str, Any]) -> str:
    """The card for people: the same facts as ``card.json``, in the same order every time."""
    model_file, data, method = card["model_file"], card["data"], card["interval_method"]
    source = f"Source: {data['source']}"
    if data["package"]:
        source += f" ({data['package']})"
    if data["sample_flights"]:
        source += f", a sample of {data['sample_flights']} flights"
    segments = [
        [
            entry.get("segment"),
            _value(entry.get("rows")),
            *(_value(entry.get(key)) for key in SEGMENT_COLUMNS),
        ]
        for entry in card["segments"]
    ]
    gate = card["gate"]
    lines = [
        f"# Model card: {card['model']} {card['version']}",
        "",
        card["description"],
        "",
        _table(
            [
                ["commit", f"`{card['commit']}`"],
                [
                    "model file",
                    f"`{model_file['path']}`, MD5 `{model_file['md5']}`, {model_file['size']} bytes",
                ],
                ["labels", ", ".join(card["labels"]) or "none"],
            ],
            ["", ""],
        ),
        "",
        "## Intended use",
        "",
        card["intended_use"],
        "",
        "## Moment of prediction",
        "",
        card["moment_of_prediction"],
        "",
        f"Label `is_late`: {card['label']['definition']}; cancelled and diverted flights count as late: "
        f"{_value(card['label']['cancelled_as_late']).lower()} (featurize.cancelled_as_late).",
        "",
        "## Training window",
        "",
        _table(
            [[name, period["start"], period["end"]] for name, period in card["training_window"].items()],
            ["split", "from", "to"],
        ),
        "",
        "## Data lineage",
        "",
        source + ".",
        "",
        _table(
            [[f"`{item['path']}`", f"`{item['md5']}`"] for item in data["raw"]],
            ["raw data", "MD5 in dvc.lock"],
        ),
        "",
        "## Parameters",
        "",
        _table(
            [[f"`{key}`", _setting(value)] for key, value in card["parameters"].items()],
            ["parameter", "value"],
        ),
        "",
        "## Metrics",
        "",
        metrics_table(card["metrics"], method["confidence"]),
        "",
        f"Intervals: percentile bootstrap over flights, {method['bootstrap_samples']} resamples, seed "
        f"{method['seed']}. Baseline: always predicting the training set's late rate.",
        "",
        "Gate floors (gate.floors): "
        + ("hold." if gate["passed"] else "fail. " + " ".join(gate["failures"])),
        "",
        "## Test metrics by segment",
        "",
        _table(segments, ["segment", "flights", "late rate", "roc_auc", "average_precision"]),
        "",
        "## Known limits",
        "",
        *(f"- {limit}" for limit in card["known_limits"]),
    ]
    return "\n".join(lines) + "\n"
