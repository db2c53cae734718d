"""Write-then-rename: a file or folder is either absent, its old version, or complete, whenever a process dies."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TEMPORARY_SUFFIX = re.compile(r"^\..+\.tmp-(\d+)$")


def temporary_sibling(path: Path) -> Path:
    """A hidden name next to ``path``, unique to this process, on the same file system (so the rename is atomic)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write a file or folder into; on success it is renamed over ``path``.

    On any error the temporary is removed and ``path`` is left as it was.
    """
    target = Path(path)
    temporary = temporary_sibling(target)
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        if temporary.is_dir():
            shutil.rmtree(temporary, ignore_errors=True)
        else:
            temporary.unlink(missing_ok=True)


def write_text_atomically(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def write_json_atomically(path: str | os.PathLike[str], payload: Any, indent: int | None = 2) -> None:
    write_text_atomically(path, json.dumps(payload, indent=indent) + "\n")


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporaries that processes no longer alive left in ``folder`` (killed mid-write); returns them."""
    removed = []
    for path in Path(folder).iterdir():
        match = TEMPORARY_SUFFIX.match(path.name)
        if match is None or _alive(int(match.group(1))):
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True
