"""Atomic file writes: a reader never sees half a file (temporary file in the same folder + rename)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: Path, data: bytes, *, sync: bool = True) -> Path:
    """Write `data` to `path` through a temporary file and a rename: a reader (or a process killed mid-write) sees
    the old file or the new one, never part of one. With `sync` (the default) the data reach the disk before the
    rename, so the new file survives the machine failing too; without it a write costs no disk wait (what is
    written every epoch, beside Keras' own backups, which are not synced either)."""
    import tempfile  # here: a listing of runs that writes nothing does not import it (nor shutil, zlib...)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` through a temporary file and a rename."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")
