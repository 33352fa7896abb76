"""Child processes for the benchmark: wall time, peak memory (the largest process, and the sum over
the process tree sampled from /proc), and a JSON answer on stdout."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Child:
    seconds: float
    max_rss_mb: float  # largest single process (wait4 rusage, and /proc samples of its descendants)
    tree_rss_mb: float  # peak of the summed RSS of the child and all its descendants (sampled)
    stdout: str
    stderr: str
    returncode: int


def run(argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 600) -> Child:
    """Run `argv` to completion (killed after `timeout` s) with its own peak-memory figures."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    chunks: dict[str, bytes] = {}
    readers = [
        threading.Thread(target=lambda n=n, f=f: chunks.__setitem__(n, f.read()), daemon=True)
        for n, f in (("out", proc.stdout), ("err", proc.stderr))
    ]
    for r in readers:
        r.start()
    killer = threading.Timer(timeout, proc.kill)
    killer.start()
    # wait4, not waitpid: the rusage of this child alone (ru_maxrss: its largest reaped process).
    _, status, usage = os.wait4(proc.pid, 0)
    killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    for r in readers:
        r.join(timeout=10)
    sampler.stop()
    return Child(
        seconds,
        max(usage.ru_maxrss / 1024, sampler.single_mb),
        sampler.peak_mb,
        chunks.get("out", b"").decode(),
        chunks.get("err", b"").decode(),
        proc.returncode,
    )


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    stack = [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children") if Path(f"/proc/{p}/task").exists() else []:
            try:
                stack.extend(int(c) for c in task.read_text().split())
            except OSError:
                continue
    return out


def rss_mb(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (their threads included)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / tick


class TreeSampler:
    """Peak of the summed RSS of a process tree, sampled every 0.1 s (bounded by the child's life)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_mb = 0.0
        self.single_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _loop(self) -> None:
        while not self._stop.is_set():
            pids = descendants(self.pid)
            self.peak_mb = max(self.peak_mb, rss_mb(pids))
            self.single_mb = max([self.single_mb, *(rss_mb([p]) for p in pids)])
            self._stop.wait(0.1)


def env_with(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
