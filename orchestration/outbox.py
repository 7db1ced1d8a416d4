"""The outbox relay and its publishers.

``OutboxRelay.run_once()`` reads unpublished outbox rows in outbox order, groups them by order
(messages of one order are delivered in order: a group stops at its first failure and the rest
of that order waits), hands the groups to a ``Publisher`` and records what was delivered; a
failed message is tried again after ``backoff_s * 2**attempts`` (capped). Rows are marked
published only after the publisher confirmed them, so a crash between the order write and the
publish loses nothing: the relay publishes the row after the restart (at least once; receivers
deduplicate on ``message_id``, which NATS JetStream also does within its duplicate window).

Publishers (one Protocol): ``WebhookPublisher`` (the embedded default: HTTP POST per message,
signed with HMAC-SHA256), ``EmailPublisher`` (SMTP, for ``email.notify``), ``RoutingPublisher``
(by system), and ``orchestration.nats.NatsPublisher`` (JetStream).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import smtplib
import threading
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from typing import Protocol

import httpx

from promessa.errors import ValidationError

from .records import Clock, Message
from .store import OrchestrationStore

#: Outcome of one group: how many of its messages (a prefix) were delivered, and the error that stopped it.
GroupResult = tuple[int, str | None]


class Publisher(Protocol):
    """Delivers groups of messages; within a group, in order, stopping at the first failure."""

    def publish(self, groups: Sequence[Sequence[Message]]) -> list[GroupResult]: ...
    def close(self) -> None: ...


@dataclasses.dataclass
class RelayReport:
    """One relay round: messages delivered, failed (to be retried), and held back behind an earlier one."""

    published: int = 0
    failed: int = 0
    held: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)


class OutboxRelay:
    """Publishes the store's outbox through ``publisher`` (run one relay per store).

    Parameters
    ----------
    store, publisher : where rows come from and where they go
    clock : the injected wall clock (published_at stamps, backoff deadlines)
    backoff_s, max_backoff_s : the first retry delay and its cap
    batch : rows read per round
    """

    def __init__(self, store: OrchestrationStore, publisher: Publisher, *, clock: Clock, backoff_s: float = 1.0,
                 max_backoff_s: float = 3600.0, batch: int = 1000) -> None:
        self.store, self.publisher, self.clock = store, publisher, clock
        self.backoff_s, self.max_backoff_s, self.batch = backoff_s, max_backoff_s, batch

    def _ready(self, rows: Sequence, now: dt.datetime, blocked: set[str], rep: RelayReport) -> list[list]:
        """Group rows by order, in order; an order stops at a row still backing off, and orders in ``blocked``
        (a failure or a wait earlier in this drain) send nothing. Adds newly blocked orders to ``blocked``."""
        groups: dict[str, list] = {}
        for p in rows:
            groups.setdefault(p.message.order_key, []).append(p)
        ready: list[list] = []
        for key, g in groups.items():
            take = []
            if key not in blocked:
                for p in g:
                    if p.next_attempt_at is not None and p.next_attempt_at > now:
                        break
                    take.append(p)
            if len(take) < len(g):
                blocked.add(key)
            rep.held += len(g) - len(take)
            if take:
                ready.append(take)
        return ready

    def _record(self, ready: list[list], results: list[GroupResult], now: dt.datetime, blocked: set[str], rep: RelayReport) -> None:
        done: list[int] = []
        for g, (n, err) in zip(ready, results):
            done.extend(p.message.seq for p in g[:n])
            if n < len(g):
                bad = g[n]
                blocked.add(bad.message.order_key)
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** bad.attempts)
                self.store.mark_failed(bad.message.seq, bad.attempts + 1, now + dt.timedelta(seconds=delay), err or "not delivered")
                rep.failed += 1
                rep.held += len(g) - n - 1
                rep.errors.append(f"{bad.message.kind} {bad.message.message_id}: {err}")
        self.store.mark_published(done, now)
        rep.published += len(done)

    def run_once(self) -> RelayReport:
        """One round over the first ``batch`` unpublished rows; returns what was delivered, failed and held back."""
        now = self.clock.now()
        rep = RelayReport()
        ready = self._ready(self.store.pending(limit=self.batch), now, set(), rep)
        if ready:
            self._record(ready, self.publisher.publish([[p.message for p in g] for g in ready]), now, set(), rep)
        return rep

    def drain(self, *, max_rounds: int = 1000) -> RelayReport:
        """Publish everything that can go now, in batches, overlapping the store's work with the publisher's: batch
        k+1 is read while batch k is published, and batch k is marked while batch k+1 is published. Batch k+1 is
        handed over only after batch k's results are known, and an order with a failure or a wait sends nothing
        more in this drain, so one order's messages stay in order. Returns the totals."""
        from concurrent.futures import ThreadPoolExecutor

        now = self.clock.now()
        rep = RelayReport()
        blocked: set[str] = set()
        rows = self.store.pending(limit=self.batch)
        cursor = rows[-1].message.seq if rows else 0
        ready = self._ready(rows, now, blocked, rep)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="promessa-relay") as pool:
            fut = pool.submit(self.publisher.publish, [[p.message for p in g] for g in ready]) if ready else None
            rounds = 0
            while fut is not None and rounds < max_rounds:
                rounds += 1
                nxt = self.store.pending(limit=self.batch, after_seq=cursor)      # read ahead while publishing
                if nxt:
                    cursor = nxt[-1].message.seq
                results = fut.result()
                cur, fut = ready, None
                cur_blocked = set(blocked)
                self._record_blocking(cur, results, cur_blocked)
                ready = self._ready(nxt, now, cur_blocked, rep)
                if ready:
                    fut = pool.submit(self.publisher.publish, [[p.message for p in g] for g in ready])
                self._record(cur, results, now, blocked, rep)                   # mark while the next batch publishes
                blocked |= cur_blocked
        return rep

    @staticmethod
    def _record_blocking(ready: list[list], results: list[GroupResult], blocked: set[str]) -> None:
        for g, (n, _) in zip(ready, results):
            if n < len(g):
                blocked.add(g[0].message.order_key)

    def run_forever(self, stop: threading.Event, *, interval_s: float = 0.2) -> None:
        """Rounds until ``stop`` is set, waiting ``interval_s`` when a round delivered nothing."""
        while not stop.is_set():
            if self.run_once().published == 0:
                stop.wait(interval_s)


