"""A frozen copy of the source tree for one run.

Other engineers edit the worker while benchmarks run; a 15-minute run over a live tree
would measure a mix of versions, or crash on a half-saved file. Every process of a run
(harness imports included) uses this copy, taken once at the start, checked to compile,
and identified by a content hash in the results.
"""

from __future__ import annotations

import compileall
import hashlib
import io
import shutil
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

from bench.harness import ROOT, log

PACKAGES = (
    "leadflow",
    "streams",
    "events",
    "projections",
    "dashboards",
    "gateway",
    "devtools",
    "bench",
    "config",
)
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "results", ".*")


class SnapshotError(RuntimeError):
    pass


def take(dest: Path, root: Path = ROOT, attempts: int = 6, wait: float = 10.0) -> dict[str, str]:
    """Copy the packages to `dest` until the copy compiles; return its hash and file count.

    A file caught mid-edit usually compiles a few seconds later, so a failing copy is
    retried before giving up with the compiler's message.
    """
    problem = ""
    for attempt in range(1, attempts + 1):
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        for name in PACKAGES:
            source = root / name
            if source.is_dir():
                shutil.copytree(source, dest / name, ignore=_IGNORE)
        output = io.StringIO()
        with redirect_stdout(output):
            ok = compileall.compile_dir(str(dest), quiet=1, force=True)
        if ok:
            return {"path": str(dest), "sha256": _digest(dest), "files": str(_count(dest))}
        problem = output.getvalue().strip()
        log(f"snapshot attempt {attempt}: the tree does not compile yet, retrying:\n{problem}")
        time.sleep(wait)
    raise SnapshotError(f"source tree does not compile after {attempts} attempts:\n{problem}")


def activate(dest: Path) -> None:
    """Make this process import the project from the snapshot (before any project import)."""
    already = [
        name for name in ("leadflow", "streams", "events", "projections") if name in sys.modules
    ]
    if already:
        raise SnapshotError(f"imported before the snapshot was activated: {already}")
    sys.path.insert(0, str(dest))


def _files(dest: Path) -> list[Path]:
    return sorted(p for p in dest.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def _count(dest: Path) -> int:
    return len(_files(dest))


def _digest(dest: Path) -> str:
    digest = hashlib.sha256()
    for path in _files(dest):
        if path.parts[len(dest.parts)] == "bench":
            continue  # the harness is not what is measured
        digest.update(str(path.relative_to(dest)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]
