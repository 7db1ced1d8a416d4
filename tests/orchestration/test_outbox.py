"""The outbox relay over signed webhooks (the embedded default), the inbound webhook, e-mail through SMTP,
and a process killed with SIGKILL between the order write and the publish."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestration import (
    EmailPublisher,
    NotificationRule,
    OrderEvent,
    Orchestrator,
    OutboxRelay,
    RoutingPublisher,
    SqliteStore,
    WebhookPublisher,
    ready_catalog,
    sign,
)
from orchestration.outbox import SIGNATURE_HEADER, TIMESTAMP_HEADER, receive_webhook
from orchestration.testing import ManualClock, WebhookReceiver
from promessa.errors import ValidationError

SECRET = b"s3cret"
ROOT = Path(__file__).resolve().parents[2]


def ev(kind, order, clock, **kw):
    return OrderEvent(kind=kind, order=order, at=clock.now(), **kw)


def test_webhooks_deliver_signed_in_order_and_retry_with_backoff(store, clock):
    """O1 and O2 each have two messages (order.status, then shipping.request). The receiver answers 503 three
    times. Round 1: O1's first and O2's first fail; their second ones are held behind them. Before the 1 s
    backoff nothing is tried. After it: O1 fails again (its wait doubles to 2 s) and O2's two are delivered.
    After 2 s more, O1's two arrive, in order. Every delivery carries a valid HMAC-SHA256 signature."""
    eng = Orchestrator(ready_catalog(), store, clock=clock)
    for o in ("O1", "O2"):
        eng.handle(ev("captured", o, clock))
        eng.handle(ev("scheduled", o, clock))
    with WebhookReceiver(secret=SECRET, fail_first=3) as rx:
        pub = WebhookPublisher({}, secret=SECRET, default_url=rx.url, clock=clock)
        relay = OutboxRelay(store, pub, clock=clock, backoff_s=1.0)
        r = relay.run_once()
        assert (r.published, r.failed, r.held) == (0, 2, 2)
        r = relay.run_once()
        assert (r.published, r.failed, r.held) == (0, 0, 4)          # backing off
        clock.advance(seconds=1)
        r = relay.run_once()
        assert (r.published, r.failed, r.held) == (2, 1, 1)
        assert [(e["order"], e["kind"]) for e in rx.received] == [("O2", "order.status"), ("O2", "shipping.request")]
        clock.advance(seconds=1.5)
        assert relay.run_once().published == 0
        clock.advance(seconds=0.5)
        assert relay.run_once().published == 2
        assert [(e["order"], e["kind"]) for e in rx.received][2:] == [("O1", "order.status"), ("O1", "shipping.request")]
        assert rx.bad_signatures == 0 and rx.requests == 7
        assert store.pending() == []
        pub.close()


def test_a_wrong_secret_is_refused_by_the_receiver(sqlite_store, clock):
    eng = Orchestrator(ready_catalog(), sqlite_store, clock=clock)
    eng.handle(ev("captured", "O3", clock))
    eng.handle(ev("scheduled", "O3", clock))
    with WebhookReceiver(secret=SECRET) as rx:
        relay = OutboxRelay(sqlite_store, WebhookPublisher({}, secret=b"wrong", default_url=rx.url), clock=clock)
        r = relay.run_once()
        assert r.published == 0 and r.failed == 1 and rx.bad_signatures == 1 and "HTTP 401" in r.errors[0]


def test_inbound_webhook_is_verified_and_a_duplicate_changes_nothing(sqlite_store, clock):
    eng = Orchestrator(ready_catalog(), sqlite_store, clock=clock)
    eng.handle(ev("captured", "O4", clock, attrs={"item_kind": "dropship"}))
    eng.handle(ev("scheduled", "O4", clock))
    body = json.dumps({"message_id": "sup-1", "system": "supplier", "event": "po.ack", "order": "O4",
                       "at": clock.now().isoformat()}).encode()
    stamp = f"{clock.now().timestamp():.3f}"
    headers = {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign(SECRET, stamp, body)}
    with pytest.raises(ValidationError) as e:
        receive_webhook(eng, body, {**headers, SIGNATURE_HEADER: "sha256=00"}, secret=SECRET, now=clock.now())
    assert e.value.field == SIGNATURE_HEADER
    with pytest.raises(ValidationError) as e:
        receive_webhook(eng, body, headers, secret=SECRET, now=clock.now() + dt.timedelta(hours=1))
    assert e.value.field == TIMESTAMP_HEADER
    assert receive_webhook(eng, body, headers, secret=SECRET, now=clock.now()).instances[0].step == "supplier-ship"
    before = sqlite_store.instances_of("O4")[0]
    assert receive_webhook(eng, body, headers, secret=SECRET, now=clock.now()).duplicate
    assert sqlite_store.instances_of("O4")[0] == before


