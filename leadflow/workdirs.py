"""Creating the directories a long-running command writes to, with a clear error."""

from __future__ import annotations

import os
from pathlib import Path

from leadflow.errors import UserError


def ensure_data_dir(path: Path, setting: str = "LEADFLOW_DATA_DIR") -> Path:
    """Create `path` and its parents; a UserError naming `setting` if that is impossible."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(
            f"cannot create the data directory {path} ({error.strerror}); set {setting}"
        ) from error
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"the data directory {path} is not writable; set {setting}")
    return path