# -- webhooks ------------------------------------------------------------------------------------

SIGNATURE_HEADER = "X-Promessa-Signature"
TIMESTAMP_HEADER = "X-Promessa-Timestamp"
MESSAGE_ID_HEADER = "X-Promessa-Message-Id"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``timestamp + "." + body`` with ``secret``."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, timestamp: str, body: bytes, signature: str, *, now: dt.datetime,
                     tolerance_s: float = 300.0) -> None:
    """Check a webhook signature and its freshness; ValidationError naming the header otherwise."""
    try:
        sent = float(timestamp)
    except (TypeError, ValueError):
        raise ValidationError("not an epoch timestamp", field=TIMESTAMP_HEADER, value=timestamp) from None
    if abs(now.timestamp() - sent) > tolerance_s:
        raise ValidationError(f"older or newer than {tolerance_s:.0f} s", field=TIMESTAMP_HEADER, value=timestamp,
                              hint="replayed or clock skew")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature or ""):
        raise ValidationError("signature does not match the body", field=SIGNATURE_HEADER, value=signature)


class WebhookPublisher:
    """POSTs each message's JSON envelope to its system's URL, signed (``X-Promessa-Signature``); a 2xx answer
    is a delivery. The relay retries the others with backoff.

    Parameters
    ----------
    endpoints : system -> URL
    secret : the shared HMAC key
    default_url : where systems without an endpoint go (None: they fail and wait)
    timeout_s : per request
    """

    def __init__(self, endpoints: Mapping[str, str], *, secret: bytes, default_url: str | None = None, timeout_s: float = 5.0,
                 clock: Clock | None = None) -> None:
        if not secret:
            raise ValidationError("webhooks need a signing secret", field="secret", value="")
        self.endpoints, self.secret, self.default_url = dict(endpoints), secret, default_url
        self.clock = clock
        self._client = httpx.Client(timeout=timeout_s)

    def _send(self, m: Message) -> str | None:
        url = self.endpoints.get(m.system, self.default_url)
        if url is None:
            return f"no webhook endpoint for system {m.system!r}"
        body = m.body()
        now = self.clock.now() if self.clock is not None else dt.datetime.now(dt.UTC)
        stamp = f"{now.timestamp():.3f}"
        try:
            r = self._client.post(url, content=body, headers={"Content-Type": "application/json", MESSAGE_ID_HEADER: m.message_id,
                                                              TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(self.secret, stamp, body)})
        except httpx.HTTPError as e:
            return f"{type(e).__name__}: {e}"
        return None if 200 <= r.status_code < 300 else f"HTTP {r.status_code}"

    def publish(self, groups: Sequence[Sequence[Message]]) -> list[GroupResult]:
        """Deliver each group in order, stopping a group at its first failure."""
        out = []
        for g in groups:
            n, err = 0, None
            for m in g:
                err = self._send(m)
                if err is not None:
                    break
                n += 1
            out.append((n, err))
        return out

    def close(self) -> None:
        self._client.close()


