"""The delivery worker's write-ahead journal of outcomes: each send's outcome is appended here (one
JSON line, fsync'd) before it is written to the database, and the journal is replayed before the
worker's first claim. A process that dies after a receiver accepted a message but before the
outcome's commit therefore does not send it again: its successor writes the outcome instead.

The line is written the moment the send returns, before anything else is awaited: once written it is
in the operating system's cache, which a killed process does not take with it, so the window a
`kill -9` can hit is that of a few instructions. The fsync (for a crash of the whole machine) comes
after, shared: one fsync covers every line written before it began (group commit).

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
        self._written = 0  # lines written, and how many of them an fsync has covered
        self._synced = 0
        self._syncing = asyncio.Lock()

    async def append(self, entry: dict[str, Any]) -> None:
        """Written at once (no await before the write), then durable once this returns."""
        await self.durable(self.write(entry))

    def write(self, entry: dict[str, Any]) -> int:
        """In the file (the system's cache) when this returns; the number to wait `durable` for."""
        line = (json.dumps(entry, separators=(",", ":"), default=str) + "\n").encode()
        with self._lock:
            # O_APPEND, one write per line: lines from concurrent sends never interleave.
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
            self._unsettled += 1
            self._written += 1
            return self._written

    async def durable(self, line: int) -> None:
        """Until an fsync has covered the `line`-th line written."""
        async with self._syncing:
            if self._synced >= line:
                return  # the fsync that ran while this one waited covered it
            covers = self._written
            await asyncio.to_thread(self._fsync)
            self._synced = max(self._synced, covers)

    def _fsync(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

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
