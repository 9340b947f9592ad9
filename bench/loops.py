"""Which event loop the worker runs, so the baselines run the same one.

Checked at run time, because the worker's loop is one of the things being optimised:
the source of the worker entry points says whether it asks for uvloop, and a running
worker's memory map says whether uvloop was really loaded (reported next to it).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from bench.harness import source_root

WORKER_SOURCES = (
    "leadflow/worker.py",
    "leadflow/event_loop.py",
    "streams/app.py",
    "streams/__init__.py",
)
_UVLOOP = re.compile(r"^\s*(import uvloop|from uvloop|.*uvloop\.|.*['\"]uvloop['\"])", re.M)


def worker_wants_uvloop(root: Path | None = None) -> tuple[bool, list[str]]:
    """(uses uvloop, files that mention it in code) from the worker's entry points."""
    root = root or source_root()
    found = []
    for name in WORKER_SOURCES:
        path = root / name
        try:
            text = path.read_text()
        except OSError:
            continue
        # Comments mentioning uvloop do not make the worker use it.
        code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
        if _UVLOOP.search(code):
            found.append(name)
    # Source that can use uvloop may make it a setting: then its default decides, as the
    # harness starts workers with no LEADFLOW_* overrides.
    try:
        from streams.settings import WorkerSettings

        setting = WorkerSettings.model_fields.get("uvloop")
    except Exception:  # an unimportable tree fails later with a clearer message
        setting = None
    if found and setting is not None:
        return bool(setting.default), [*found, f"WorkerSettings.uvloop default {setting.default}"]
    return bool(found), found


def loop_name(use_uvloop: bool) -> str:
    return "uvloop" if use_uvloop else "asyncio"


def install(use_uvloop: bool) -> str:
    """Set the loop policy in a child process; return the loop class actually in use."""
    if use_uvloop:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return f"{type(loop).__module__}.{type(loop).__name__}"
