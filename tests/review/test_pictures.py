"""Reading curve data and images from ``dvc plots diff --json`` (hand-made shapes)."""

from __future__ import annotations

from src.review.pictures import curves_from_plots, image_plots


def vega(title: str, x: str, y: str, values: list[dict]) -> dict:
    """The shape of one entry of `dvc plots diff --json` for a simple line plot."""
    return {
        "type": "vega",
        "revisions": ["workspace", "main"],
        "content": {
            "title": {"text": title},
            "encoding": {"x": {"field": x, "title": "false positive rate"}, "y": {"field": y}},
            "data": {"values": values},
        },
    }


def test_curves_are_read_per_revision_and_file_from_plots_diff():
    values = [
        {"fpr": 0.0, "tpr": 0.0, "rev": "workspace", "filename": "test.json"},
        {"fpr": 1.0, "tpr": 1.0, "rev": "workspace", "filename": "test.json"},
        {"fpr": 0.0, "tpr": 0.0, "rev": "main", "filename": "test.json"},
        {"fpr": 0.5, "tpr": "0.7", "rev": "main", "filename": "validation.json"},
    ]
    curves = curves_from_plots({"ROC": [vega("ROC", "fpr", "tpr", values)]}, "ROC")
    assert curves.series[("workspace", "test.json")] == ([0.0, 1.0], [0.0, 1.0])
    assert curves.series[("main", "validation.json")] == ([0.5], [0.7])
    assert (curves.x_label, curves.y_label) == ("false positive rate", "tpr")
    assert curves_from_plots({}, "ROC") is None


def test_image_plots_are_matched_by_file_name_per_revision():
    plots = {
        "metrics/images/confusion_matrix_test.png": [
            {"type": "image", "revisions": ["workspace"], "url": "/tmp/w.png"},
            {"type": "image", "revisions": ["main"], "url": "/tmp/m.png"},
        ],
        "metrics/images/feature_importance.png": [{"type": "image", "revisions": ["workspace"], "url": "/x"}],
    }
    assert image_plots(plots, "confusion_matrix_*.png") == {
        "metrics/images/confusion_matrix_test.png": {"workspace": "/tmp/w.png", "main": "/tmp/m.png"}
    }
