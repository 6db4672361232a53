"""Every plot of the workspace as a static image, on a page that needs no network.

``python -m src.review.offline_plots`` (``make plots``) writes ``reports/plots/index.html``.
``dvc plots show`` writes a page that loads the Vega libraries from a CDN, so it is
blank offline. This page draws the same data (``dvc plots show --json``) with
matplotlib, as the pull-request report draws its curves, and copies the image plots
(confusion matrices, feature importance): static images, plain HTML, no script.
"""

from __future__ import annotations

import argparse
import html
import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from src import dvc
from src.core.files import atomic_path, write_png
from src.core.stage import run_stage
from src.review.pictures import curve_figure, curves_from_plots

log = logging.getLogger("pipeline")

DEFAULT_OUT = Path("reports/plots")


def image_name(plot_id: str) -> str:
    """A file name for a plot: its id with every run of other characters made one ``_``."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", Path(plot_id).with_suffix("").as_posix()).strip("_") + ".png"


def page(drawn: list[tuple[str, str]], skipped: list[str]) -> str:
    """The HTML: each plot's id as a heading over its image; the ones not drawn listed."""
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>Plots of the workspace</title></head><body>',
        "<h1>Plots of the workspace</h1>",
        "<p>Drawn from <code>dvc plots show --json</code> by <code>python -m src.review.offline_plots</code>.</p>",
    ]
    for plot_id, file_name in drawn:
        parts += [
            f"<h2>{html.escape(plot_id)}</h2>",
            f'<img src="{html.escape(file_name)}" alt="{html.escape(plot_id)}">',
        ]
    if skipped:
        items = "".join(f"<li>{html.escape(plot_id)}</li>" for plot_id in skipped)
        parts.append(
            f"<p>Not drawn here (not x/y line data; see <code>dvc plots show</code>):</p><ul>{items}</ul>"
        )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def draw(plots: dict[str, list[dict[str, Any]]], out: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """Write each plot's image into ``out``: ``(drawn (id, file name), skipped ids)``."""
    drawn, skipped = [], []
    for plot_id, entries in plots.items():
        file_name = image_name(plot_id)
        image = next((entry for entry in entries if entry.get("type") == "image"), None)
        if image is not None:
            shutil.copyfile(image["url"], out / file_name)
            drawn.append((plot_id, file_name))
            continue
        try:
            curves = curves_from_plots(plots, plot_id)
        except (KeyError, TypeError, ValueError):  # a bar chart of names, not x/y numbers
            curves = None
        if curves is None or not curves.series:
            skipped.append(plot_id)
            continue
        write_png(
            curve_figure(curves, base_revision="", base_label="", branch_label="workspace"),
            out / file_name,
            dpi=80,
        )
        drawn.append((plot_id, file_name))
    return drawn, skipped


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.review.offline_plots",
        description="Draw every plot of the workspace as a PNG and write a page of them that works offline.",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"the directory (default {DEFAULT_OUT})"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, atomic_path(args.out) as staged:
        staged.mkdir(parents=True)
        plots = dvc.dvc_json("plots", "show", "-o", scratch).get("data", {})
        drawn, skipped = draw(plots, staged)
        (staged / "index.html").write_text(page(drawn, skipped), encoding="utf-8")
    log.info("%d plots drawn, %d not: %s", len(drawn), len(skipped), args.out / "index.html")


if __name__ == "__main__":
    run_stage("plots", main)
