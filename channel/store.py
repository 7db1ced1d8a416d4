"""Where the channel journal lives: a ``JournalStore`` appends batches of records (dicts) and loads them back.

``MemoryJournal`` keeps them in a list (tests, what-ifs); ``SqliteJournal`` keeps them in a
SQLite file (stdlib ``sqlite3``, WAL, ``synchronous=FULL``, one transaction per batch), so a
batch is on disk before ``append`` returns. The order book's own store can take this role by
implementing the same two methods.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class JournalStore(Protocol):
    """An append-only journal of records (JSON-able dicts)."""

    def append(self, records: Sequence[dict[str, Any]]) -> None:
        """Store the records as one batch, all or none, durably before returning."""

    def load(self) -> list[dict[str, Any]]:
        """Every record in append order."""


class MemoryJournal:
    """A journal in memory (records are copied through JSON, as a durable store would)."""

    def __init__(self) -> None:
        self._rows: list[str] = []

    def append(self, records: Sequence[dict[str, Any]]) -> None:
        """Append the batch."""
        self._rows.extend(json.dumps(r, sort_keys=True) for r in records)

    def load(self) -> list[dict[str, Any]]:
        """Every record in append order."""
        return [json.loads(r) for r in self._rows]

    def __len__(self) -> int:
        return len(self._rows)


class SqliteJournal:
    """A journal in a SQLite file: table ``channel_journal(seq, type, body)``; WAL, ``synchronous=FULL``."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS channel_journal "
                         "(seq INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, body TEXT NOT NULL)")

    def append(self, records: Sequence[dict[str, Any]]) -> None:
        """Append the batch in one transaction (committed, hence on disk, when this returns)."""
        rows = [(str(r.get("type")), json.dumps(r, sort_keys=True)) for r in records]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT INTO channel_journal (type, body) VALUES (?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def load(self) -> list[dict[str, Any]]:
        """Every record in append order."""
        with self._lock:
            cur = self._db.execute("SELECT body FROM channel_journal ORDER BY seq")
            return [json.loads(b) for (b,) in cur.fetchall()]

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()
