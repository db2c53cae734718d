"""Reading wandb's offline run files back, so tests check what a later `wandb sync` would upload.

An offline run is a file ``run-<id>.wandb`` under ``offline-run-*``: wandb's transaction log (a
7-byte header, then 32 KiB blocks of records, each with a 7-byte header: checksum, length, and
whether the record is whole or a first, middle or last piece) of protobuf ``Record`` messages.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2

HEADER, RECORD_HEADER, BLOCK = 7, 7, 32768
WHOLE, FIRST, MIDDLE, LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    """What one offline run file holds: the run's identity and every summary and history value (JSON-decoded; a
    nested value's keys joined by "/")."""

    run_id: str = ""
    project: str = ""
    group: str = ""
    job_type: str = ""
    name: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)
    folder: Path = Path()

    def table_columns(self, key: str) -> list[str]:
        """The columns of the wandb.Table logged under ``key`` (its JSON file among the run's files)."""
        assert self.history[f"{key}/_type"] == "table-file"
        path = self.history[f"{key}/path"]
        return list(json.loads((self.folder / "files" / path).read_text())["columns"])


def _records(raw: bytes):
    position, pending = HEADER, b""
    while position + RECORD_HEADER <= len(raw):
        left = BLOCK - position % BLOCK
        _, length, kind = struct.unpack("<IHB", raw[position:position + RECORD_HEADER])
        if left < RECORD_HEADER or (length == 0 and kind == 0):
            position += left  # the rest of a block too short for a record is padding
            continue
        data = raw[position + RECORD_HEADER:position + RECORD_HEADER + length]
        position += RECORD_HEADER + length
        if kind == WHOLE:
            yield data
        elif kind == FIRST:
            pending = data
        elif kind == MIDDLE:
            pending += data
        elif kind == LAST:
            yield pending + data


def _key(item: Any) -> str:
    return item.key or "/".join(item.nested_key)


def read_offline_run(path: Path) -> OfflineRun:
    run = OfflineRun(folder=path.parent)
    for data in _records(path.read_bytes()):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            info = record.run
            run.run_id, run.project, run.group, run.job_type, run.name = (
                info.run_id, info.project, info.run_group, info.job_type, info.display_name)
        elif kind == "summary":
            run.summary.update({_key(item): json.loads(item.value_json) for item in record.summary.update})
        elif kind == "history":
            run.history.update({_key(item): json.loads(item.value_json) for item in record.history.item})
    return run


def offline_runs(folder: Path) -> list[OfflineRun]:
    """Every offline run under ``folder`` (in folder-name order: runs started within one second sort by id)."""
    return [read_offline_run(path) for path in sorted(folder.rglob("offline-run-*/run-*.wandb"))]
