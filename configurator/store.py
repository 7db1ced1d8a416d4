"""Durable model versions: the documents posted through the API, one JSON file per version.

A version posted through the API must survive a restart. `ModelStore` keeps each one as
``<directory>/<name>@<version>.json`` (name and version percent-encoded) holding the document as
posted plus who posted it and when::

    {"model": {...the model document...}, "posted_by": "planner:1a2b3c4d5e6f", "posted_at": "2026-...Z"}

A file is written to a temporary name, flushed to disk (fsync) and renamed into place, and the
directory is synced, so a crash leaves either the whole file or none. At start-up `load` reads
them back in name order; every document is validated again by the caller (`parse_model`) like a
fresh upload. Versions are never changed in place: a new version is a new file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

SUFFIX = ".json"


def _part(text: str) -> str:
    return urllib.parse.quote(text, safe="-_.")


class ModelStore:
    """Model documents posted through the API, as files under `directory` (created on first write)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def path_for(self, name: str, version: str) -> Path:
        """The file of version `version` of model `name`."""
        return self.directory / f"{_part(name)}@{_part(version)}{SUFFIX}"

    def save(self, doc: Mapping[str, Any], *, name: str, version: str, actor: str | None = None) -> Path:
        """Write `doc` (the model document as posted) durably as version `version` of `name`; returns the file.
        A file already there for that version is refused (versions are never changed in place)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path_for(name, version)
        if path.exists():
            raise FileExistsError(path)
        record = {"model": dict(doc), "posted_by": actor,
                  "posted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")}
        data = json.dumps(record, indent=1, sort_keys=False, default=str).encode("utf-8")
        fd, tmp = tempfile.mkstemp(prefix=".upload-", suffix=SUFFIX, dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.link(tmp, path)  # fails if another writer got there first; never overwrites
        finally:
            os.unlink(tmp)
        self._sync_dir()
        return path

    def remove(self, name: str, version: str) -> None:
        """Delete the file of a version (undoing a save whose upload failed afterwards)."""
        self.path_for(name, version).unlink(missing_ok=True)
        self._sync_dir()

    def _sync_dir(self) -> None:
        try:
            fd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def load(self) -> list[tuple[Path, dict[str, Any]]]:
        """Every stored record ``(file, {"model", "posted_by", "posted_at"})`` in file-name order; a missing
        directory holds none. A file that is not such a record raises ``ValueError`` naming it."""
        if not self.directory.is_dir():
            return []
        out = []
        for p in sorted(self.directory.glob(f"*{SUFFIX}")):
            if p.name.startswith("."):
                continue
            try:
                record = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ValueError(f"{p}: not a stored model ({exc})") from None
            if not isinstance(record, dict) or not isinstance(record.get("model"), dict):
                raise ValueError(f"{p}: not a stored model (no 'model' document)")
            out.append((p, record))
        return out