# -- e-mail --------------------------------------------------------------------------------------

class EmailPublisher:
    """Sends ``email.notify`` messages through SMTP (``to``, ``subject``, ``text`` from the payload)."""

    def __init__(self, *, host: str, port: int, sender: str, timeout_s: float = 10.0, starttls: bool = False,
                 login: tuple[str, str] | None = None) -> None:
        self.host, self.port, self.sender, self.timeout_s = host, port, sender, timeout_s
        self.starttls, self.login = starttls, login

    def publish(self, groups: Sequence[Sequence[Message]]) -> list[GroupResult]:
        """Send every message of every group over one SMTP session; a failure stops its group."""
        out: list[GroupResult] = []
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        except OSError as e:
            return [(0, f"SMTP {self.host}:{self.port}: {e}") for _ in groups]
        with smtp:
            if self.starttls:
                smtp.starttls()
            if self.login:
                smtp.login(*self.login)
            for g in groups:
                n, err = 0, None
                for m in g:
                    if m.kind != "email.notify":
                        err = f"not an e-mail: {m.kind}"
                        break
                    em = EmailMessage()
                    em["From"] = self.sender
                    em["To"] = ", ".join(m.payload["to"])
                    em["Subject"] = m.payload["subject"]
                    em["Message-ID"] = f"<{m.message_id}@promessa>"
                    em.set_content(m.payload["text"])
                    try:
                        smtp.send_message(em)
                    except smtplib.SMTPException as e:
                        err = f"{type(e).__name__}: {e}"
                        break
                    n += 1
                out.append((n, err))
        return out

    def close(self) -> None:
        pass


class RoutingPublisher:
    """Sends each message through the publisher of its system (``routes``), else ``default``.

    Groups whose messages all take one route are handed over together (the NATS publisher runs them
    concurrently); a group that mixes routes goes run by run, stopping at its first failure."""

    def __init__(self, routes: Mapping[str, Publisher], default: Publisher) -> None:
        self.routes, self.default = dict(routes), default

    def _route(self, m: Message) -> Publisher:
        return self.routes.get(m.system, self.default)

    def publish(self, groups: Sequence[Sequence[Message]]) -> list[GroupResult]:
        """Deliver the groups, each in order."""
        out: list[GroupResult | None] = [None] * len(groups)
        single: dict[int, list[int]] = {}
        pubs: dict[int, Publisher] = {}
        for i, g in enumerate(groups):
            ps = {id(self._route(m)) for m in g}
            if len(ps) == 1:
                p = self._route(g[0])
                pubs[id(p)] = p
                single.setdefault(id(p), []).append(i)
            else:
                n, err = 0, None
                k = 0
                while k < len(g):
                    p = self._route(g[k])
                    j = k
                    while j < len(g) and self._route(g[j]) is p:
                        j += 1
                    sent, err = p.publish([g[k:j]])[0]
                    n += sent
                    if err is not None:
                        break
                    k = j
                out[i] = (n, err)
        for pid, idx in single.items():
            for i, r in zip(idx, pubs[pid].publish([groups[i] for i in idx])):
                out[i] = r
        return [r if r is not None else (0, "not routed") for r in out]

    def close(self) -> None:
        for p in {id(p): p for p in [*self.routes.values(), self.default]}.values():
            p.close()


def receive_webhook(engine, body: bytes, headers: Mapping[str, str], *, secret: bytes, now: dt.datetime,
                    tolerance_s: float = 300.0):
    """An inbound status update by webhook: check its signature and freshness, then hand it to
    ``engine.receive`` (idempotent by message id). Returns the engine's Outcome; ValidationError names the
    header or field that is wrong."""
    from .records import InboundUpdate

    verify_signature(secret, headers.get(TIMESTAMP_HEADER, ""), body, headers.get(SIGNATURE_HEADER, ""), now=now,
                     tolerance_s=tolerance_s)
    return engine.receive(InboundUpdate.from_json(body))


def envelope(body: bytes) -> dict:
    """Parse a published envelope (for receivers and tests)."""
    return json.loads(body)
