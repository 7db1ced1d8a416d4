"""The configurator as a running service: model versions (files and durable uploads) and sessions by id.

`Configurator.open(settings)` builds it once per engine (``promessa.app.Engine.open``):

- the **library** (`ModelLibrary`) holds every version of every model: the packaged examples
  (``settings.configurator.example_models``), the files named in ``model_files`` (a bad file stops the
  start, naming the file and the field), and the versions posted through the API;
- posted versions are **durable**: `upload` validates the document (`parse_model`, field paths that
  name the rule), refuses a version number used twice or a validity period that overlaps another
  version, compiles it (a contradictory model is refused with a minimal set of rules), writes it to
  the `ModelStore` (fsync) and only then serves it. At start-up the stored versions are read back and
  validated again; one that no longer loads is left out and reported in `problems` (and the log);
- **sessions** (`SessionRegistry`) are UI state kept in memory by id, bounded in number and idle time.

It imports neither the order book nor the API; the API passes the business day, the snapshot and its
state, and the price book in.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from configurator.compile import compile_model
from configurator.model import EXAMPLES, Model, ModelLibrary, load_model, parse_model
from configurator.registry import SessionRegistry
from configurator.store import ModelStore
from promessa.errors import NotFoundError, ValidationError

log = logging.getLogger("promessa.configurator")


def models_dir_for(settings) -> Path:
    """Where posted model versions are kept: ``settings.configurator.models_dir``; by default
    ``configurator-models`` beside a SQLite order book, ``var/configurator-models`` with PostgreSQL."""
    cfg = settings.configurator
    if cfg.models_dir is not None:
        return Path(cfg.models_dir)
    url = settings.store.url
    if "://" in url:
        return Path("var") / "configurator-models"
    return Path(url).resolve().parent / "configurator-models"


def example_files() -> list[Path]:
    """The packaged example models (``configurator/examples/*.yaml``)."""
    return sorted(EXAMPLES.glob("*.yaml"))


class Configurator:
    """Model versions and sessions (see the module docstring).

    Parameters
    ----------
    library : the versions served.
    store : where posted versions are written (None: uploads are refused).
    sessions : the session registry.
    """

    def __init__(self, *, library: ModelLibrary | None = None, store: ModelStore | None = None,
                 sessions: SessionRegistry | None = None) -> None:
        self.library = library if library is not None else ModelLibrary()
        self.store = store
        self.sessions = sessions if sessions is not None else SessionRegistry()  # (an empty one is falsy)
        self.sources: dict[tuple[str, str], dict[str, Any]] = {}
        self.problems: list[str] = []
        self._upload_lock = threading.Lock()

    @classmethod
    def open(cls, settings) -> Configurator:
        """Build the configurator from ``settings.configurator`` (and ``settings.store.url`` for the default models
        directory): load the example and configured model files, then the versions posted earlier."""
        cfg = settings.configurator
        out = cls(store=ModelStore(models_dir_for(settings)),
                  sessions=SessionRegistry(max_sessions=cfg.max_sessions, ttl_s=cfg.session_ttl_s))
        files = [*(example_files() if cfg.example_models else ()), *cfg.model_files]
        for f in files:
            m = load_model(f)
            try:
                out.library.add(m)
            except ValidationError as exc:
                raise ValidationError(f"{f}: {exc.message}", field=exc.field, value=exc.value, hint=exc.hint) from None
            out.sources[(m.name, m.version)] = {"source": "file", "file": str(f)}
        for path, record in out.store.load():
            try:
                m = parse_model(record["model"], source=str(path))
                out.library.add(m)
            except ValidationError as exc:
                msg = f"{path}: stored model left out: {exc}"
                out.problems.append(msg)
                log.error("%s", msg)
                continue
            out.sources[(m.name, m.version)] = {"source": "api", "posted_by": record.get("posted_by"),
                                                "posted_at": record.get("posted_at")}
        return out

    # ------------------------------------------------------------------ models
    def describe(self, m: Model, *, compiled: bool = False) -> dict[str, Any]:
        """A version as the API shows it: name, version, validity, size, where it came from; with `compiled`
        also the number of valid configurations and the diagram size (compiling it on first use)."""
        out: dict[str, Any] = {
            "name": m.name, "version": m.version, "item": m.configured_item, "currency": m.currency,
            "effective_from": m.effective_from.isoformat() if m.effective_from else None,
            "effective_to": m.effective_to.isoformat() if m.effective_to else None,
            "variables": len(m.variables), "rules": len(m.rules), "build_location": m.build_location,
            **self.sources.get((m.name, m.version), {"source": "code"}),
        }
        if compiled:
            c = self.library.compiled_of(m)
            out.update(configurations=c.count(), diagram_nodes=c.n_nodes, compile_seconds=round(c.compile_seconds, 3))
        return out

    def models(self) -> list[dict[str, Any]]:
        """Every version of every model, by name then validity."""
        return [self.describe(m) for name in self.library.names() for m in self.library.versions(name)]

    def model(self, name: str, on: dt.date, *, version: str | None = None) -> Model:
        """The version of `name` in force on `on` (or the given `version`); NotFoundError for an unknown model."""
        if name not in self.library.names():
            raise NotFoundError(f"no configuration model {name!r}", hint="GET /v1/configurator/models lists them")
        return self.library.version(name, version) if version is not None else self.library.effective(name, on)

    def upload(self, doc: Mapping[str, Any], *, actor: str | None = None) -> Model:
        """Validate, compile and durably store a new model version posted through the API; returns it.

        Refused (nothing stored) with a ValidationError whose field names the rule and the value, with an
        InfeasibleError naming a minimal set of contradictory rules, or a ValidationError on ``version`` /
        ``effective_from`` when the version exists or overlaps another."""
        if self.store is None:
            raise ValidationError("this configurator keeps no posted models (no models directory)", field="body", value=None)
        try:
            model = parse_model(doc, source="body")
        except (TypeError, AttributeError, KeyError, ValueError) as exc:  # a shape parse_model does not name yet
            raise ValidationError(f"malformed model document ({type(exc).__name__}: {exc})", field="body", value=None,
                                  hint="see configurator/README.md for the model format") from None
        with self._upload_lock:
            self.library.check_new(model)
            compiled = compile_model(model)
            try:
                self.store.save(doc, name=model.name, version=model.version, actor=actor)
            except FileExistsError:
                raise ValidationError("version already exists (stored)", field="version", value=model.version) from None
            try:
                self.library.add(model, compiled=compiled)
            except BaseException:
                self.store.remove(model.name, model.version)
                raise
            self.sources[(model.name, model.version)] = {
                "source": "api", "posted_by": actor,
                "posted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")}
        return model

    # ------------------------------------------------------------------ sessions
    def start(self, name: str, on: dt.date, *, version: str | None = None, choices: Mapping[str, str] | None = None):
        """Open a session on the version of `name` in force on `on` (or `version`) with the initial `choices`;
        returns the `Session` (its ``id`` set)."""
        m = self.model(name, on, version=version)
        return self.sessions.create(self.library.compiled_of(m), dict(choices or {}), on=on)
