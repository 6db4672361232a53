"""Running one command and measuring it: wall time, CPU time, peak memory, output timeline.

CPU time and peak memory come from ``os.wait4`` on the command's process. Linux
folds into those figures every descendant the process waited for, so for
``dvc repro`` they cover DVC and every stage command it ran: ``ru_maxrss`` is then the
resident set of the largest single process, which is what must fit in memory.
Per-stage figures inside one ``dvc repro`` can only be sampled (psutil, a few times a
second), so short memory spikes may be missed there; direct runs give exact ones.
"""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

SAMPLE_INTERVAL_SECONDS = 0.2
#: Lines of output kept in a failure message.
TAIL_LINES = 30


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent not idle since boot (``/proc/stat``)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU seconds of every descendant this process has waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    """CPU seconds of this process and every descendant it has waited for."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime + children_cpu()


class CommandFailed(RuntimeError):
    """A measured command exited with a non-zero status."""


@dataclass
class Measurement:
    """What one run of one command cost."""

    command: str
    wall_s: float
    user_s: float
    sys_s: float
    peak_rss_bytes: int
    timeline: list[tuple[float, str]] = field(default_factory=list)
    #: Sampled peak resident set per stage command (only when stage commands were given).
    stage_peak_rss_bytes: dict[str, int] = field(default_factory=dict)
    #: Sampled CPU time per stage command (only when stage commands were given).
    stage_cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


class StageSampler(threading.Thread):
    """Samples a process tree, keeping per stage command the peak memory and the CPU time.

    A process belongs to a stage when its command line contains the stage's ``cmd``
    (DVC runs it through a shell, whose own footprint is negligible). A process's CPU
    time is its last sampled value, so up to one interval at its end is missed.
    """

    def __init__(self, pid: int, stage_cmds: Mapping[str, str]) -> None:
        super().__init__(daemon=True)
        self._root = psutil.Process(pid)
        self._stage_cmds = dict(stage_cmds)
        self._finished = threading.Event()
        self._stage_of: dict[int, str] = {}
        self._peak_rss: dict[int, int] = {}
        self._cpu: dict[int, float] = {}

    def run(self) -> None:
        while not self._finished.is_set():
            self._sample()
            self._finished.wait(SAMPLE_INTERVAL_SECONDS)

    def _sample(self) -> None:
        try:
            processes = self._root.children(recursive=True)
        except psutil.Error:
            return
        for process in processes:
            try:
                if process.pid not in self._stage_of:
                    command = " ".join(process.cmdline())
                    stage = next((name for name, cmd in self._stage_cmds.items() if cmd in command), None)
                    if stage is None:
                        continue
                    self._stage_of[process.pid] = stage
                rss = process.memory_info().rss
                times = process.cpu_times()
            except psutil.Error:  # it ended between listing and reading
                continue
            self._peak_rss[process.pid] = max(self._peak_rss.get(process.pid, 0), rss)
            self._cpu[process.pid] = times.user + times.system

    def stop(self) -> None:
        self._finished.set()
        self.join()

    @property
    def peak_rss(self) -> dict[str, int]:
        """Largest resident set seen in any one process of each stage."""
        peaks: dict[str, int] = {}
        for pid, stage in self._stage_of.items():
            peaks[stage] = max(peaks.get(stage, 0), self._peak_rss.get(pid, 0))
        return peaks

    @property
    def cpu(self) -> dict[str, float]:
        """CPU seconds (user + system) of each stage's processes, as last sampled."""
        totals: dict[str, float] = {}
        for pid, stage in self._stage_of.items():
            totals[stage] = totals.get(stage, 0.0) + self._cpu.get(pid, 0.0)
        return totals


def run_measured(
    args: list[str],
    cwd: Path,
    env: Mapping[str, str],
    stage_cmds: Mapping[str, str] | None = None,
    log_path: Path | None = None,
) -> Measurement:
    """Run ``args`` in ``cwd`` and measure it; raise :class:`CommandFailed` on failure.

    Output (stdout and stderr merged) is timestamped line by line, so that DVC's
    ``Running stage`` lines mark when each stage began; it is also written to
    ``log_path`` when given.
    """
    start = time.perf_counter()
    process = subprocess.Popen(
        args, cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    timeline: list[tuple[float, str]] = []

    def collect() -> None:
        for line in process.stdout:
            timeline.append((time.perf_counter() - start, line.rstrip("\n")))

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    sampler = StageSampler(process.pid, stage_cmds) if stage_cmds else None
    if sampler:
        sampler.start()
    # wait4 rather than Popen.wait: it also returns the resource usage of the tree.
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if sampler:
        sampler.stop()
    # A daemon left holding the pipe open must not hang the benchmark.
    reader.join(timeout=30)

    if log_path:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.write_text("".join(f"{moment:9.3f} {line}\n" for moment, line in timeline), encoding="utf-8")
    command = " ".join(args)
    if process.returncode != 0:
        tail = "\n".join(line for _, line in timeline[-TAIL_LINES:])
        raise CommandFailed(f"`{command}` in {cwd} exited {process.returncode}:\n{tail}")
    return Measurement(
        command=command,
        wall_s=wall,
        user_s=usage.ru_utime,
        sys_s=usage.ru_stime,
        peak_rss_bytes=usage.ru_maxrss * 1024,  # Linux reports KiB
        timeline=timeline,
        stage_peak_rss_bytes=sampler.peak_rss if sampler else {},
        stage_cpu_s=sampler.cpu if sampler else {},
    )
