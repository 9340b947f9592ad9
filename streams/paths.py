"""Where Leadflow keeps files by default: per user, whatever the working directory."""

from __future__ import annotations

import os
from pathlib import Path


def user_data_dir() -> Path:
    """`$XDG_DATA_HOME/leadflow`, else `~/.local/share/leadflow` (the XDG default)."""
    base = os.environ.get("XDG_DATA_HOME")
    # The XDG spec says a relative $XDG_DATA_HOME is invalid and must be ignored.
    if base and Path(base).is_absolute():
        return Path(base) / "leadflow"
    return Path.home() / ".local" / "share" / "leadflow"
