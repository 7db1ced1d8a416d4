"""Reorder proposals: proposed by a run, reviewed (edit the quantity, reject), released as durable supply.

Proposals are not orders: they are kept in the order book's store as records of kind
``reorder_proposals`` (``OrderStore.put_records``: one durable transaction per change, before the
answer), and policy overrides posted through the API as records of kind ``reorder_policies``. The
order book stays the one writer of orders and of supply: releasing a proposal is a supply delta
(kind ``receipt``, ref ``reorder:<id>``) through ``OrderService.apply_supply_deltas`` - the path of
``POST /v1/supply/deltas`` - so promising sees the receipt at once and it is replayed at start-up.

Release is idempotent: a released proposal answers what it was released as; the delta carries the
Idempotency-Key ``reorder-release:<id>``, and before applying, the supply deltas are searched for the
proposal's ref, so a release interrupted between the delta's write and the proposal's (a crash) is
completed, never applied twice. Opening the book completes such releases too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import threading
from collections.abc import Iterable
from typing import Any

from orderbook.txn import Idem
from promessa.config import Settings
from promessa.errors import ConflictError, NotFoundError, ValidationError
from reorder.planner import ReorderLine, report
from reorder.policy import OVERRIDE_FIELDS, Policy, coerce_override, policy_for, read_overrides
from supplydata.live import SupplyDelta

PROPOSALS = "reorder_proposals"
POLICIES = "reorder_policies"
STATUSES = ("proposed", "released", "rejected")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def delta_ref(proposal_id: str) -> str:
    """The ref of the supply delta a released proposal became."""
    return f"reorder:{proposal_id}"


class ReorderBook:
    """Reorder policies, the report and the proposals of one order service.

    Parameters
    ----------
    svc : the order service (``orderbook.service.OrderService``): its store keeps proposals and policy
        overrides, its served pair gives positions, its supply-delta command releases proposals.
    settings : the configuration (``settings.reorder``: the default policy and the overrides file).
    """

    def __init__(self, svc, settings: Settings | None = None) -> None:
        self.svc = svc
        self.settings = settings or svc.settings
        self.store = svc.store
        self._lock = threading.RLock()
        cfg = self.settings.reorder
        self.default = Policy.default(cfg)
        self.default.check("reorder")
        self.file_overrides = read_overrides(cfg.policies_file) if cfg.policies_file else []
        for o in self.file_overrides:
            policy_for(self.default, [o], o["item"], o["location"])  # a bad file row is refused at start-up
        self.recover()

    # ------------------------------------------------------------------ policies
    def overrides(self) -> list[dict[str, Any]]:
        """Every override: the file's rows, then those posted through the API (later ones win)."""
        posted = [v for _k, v in sorted(self.store.records(POLICIES).items(), key=lambda kv: kv[1].get("seq", 0))]
        return [*self.file_overrides, *({k: v for k, v in p.items() if k not in ("seq", "updated_by")} for p in posted)]

    def policy(self, item: str, location: str) -> Policy:
        """The policy in force for an item-location."""
        return policy_for(self.default, self.overrides(), item, location)

    def policies(self) -> dict[str, Any]:
        """The default policy and the overrides (each with the policy it gives)."""
        rows = []
        seen = set()
        for o in reversed(self.overrides()):
            key = (o["item"], o["location"])
            if key in seen:
                continue
            seen.add(key)
            rows.append({"item": key[0], "location": key[1], "policy": self.policy(*key).to_dict()})
        return {"default": self.default.to_dict(), "overrides": sorted(rows, key=lambda r: (r["item"], r["location"]))}

    def set_policies(self, rows: Iterable[Any], *, actor: str) -> dict[str, Any]:
        """Post policy overrides (each row: item, location, fields of :data:`~reorder.policy.OVERRIDE_FIELDS`); all or
        nothing, durable before returning. A row replaces the API's earlier override of its item-location."""
        snap = self.svc.snap
        clean = []
        for i, r in enumerate(rows):
            o = coerce_override(r, where=f"policies.{i}")
            if o["item"] not in snap.item_index:
                raise ValidationError("unknown item", field=f"policies.{i}.item", value=o["item"])
            if o["location"] not in snap.location_index:
                raise ValidationError("unknown location", field=f"policies.{i}.location", value=o["location"])
            merged = self.default
            for row in (*self.file_overrides, o):  # the policy this row gives, with the file's row under it
                if (row["item"], row["location"]) == (o["item"], o["location"]):
                    merged = merged.with_override(row, where=f"policies.{i}")
            clean.append(o)
        if not clean:
            raise ValidationError("at least one policy is needed", field="policies", value=0)
        with self._lock:
            seq = max((v.get("seq", 0) for v in self.store.records(POLICIES).values()), default=0)
            recs = []
            for k, o in enumerate(clean, start=1):
                key = json.dumps([o["item"], o["location"]])
                recs.append((POLICIES, key, {**o, "seq": seq + k, "updated_by": actor}))
            self.store.put_records(recs)
            out = self.policies()
        return out

    # ------------------------------------------------------------------ report and proposals
    def report(self, *, today: dt.date | None = None, items: Iterable[str] | None = None,
               locations: Iterable[str] | None = None) -> list[ReorderLine]:
        """The reorder report (``reorder.planner.report``) under the policies in force."""
        return report(self.svc, default=self.default, overrides=self.overrides(), today=today, items=items, locations=locations)

    def proposals(self, *, status: str | None = None) -> list[dict[str, Any]]:
        """Every proposal (or those in `status`), by id."""
        if status is not None and status not in STATUSES:
            raise ValidationError(f"must be one of {', '.join(STATUSES)}", field="status", value=status)
        docs = self.store.records(PROPOSALS)
        return [d for _k, d in sorted(docs.items()) if status is None or d["status"] == status]

    def get(self, proposal_id: str) -> dict[str, Any]:
        """One proposal; NotFoundError when there is none with that id."""
        doc = self.store.records(PROPOSALS).get(proposal_id)
        if doc is None:
            raise NotFoundError(f"no reorder proposal {proposal_id!r}", hint="GET /v1/reorder/proposals lists them")
        return doc

    def propose(self, *, actor: str, today: dt.date | None = None, items: Iterable[str] | None = None,
                locations: Iterable[str] | None = None) -> dict[str, Any]:
        """Run the report and keep a proposal for each item-location whose policy proposes a purchase.

        An item-location that already has an open (``proposed``) proposal keeps it - a run never makes a
        second one - until it is released or rejected. Returns ``{"business_day", "created", "kept",
        "lines"}`` (the report lines, each with the id of its proposal, if any)."""
        with self._lock:
            lines = self.report(today=today, items=items, locations=locations)
            docs = self.store.records(PROPOSALS)
            open_by_il = {(d["item"], d["location"]): d["id"] for d in docs.values() if d["status"] == "proposed"}
            n = max((int(k.split("-")[1]) for k in docs), default=0)
            created, kept, recs, out_lines = [], [], [], []
            now = _now()
            for ln in lines:
                row = ln.to_dict()
                if ln.proposed_qty > 0:
                    old = open_by_il.get((ln.item, ln.location))
                    if old is not None:
                        kept.append(old)
                        row["proposal"] = old
                        row["reason"] += f"; open proposal {old} awaits review (release or reject it first)"
                    else:
                        n += 1
                        pid = f"RO-{n:06d}"
                        doc = {"id": pid, "status": "proposed", "item": ln.item, "location": ln.location,
                               "qty": ln.proposed_qty, "proposed_qty": ln.proposed_qty, "receipt_date": row["receipt_date"],
                               "created_on": row["business_day"], "created_at": now, "created_by": actor,
                               "reason": ln.reason, "figures": row, "ref": delta_ref(pid), "released": None,
                               "history": [{"at": now, "actor": actor, "action": "proposed", "qty": ln.proposed_qty}]}
                        recs.append((PROPOSALS, pid, doc))
                        created.append(pid)
                        row["proposal"] = pid
                out_lines.append(row)
            self.store.put_records(recs)  # durable before the answer
            day = lines[0].business_day if lines else (today or self.svc.business_day)
            return {"business_day": day.isoformat(), "created": created, "kept": kept, "lines": out_lines}

    def edit(self, proposal_id: str, *, qty: float, actor: str) -> dict[str, Any]:
        """Change the quantity of an open proposal (a finite number > 0); durable before returning."""
        if not isinstance(qty, int | float) or isinstance(qty, bool) or not math.isfinite(qty) or qty <= 0:
            raise ValidationError("must be a finite number > 0", field="qty", value=qty)
        with self._lock:
            doc = self._open(proposal_id, "edited")
            doc["history"].append({"at": _now(), "actor": actor, "action": "edited", "from": doc["qty"], "qty": float(qty)})
            doc["qty"] = float(qty)
            self.store.put_records([(PROPOSALS, proposal_id, doc)])
            return doc

    def reject(self, proposal_id: str, *, actor: str, note: str | None = None) -> dict[str, Any]:
        """Reject an open proposal (final); durable before returning."""
        with self._lock:
            doc = self._open(proposal_id, "rejected")
            doc["status"] = "rejected"
            doc["history"].append({"at": _now(), "actor": actor, "action": "rejected", "note": note})
            self.store.put_records([(PROPOSALS, proposal_id, doc)])
            return doc

    def release(self, proposal_id: str, *, actor: str) -> tuple[dict[str, Any], bool]:
        """Release a proposal as durable supply: a receipt of its quantity at its location on its receipt
        date, through ``apply_supply_deltas``. Returns (proposal, replayed): a proposal already released
        answers as it is, with replayed True (released twice = once)."""
        with self._lock:
            doc = self.get(proposal_id)
            if doc["status"] == "released":
                return doc, True
            if doc["status"] != "proposed":
                raise ConflictError(f"reorder proposal {proposal_id} is {doc['status']}; only a proposed one is released")
            done = self._delta_of(proposal_id)
            if done is not None:  # written before an interruption: complete the release, do not apply again
                return self._mark_released(doc, done, actor=actor, recovered=True), True
            d = SupplyDelta(doc["item"], doc["location"], dt.date.fromisoformat(doc["receipt_date"]), float(doc["qty"]),
                            "receipt", delta_ref(proposal_id))
            idem = Idem.of(f"reorder-release:{proposal_id}", json.dumps(dataclasses.asdict(d), default=str))
            _status, _body, replayed = self.svc.apply_supply_deltas([d], actor=actor, idem=idem)  # durable
            delta = self._delta_of(proposal_id)
            return self._mark_released(doc, delta, actor=actor, recovered=replayed), replayed

    def recover(self) -> list[str]:
        """Complete releases interrupted after their supply delta was written; returns their ids."""
        with self._lock:
            docs = self.store.records(PROPOSALS)
            pending = {d["ref"]: d for d in docs.values() if d["status"] == "proposed"}
            if not pending:
                return []
            done = []
            for e in self.svc.supply_deltas():
                doc = pending.pop(e.ref, None) if e.ref else None
                if doc is not None:
                    self._mark_released(doc, e, actor="recovery", recovered=True)
                    done.append(doc["id"])
            return done

    # ------------------------------------------------------------------ helpers
    def _open(self, proposal_id: str, action: str) -> dict[str, Any]:
        doc = self.get(proposal_id)
        if doc["status"] != "proposed":
            raise ConflictError(f"reorder proposal {proposal_id} is {doc['status']}; only a proposed one can be {action}")
        return doc

    def _delta_of(self, proposal_id: str):
        ref = delta_ref(proposal_id)
        return next((e for e in self.svc.supply_deltas() if e.ref == ref), None)

    def _mark_released(self, doc: dict[str, Any], delta, *, actor: str, recovered: bool) -> dict[str, Any]:
        now = _now()
        doc["status"] = "released"
        doc["released"] = {"at": now, "by": actor, "qty": float(delta.qty) if delta else float(doc["qty"]),
                           "date": (delta.date.isoformat() if delta else doc["receipt_date"]),
                           "delta_seq": delta.seq if delta else None, "recovered": recovered}
        if delta is not None:
            doc["qty"] = float(delta.qty)
        doc["history"].append({"at": now, "actor": actor, "action": "released", "qty": doc["qty"]})
        self.store.put_records([(PROPOSALS, doc["id"], doc)])
        return doc


__all__ = ["OVERRIDE_FIELDS", "POLICIES", "PROPOSALS", "ReorderBook", "delta_ref"]
