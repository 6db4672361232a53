"""The `make models` listing (pure tables; the real command runs in tests/integration)."""

from __future__ import annotations

from src.registry.catalog import ModelVersion
from src.registry.models import assignments_table, registered_as, versions_table
from src.registry.versions import Version

VERSIONS = [
    ModelVersion(Version(1, 0, 0), "a" * 40, "m@v1.0.0", (), "m v1.0.0: first registered version"),
    ModelVersion(
        Version(1, 1, 0), "b" * 40, "m@v1.1.0", ("prod",), "m v1.1.0: changed since v1.0.0: data (data/raw)"
    ),
]
METRICS = {
    "a" * 40: {"test": {"roc_auc": 0.69}},
    "b" * 40: {"test": {"roc_auc": 0.71}, "validation": {"roc_auc": 0.66}},
}


def rows(table: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table.splitlines()[2:]]


def test_versions_are_listed_newest_first_with_stage_commit_and_metrics():
    table = versions_table(VERSIONS, METRICS, ["roc_auc"])
    header = [cell.strip() for cell in table.splitlines()[0].strip("|").split("|")]
    assert header == ["version", "stages", "commit", "test roc_auc", "validation roc_auc", "registered"]
    assert rows(table) == [
        ["v1.1.0", "prod", "b" * 12, "0.7100", "0.6600", "changed since v1.0.0: data (data/raw)"],
        ["v1.0.0", "-", "a" * 12, "0.6900", "n/a", "first registered version"],
    ]
    assert registered_as(VERSIONS[1]) == "changed since v1.0.0: data (data/raw)"


def test_assignments_show_their_evidence_newest_first():
    history = [
        {"event": "registration", "timestamp": "2026-01-01T00:00:00", "ref": "m@v1.0.0"},
        {
            "event": "assignment",
            "timestamp": "2026-01-02T00:00:00",
            "ref": "m#prod#1",
            "version": "v1.0.0",
            "stage": "prod",
            "message": "m v1.0.0 to prod\nno version was in prod",
        },
        {
            "event": "assignment",
            "timestamp": "2026-01-02T00:00:00",
            "ref": "m#prod#2",
            "version": "v1.1.0",
            "stage": "prod",
            "message": "m v1.1.0 to prod\nagainst v1.0.0\nforced: drill (overrode: test roc_auc got worse)",
        },
    ]
    assert rows(assignments_table(history)) == [
        ["m#prod#2", "v1.1.0", "prod", "against v1.0.0 / forced: drill"],
        ["m#prod#1", "v1.0.0", "prod", "no version was in prod"],
    ]
