"""The delivery worker's write-ahead journal of outcomes: each send's outcome is appended here (one
JSON line, fsync'd) before it is written to the database, and the journal is replayed before the
worker's first claim. A process that dies after a receiver accepted a message but before the
outcome's commit therefore does not send it again: its successor writes the outcome instead.

Small on purpose: the file is emptied whenever every outcome in it has been committed (and after
a replay), so it holds only what is in flight."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path
from typing import Any

from shared.logging import get_logger

log = get_logger("notifications.delivery")

FILE_NAME = "delivery-outcomes.jsonl"
COMPACT_AT_BYTES = 64 * 1024  # emptied when settled and at least this big (each emptying is an fsync)


class Journal:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / FILE_NAME
        self._lock = threading.Lock()
        self._unsettled = 0  # entries appended whose outcome is not committed yet

    async def append(self, entry: dict[str, Any]) -> None:
        line = (json.dumps(entry, separators=(",", ":"), default=str) + "\n").encode()
        await asyncio.to_thread(self._append, line)

    def _append(self, line: bytes) -> None:
        with self._lock:
            # O_APPEND, one write per line, fsync before the database is touched.
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            self._unsettled += 1

    async def settle(self) -> None:
        """One appended outcome is committed; with none left in flight, the file may be emptied."""
        await asyncio.to_thread(self._settle)

    def _settle(self) -> None:
        with self._lock:
            self._unsettled = max(0, self._unsettled - 1)
            if self._unsettled == 0 and self.path.exists() and self.path.stat().st_size >= COMPACT_AT_BYTES:
                self._truncate()

    def entries(self) -> list[dict[str, Any]]:
        """What a previous process left, oldest first. A torn last line (a crash mid-write: its send
        had not been recorded as done anyway) is logged and left out."""
        if not self.path.exists():
            return []
        found = []
        for number, line in enumerate(self.path.read_bytes().splitlines(), 1):
            try:
                found.append(json.loads(line))
            except ValueError:
                log.warning("delivery journal: an unreadable line left out", path=str(self.path), line=number)
        return found

    async def clear(self) -> None:
        """After a replay: everything in the file is committed."""
        await asyncio.to_thread(self._clear)

    def _clear(self) -> None:
        with self._lock:
            self._truncate()
            self._unsettled = 0

    def _truncate(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
