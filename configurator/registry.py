"""Interactive sessions by id, bounded in number and in idle time.

A configuration page (or any API client) opens a `Session` and then sends one choice at a time;
the server keeps the session between requests under a random id. Sessions are UI state, not
business records: they are held in memory only (a restart forgets them; the client starts a new
one), and two limits keep them from growing without end:

- ``ttl_s``: a session not used for that many seconds expires (the next request for it is a 404
  saying it expired or never existed). Idle time is measured on the process's monotonic clock:
  it is the time a person leaves a page open, not a business date, so the business clock (the
  snapshot's as_of day) plays no part here.
- ``max_sessions``: when a new session would exceed the limit, the least recently used one is
  dropped first (after the expired ones).

Every request on one session runs under that session's lock (`SessionRegistry.use`), so two
taps arriving together are applied one after the other; different sessions do not wait for each
other.
"""

from __future__ import annotations

import collections
import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator

from configurator.compile import Compiled
from configurator.session import Session
from promessa.errors import NotFoundError, ValidationError


class _Entry:
    __slots__ = ("session", "lock", "used", "on")

    def __init__(self, session: Session, used: float, on) -> None:
        self.session = session
        self.lock = threading.Lock()
        self.used = used
        self.on = on


class SessionRegistry:
    """Sessions by id, at most `max_sessions`, each expiring `ttl_s` seconds after its last use.

    Parameters
    ----------
    max_sessions : most sessions kept at once (the least recently used goes first).
    ttl_s : idle seconds after which a session expires.
    clock : seconds on a monotonic clock (tests pass their own).
    """

    def __init__(self, *, max_sessions: int = 1000, ttl_s: float = 3600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_sessions < 1:
            raise ValidationError("must be at least 1", field="max_sessions", value=max_sessions)
        if ttl_s <= 0:
            raise ValidationError("must be positive", field="session_ttl_s", value=ttl_s)
        self.max_sessions = max_sessions
        self.ttl_s = ttl_s
        self.clock = clock
        self._entries: collections.OrderedDict[str, _Entry] = collections.OrderedDict()  # least recently used first
        self._lock = threading.Lock()
        self.expired = 0   # counters, for health and tests
        self.evicted = 0

    def __len__(self) -> int:
        with self._lock:
            self._expire(self.clock())
            return len(self._entries)

    def _expire(self, now: float) -> None:
        while self._entries:
            sid, e = next(iter(self._entries.items()))
            if now - e.used < self.ttl_s:
                break
            del self._entries[sid]
            self.expired += 1

    def create(self, compiled: Compiled, choices: dict[str, str] | None = None, *, on=None) -> Session:
        """Open a session on `compiled` with the initial `choices` (each checked like a tap: an excluded
        value is refused with the rules responsible), keep it under a new random id and return it.
        `on` is the business day the model version was picked for (shown back to the client)."""
        return self.add(Session(compiled, choices), on=on)

    def add(self, session: Session, *, on=None) -> Session:
        """Keep `session` under a new random id (set as ``session.id``) and return it."""
        sid = secrets.token_urlsafe(12)
        session.id = sid
        with self._lock:
            now = self.clock()
            self._expire(now)
            while len(self._entries) >= self.max_sessions:
                self._entries.popitem(last=False)
                self.evicted += 1
            self._entries[sid] = _Entry(session, now, on)
        return session

    def _entry(self, sid: str) -> _Entry:
        with self._lock:
            now = self.clock()
            self._expire(now)
            e = self._entries.get(sid)
            if e is None:
                raise NotFoundError(f"no configuration session {sid!r} (it expired after {self.ttl_s:g} s idle, was "
                                    "dropped for newer ones, or never existed)", hint="start a new session")
            e.used = now
            self._entries.move_to_end(sid)
            return e

    def get(self, sid: str) -> Session:
        """The session `sid` (its idle time starts again); NotFoundError when unknown or expired."""
        return self._entry(sid).session

    def on(self, sid: str):
        """The business day the session's model version was picked for."""
        return self._entry(sid).on

    @contextlib.contextmanager
    def use(self, sid: str) -> Iterator[Session]:
        """The session `sid` under its own lock, for one request that reads or changes it."""
        e = self._entry(sid)
        with e.lock:
            yield e.session

    def drop(self, sid: str) -> bool:
        """Forget session `sid`; True when it was kept."""
        with self._lock:
            return self._entries.pop(sid, None) is not None
