"""A py-spy profile of a running worker, summarised as its top functions and packages.

py-spy attaches to the worker by PID, so the worker runs unmodified; `--nonblocking`
samples without pausing it, so the throughput measured at the same time stays close to
an unprofiled run (the result records that it was profiled). Only on-CPU samples are
kept: time the loop spends waiting in epoll is not what needs optimising.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.harness import BenchError

RATE_HZ = 100


@dataclass
class Profiler:
    pid: int
    folded: Path  # py-spy "raw" output: one collapsed stack per line, then its sample count
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def own_pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> Profiler:
        exe = shutil.which("py-spy")
        if exe is None:
            raise BenchError("py-spy not found on PATH (pip install py-spy)")
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    exe,
                    "record",
                    "--pid",
                    str(self.pid),
                    "--rate",
                    str(RATE_HZ),
                    "--format",
                    "raw",
                    "--function",  # aggregate by function, not by line: a readable top list
                    "--nonblocking",
                    "--output",
                    str(self.folded),
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def stop(self) -> None:
        """SIGINT makes py-spy write its output; it is killed if it does not within 30 s."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _package(frame: str) -> str:
    """'func (faust/streams/stream.py:123)' -> 'faust'; project code keeps its top dir."""
    location = frame.rpartition(" (")[2].rstrip(")")
    path = location.rpartition(":")[0] or location
    head = path.split("/", 1)[0]
    return head.removesuffix(".py") or "?"


@dataclass
class Summary:
    samples: int
    self_time: list[tuple[str, int]]
    total_time: list[tuple[str, int]]
    packages_self: list[tuple[str, int]]
    callers: dict[str, list[tuple[str, int]]]  # top self functions -> their call paths
    threads: list[tuple[str, int]]


CALLER_DEPTH = 5  # frames shown above a hot function: enough to reach the project's code


def summarise(folded: Path, top: int = 40) -> Summary:
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    package_counts: Counter[str] = Counter()
    paths: dict[str, Counter[str]] = {}
    thread_counts: Counter[str] = Counter()
    samples = 0
    for line in folded.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack.strip() or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f.strip()]
        if not frames:
            continue
        samples += count
        thread_counts[_thread(frames)] += count
        self_counts[frames[-1]] += count
        package_counts[_package(frames[-1])] += count
        # Where a hot leaf is called from, as short names: "what to change" is usually
        # a few frames up, in the project or Faust, not in the leaf itself.
        above = [_short(f) for f in reversed(frames[-1 - CALLER_DEPTH : -1])]
        paths.setdefault(frames[-1], Counter())[" <- ".join(above) or "(top)"] += count
        for frame in set(frames):  # a recursive function counts once per sample
            total_counts[frame] += count
    hottest = [name for name, _ in self_counts.most_common(8)]
    return Summary(
        samples,
        self_counts.most_common(top),
        total_counts.most_common(top),
        package_counts.most_common(top),
        {name: paths[name].most_common(3) for name in hottest},
        thread_counts.most_common(),
    )


def _thread(frames: list[str]) -> str:
    """Main thread, or the thread's run method (Faust runs aiokafka's consumer in one)."""
    names = [_short(f) for f in frames]
    if "Thread._bootstrap_inner" in names:
        after = names[names.index("Thread._bootstrap_inner") + 1 :]
        return f"thread {after[0]}" if after else "thread ?"
    if names[0] in ("<module>", "_run_module_as_main"):
        return "main thread"
    return "stack cut short by py-spy (thread unknown)"


def _short(frame: str) -> str:
    return frame.partition(" (")[0]


def render(summary: Summary, title: str) -> str:
    def pct(count: int) -> str:
        return f"{100.0 * count / max(summary.samples, 1):5.1f}%"

    lines = [
        title,
        f"{summary.samples} on-CPU samples at {RATE_HZ} Hz (py-spy record --function "
        "--nonblocking; idle time in the event loop's poll is not sampled).",
        "Time in C code (uvloop's loop, orjson, pydantic-core, RocksDB, socket calls) is "
        "charged to the Python frame that called it: with uvloop, the loop's own work shows "
        "up as the frame that started it (Worker.execute_from_commandline).",
        "",
        "Top functions by self time (the frame on the CPU):",
        "  self%   samples  function (file:first line)",
    ]
    lines += [f"  {pct(c)} {c:8d}  {name}" for name, c in summary.self_time]
    lines += ["", "Top functions by total time (on the stack):", "  total%  samples  function"]
    lines += [f"  {pct(c)} {c:8d}  {name}" for name, c in summary.total_time]
    lines += ["", "Samples by thread (they share the GIL):", "  share%  samples  thread"]
    lines += [f"  {pct(c)} {c:8d}  {name}" for name, c in summary.threads]
    lines += ["", "Self time by top-level package/module:", "  self%   samples  package"]
    lines += [f"  {pct(c)} {c:8d}  {name}" for name, c in summary.packages_self]
    lines += ["", f"Call paths of the hottest functions ({CALLER_DEPTH} frames up):"]
    for name, paths in summary.callers.items():
        lines.append(f"  {name}")
        lines += [f"    {pct(c)} {c:8d}  <- {path}" for path, c in paths]
    return "\n".join(lines) + "\n"
