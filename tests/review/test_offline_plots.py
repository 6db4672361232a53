"""The offline plots page: every plot DVC shows, as a static image, and the page with no script."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from src.review.offline_plots import draw, image_name, page
from src.review.pictures import axis_encoding


def line(x: str, y_in_layer: bool) -> dict:
    values = [{"rev": "workspace", x: str(step), "loss": str(1 / (step + 1))} for step in range(5)]
    y = {"field": "loss", "title": "loss"}
    encoding = {"x": {"field": x, "title": x}}
    spec = {"data": {"values": values}, "title": "loss", "encoding": encoding}
    if y_in_layer:  # dvclive's training curves: y only inside a layer
        spec["layer"] = [{"layer": [{"mark": "line"}], "encoding": {"y": y}}]
    else:
        encoding["y"] = y
    return {"type": "vega", "content": spec}


def test_the_y_axis_is_found_at_the_top_or_in_a_layer():
    assert axis_encoding(line("step", False)["content"], "y")["field"] == "loss"
    assert axis_encoding(line("step", True)["content"], "y")["field"] == "loss"


def test_lines_are_drawn_images_copied_and_bar_charts_of_names_listed(tmp_path: Path):
    confusion = tmp_path / "cm.png"
    Image.new("RGB", (4, 4)).save(confusion)
    bars = {"type": "vega", "content": {"data": {"values": [{"rev": "workspace", "carrier": "AA", "n": 3}]},
            "encoding": {"x": {"field": "carrier"}, "y": {"field": "n"}}}}  # fmt: skip
    plots = {
        "metrics/train/plots/metrics/train/log_loss.tsv": [line("step", True)],
        "ROC": [line("fpr", False)],
        "metrics/evaluate/plots/images/confusion_matrix_test.png": [
            {"type": "image", "url": str(confusion), "revisions": ["workspace"]}
        ],
        "metrics/evaluate/segments.json": [bars],
    }
    out = tmp_path / "out"
    out.mkdir()
    drawn, skipped = draw(plots, out)
    assert [plot_id for plot_id, _ in drawn] == list(plots)[:3]
    assert skipped == ["metrics/evaluate/segments.json"]
    for _, file_name in drawn:
        assert Image.open(out / file_name).format == "PNG"
    assert (
        image_name("metrics/train/plots/metrics/train/log_loss.tsv")
        == "metrics_train_plots_metrics_train_log_loss.png"
    )


def test_the_page_has_an_image_per_plot_and_no_script():
    html = page([("ROC", "ROC.png"), ("a <b>", "a_b.png")], ["metrics/evaluate/segments.json"])
    assert '<img src="ROC.png" alt="ROC">' in html and "<h2>a &lt;b&gt;</h2>" in html
    assert "<script" not in html and "http" not in html
    assert "<li>metrics/evaluate/segments.json</li>" in html