def test_email_notifications_through_smtp(sqlite_store, clock):
    """The customer and the planners are told when O5 ships: one e-mail through a local SMTP server with both
    addresses; the other messages go to the webhook."""
    from aiosmtpd.controller import Controller

    class Sink:
        def __init__(self):
            self.mails = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content.decode()))
            return "250 OK"

    sink = Sink()
    import socket

    with socket.socket() as sk:                       # a free loopback port for the server
        sk.bind(("127.0.0.1", 0))
        port = sk.getsockname()[1]
    ctl = Controller(sink, hostname="127.0.0.1", port=port, ready_timeout=5)
    ctl.start()
    try:
        eng = Orchestrator(ready_catalog(), sqlite_store, clock=clock, notifications=[
            NotificationRule(on=frozenset({"shipped"}), to=("customer", "planners@example.com"), subject="Order {order} has shipped")])
        eng.handle(ev("captured", "O5", clock, attrs={"email": "eve@example.com"}))
        for k in ("scheduled", "released", "packed", "shipped"):
            eng.handle(ev(k, "O5", clock))
        with WebhookReceiver(secret=SECRET) as rx:
            pub = RoutingPublisher({"email": EmailPublisher(host="127.0.0.1", port=port, sender="promessa@example.com")},
                                   WebhookPublisher({}, secret=SECRET, default_url=rx.url))
            rep = OutboxRelay(sqlite_store, pub, clock=clock).drain()
            assert rep.failed == 0
            assert "email.notify" not in [e["kind"] for e in rx.received]
        [(frm, to, content)] = sink.mails
        assert frm == "promessa@example.com" and to == ["eve@example.com", "planners@example.com"]
        assert "Subject: Order O5 has shipped" in content
    finally:
        ctl.stop()


CHILD = textwrap.dedent("""
    import os, signal, sys, datetime as dt
    sys.path.insert(0, {root!r})
    from orchestration import Orchestrator, OrderEvent, SqliteStore, ready_catalog
    from orchestration.testing import ManualClock
    clock = ManualClock()
    eng = Orchestrator(ready_catalog(), SqliteStore({path!r}), clock=clock)
    for k in ("captured", "scheduled", "released", "packed", "shipped"):
        eng.handle(OrderEvent(kind=k, order="K1", at=clock.now()))
    print("written", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)     # between the state write and any publish
""")


def run_killed_child(path: Path) -> None:
    p = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT), path=str(path))], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == -signal.SIGKILL, p.stderr
    assert p.stdout.strip() == "written"


@pytest.mark.slow
def test_kill_9_between_write_and_publish_loses_no_message_webhook(tmp_path):
    """A process writes K1's order changes (4 steps completed, a shipping request, an invoice request) and is
    killed with SIGKILL before publishing. After the restart the relay delivers all 6 messages, in order."""
    path = tmp_path / "k.sqlite"
    run_killed_child(path)
    store = SqliteStore(path)
    want = [m.kind for m, _ in store.messages(order="K1")]
    assert want == ["order.status", "shipping.request", "order.status", "order.status", "order.status", "invoice.request"]
    with WebhookReceiver(secret=SECRET) as rx:
        OutboxRelay(store, WebhookPublisher({}, secret=SECRET, default_url=rx.url), clock=ManualClock()).drain()
        assert [e["kind"] for e in rx.received] == want
    assert store.pending() == []
    store.close()


def test_signal_constant_is_sigkill():
    assert signal.SIGKILL == 9 and os.name == "posix"


class FlakyPublisher:
    """Delivers everything except the first attempt at each message id in ``fail_once``; records deliveries."""

    def __init__(self, fail_once):
        self.fail_once, self.delivered = set(fail_once), []

    def publish(self, groups):
        out = []
        for g in groups:
            n, err = 0, None
            for m in g:
                if m.message_id in self.fail_once:
                    self.fail_once.discard(m.message_id)
                    err = "refused once"
                    break
                self.delivered.append((m.order, m.payload["i"]))
                n += 1
            out.append((n, err))
        return out

    def close(self):
        pass


def test_drain_in_small_batches_keeps_each_orders_messages_in_order(sqlite_store, clock):
    """A and B each have three messages, interleaved A0 B0 A1 B1 A2 B2; batches of two rows. A0 is refused once.
    The drain delivers B0 B1 B2 and nothing of A (A1 and A2 wait behind A0, even in later batches). After the
    1 s backoff the next drain delivers A0 A1 A2 in order."""
    from orchestration.records import new_message
    from orchestration.store import Changes

    msgs = [new_message("order.status", "capture", o, None, clock.now(), {"i": i}) for i in range(3) for o in ("A", "B")]
    sqlite_store.write(Changes(messages=msgs))
    pub = FlakyPublisher({msgs[0].message_id})
    relay = OutboxRelay(sqlite_store, pub, clock=clock, backoff_s=1.0, batch=2)
    rep = relay.drain()
    assert (rep.published, rep.failed) == (3, 1) and pub.delivered == [("B", 0), ("B", 1), ("B", 2)]
    assert relay.drain().published == 0
    clock.advance(seconds=1)
    assert relay.drain().published == 3
    assert pub.delivered[3:] == [("A", 0), ("A", 1), ("A", 2)]
