"""The bounded engine's spill folders: made per run, and left-overs of dead processes removed."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from perflaw.errors import FileError
from perflaw.files import os_error_message

#: Spill folders are named ``perflaw-spill-<pid>-XXXX``: a folder left by a process that
#: no longer exists (kill -9) is removed by the next bounded run in the same place.
SPILL_PREFIX = "perflaw-spill-"


def _spill_folder(spill_dir) -> Path:
    base = Path(spill_dir) if spill_dir is not None else Path(tempfile.gettempdir())
    _remove_stale_spills(base)
    try:
        return Path(tempfile.mkdtemp(prefix=f"{SPILL_PREFIX}{os.getpid()}-", dir=base))
    except OSError as exc:
        raise FileError(
            os_error_message(exc, base, action="create a spill folder in")
            + "; choose another --spill-dir"
        ) from None


def _remove_stale_spills(base: Path) -> None:
    """Remove spill folders of processes that are gone (a live or reused pid is left)."""
    try:
        entries = list(base.glob(f"{SPILL_PREFIX}*"))
    except OSError:
        return
    for folder in entries:
        match = re.match(rf"{SPILL_PREFIX}(\d+)-", folder.name)
        if not match or not folder.is_dir() or int(match.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:  # alive under another user, or unknown: leave it
            continue
