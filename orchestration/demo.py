"""A walk-through with no broker: ``python -m orchestration.demo [--db PATH]``.

Runs one ship-from-node order through capture, scheduling, release and a customer change during
shipping (the shipping request is cancelled and scheduling repeats), one drop-ship line closed by
the supplier's shipment notice, and a late step; the outbox is delivered by signed webhooks to a
loopback receiver started here. Prints each step and the message log.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
from pathlib import Path

from .engine import NotificationRule, Orchestrator
from .definitions import ready_catalog
from .outbox import OutboxRelay, WebhookPublisher
from .records import InboundUpdate, OrderEvent
from .store import SqliteStore
from .testing import ManualClock, WebhookReceiver


def main(argv: list[str] | None = None) -> int:
    """Run the walk-through; returns 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, default=None, help="SQLite file (default: a temporary one)")
    a = ap.parse_args(argv)
    db = a.db or Path(tempfile.mkdtemp(prefix="promessa-orch-")) / "orchestration.sqlite"
    clock = ManualClock()
    store = SqliteStore(db)
    eng = Orchestrator(ready_catalog(), store, clock=clock,
                       notifications=[NotificationRule(on=frozenset({"jeopardy"}), to=("planners@example.com",))])

    def say(order: str) -> None:
        for v in eng.view(order):
            print(f"  {order} line {v['line'] or '-'}: {v['process']} v{v['version']} {v['status']} at {v['step'] or '-'}"
                  + (f" ({v['system']})" if v["system"] else "") + (f", {v['late_s'] / 3600:.1f} h late" if v["late_s"] else ""))

    def event(kind: str, order: str, **kw) -> None:
        eng.handle(OrderEvent(kind=kind, order=order, at=clock.now(), **kw))
        print(f"{clock.now():%H:%M} {order} {kind}")
        say(order)

    event("captured", "SO-1", attrs={"channel": "web", "ship_method": "ground", "email": "eve@example.com"})
    event("scheduled", "SO-1")
    event("released", "SO-1")
    event("packed", "SO-1")
    event("changed", "SO-1", attrs={"qty": 3})
    event("scheduled", "SO-1")
    event("captured", "SO-2", lines=("1",), line_attrs={"1": {"item_kind": "dropship", "supplier": "ACME"}})
    event("scheduled", "SO-2")
    for mid, ev in (("acme-1", "po.ack"), ("acme-2", "ship.notice"), ("acme-2", "ship.notice")):
        out = eng.receive(InboundUpdate(message_id=mid, system="supplier", event=ev, order="SO-2", line="1", at=clock.now()))
        print(f"{clock.now():%H:%M} SO-2 {ev} from the supplier ({mid})" + (": duplicate, nothing changed" if out.duplicate else "")
              + "".join(f"; effect {e.kind}" for e in out.effects))
    say("SO-2")
    clock.advance(hours=6)
    for al in eng.tick().alerts:
        print(f"{clock.now():%H:%M} jeopardy: {al.order} step {al.step} ({al.system}) {al.late_s / 3600:.1f} h late")
    secret = secrets.token_bytes(16)
    with WebhookReceiver(secret=secret) as rx:
        rep = OutboxRelay(store, WebhookPublisher({}, secret=secret, default_url=rx.url, clock=clock), clock=clock).drain()
        print(f"outbox: {rep.published} messages delivered by signed webhook ({rx.bad_signatures} bad signatures)")
        for e in rx.received:
            print(f"  {e['order']:5} {e['system']:8} {e['kind']:18} {e['payload'].get('step', '')}")
    print(f"state kept in {db}")
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
