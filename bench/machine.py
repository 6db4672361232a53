"""A description of the machine and software a benchmark ran on."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

#: Packages whose versions decide the timings.
PACKAGES = ("dvc", "dvc-s3", "scikit-learn", "pandas", "numpy", "pyarrow", "pandera", "matplotlib")


def cpu_model(cpuinfo: str) -> str:
    """The ``model name`` of the first processor in /proc/cpuinfo text."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return "unknown"


def mem_total_bytes(meminfo: str) -> int:
    """``MemTotal`` from /proc/meminfo text, in bytes (0 when absent)."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024  # the file says kB, meaning KiB
    return 0


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _git_revision(repo: Path) -> str:
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
        return result.stdout.strip()

    revision = git("rev-parse", "--short", "HEAD") or "unknown"
    return revision + (" + uncommitted changes" if git("status", "--porcelain") else "")


def describe_machine(repo: Path) -> dict[str, object]:
    """Hardware, operating system, software versions and the measured revision."""
    return {
        "cpu_model": cpu_model(_read("/proc/cpuinfo")),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "memory_bytes": mem_total_bytes(_read("/proc/meminfo")),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "packages": {name: _package_version(name) for name in PACKAGES},
        "revision": _git_revision(repo),
    }
