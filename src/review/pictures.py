"""The report's pictures, from ``dvc plots diff --json``: curves overlaid, images side by side.

The curve data of both revisions (vega plots) is drawn with matplotlib, one panel per
file (validation, test), base and branch overlaid; image plots (confusion matrices) of
both revisions are copied beside the report. Only the report loads this module.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display; and the same renderer everywhere

import matplotlib.pyplot as plt  # noqa: E402

from src import dvc  # noqa: E402
from src.core.files import write_png  # noqa: E402

log = logging.getLogger("pipeline")

#: Top-level plots of dvc.yaml drawn with both revisions overlaid, and their file names.
DEFAULT_CURVES = {"ROC": "roc.png", "Precision-Recall": "precision_recall.png"}
#: Image plots (file-name pattern) shown side by side for base and branch.
DEFAULT_IMAGES = "confusion_matrix_*.png"
WORKSPACE = "workspace"  # what dvc calls the working tree in diffs


@dataclass(frozen=True)
class Curves:
    """Line series of one top-level plot from ``dvc plots diff --json``."""

    title: str
    x_label: str
    y_label: str
    #: (revision, file name) -> (xs, ys)
    series: dict[tuple[str, str], tuple[list[float], list[float]]]


@dataclass
class Pictures:
    """The files written beside the report, as the Markdown links them."""

    curves: list[tuple[str, str]] = field(default_factory=list)  # (title, file name)
    #: (name, base's image file or None, branch's image file or None)
    image_pairs: list[tuple[str, str | None, str | None]] = field(default_factory=list)


def axis_encoding(spec: Mapping[str, Any], axis: str) -> Mapping[str, Any]:
    """The encoding of ``axis`` in a Vega-Lite spec: at the top, else in its first layer that has one
    (DVC's smooth template, dvclive's training curves, puts y in a layer)."""
    if axis in spec.get("encoding", {}):
        return spec["encoding"][axis]
    for layer in spec.get("layer", []):
        try:
            return axis_encoding(layer, axis)
        except KeyError:
            continue
    raise KeyError(axis)


def curves_from_plots(plots: Mapping[str, Any], plot_id: str) -> Curves | None:
    """The x/y series per revision and file of a vega plot, None when it is not there."""
    for entry in plots.get(plot_id, []):
        if entry.get("type") != "vega":
            continue
        content = entry["content"]
        x, y = content["encoding"]["x"], axis_encoding(content, "y")
        series: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
        for point in content["data"]["values"]:
            xs, ys = series.setdefault((point["rev"], point.get("filename", "")), ([], []))
            xs.append(float(point[x["field"]]))
            ys.append(float(point[y["field"]]))
        title = content.get("title", {})
        return Curves(
            title=title.get("text", plot_id) if isinstance(title, dict) else str(title),
            x_label=x.get("title", x["field"]),
            y_label=y.get("title", y["field"]),
            series=series,
        )
    return None


def image_plots(plots: Mapping[str, Any], pattern: str) -> dict[str, dict[str, str]]:
    """``{plot path: {revision: image file}}`` for image plots whose file name matches."""
    images: dict[str, dict[str, str]] = {}
    for plot_id, entries in sorted(plots.items()):
        if not fnmatch(Path(plot_id).name, pattern):
            continue
        for entry in entries:
            if entry.get("type") == "image":
                for revision in entry.get("revisions", []):
                    images.setdefault(plot_id, {})[revision] = entry["url"]
    return images


def curve_figure(
    curves: Curves, base_revision: str, base_label: str, branch_label: str = "this branch"
) -> plt.Figure:
    """One panel per file (validation, test), base and branch overlaid in each."""
    files = sorted({name for _, name in curves.series}, key=lambda name: (name != "test.json", name))
    figure, axes = plt.subplots(1, len(files), figsize=(4.2 * len(files), 4), squeeze=False)
    # The branch first, the base dashed on top: where they coincide both stay visible.
    styles = {
        WORKSPACE: ("#1f77b4", "-", branch_label),
        base_revision: ("#ff7f0e", "--", f"base ({base_label})"),
    }
    for panel, name in zip(axes[0], files, strict=True):
        for revision, (color, dash, label) in styles.items():
            if (revision, name) in curves.series:
                xs, ys = curves.series[(revision, name)]
                panel.plot(xs, ys, color=color, linestyle=dash, label=label)
        panel.set_title(f"{curves.title}: {Path(name).stem}")
        panel.set_xlabel(curves.x_label)
        panel.set_ylabel(curves.y_label)
        panel.legend(loc="best", fontsize="small")
    figure.tight_layout()
    return figure


def draw_pictures(
    commit: str,
    base_label: str,
    directory: Path,
    curves: Mapping[str, str] = DEFAULT_CURVES,
    images: str = DEFAULT_IMAGES,
) -> Pictures:
    """Overlay the curves of the workspace and ``commit``; copy both revisions' images into ``directory``."""
    pictures = Pictures()
    with tempfile.TemporaryDirectory() as scratch:
        plots = dvc.dvc_json("plots", "diff", commit, "-o", scratch).get("data", {})
        for plot_id, file_name in curves.items():
            found = curves_from_plots(plots, plot_id)
            if found is None:
                log.warning("no plot named %r in dvc plots diff: not drawn", plot_id)
                continue
            write_png(curve_figure(found, commit, base_label), directory / file_name, dpi=80)
            pictures.curves.append((found.title, file_name))
        for plot_id, by_revision in image_plots(plots, images).items():
            copies: list[str | None] = []
            for side, revision in (("base", commit), ("branch", WORKSPACE)):
                source = by_revision.get(revision)
                if source is None:
                    copies.append(None)
                    continue
                target = directory / f"{side}_{Path(plot_id).name}"
                shutil.copyfile(source, target)
                copies.append(target.name)
            pictures.image_pairs.append((Path(plot_id).stem.replace("_", " "), copies[0], copies[1]))
    return pictures
