"""A small in-process metrics registry rendered in the Prometheus text format (0.0.4)."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

_HELP = {
    "promessa_http_requests_total": ("counter", "HTTP requests by route, method and status"),
    "promessa_http_request_seconds": ("histogram", "HTTP request latency by route and method"),
    "promessa_store_write_seconds": ("histogram", "durable order-book transaction latency"),
    "promessa_store_wait_seconds": ("histogram", "from a request's change in memory to its durable write"),
    "promessa_store_transactions_total": ("counter", "order-book transactions (group commits)"),
    "promessa_store_writes_total": ("counter", "requests written (several per transaction under load)"),
    "promessa_orders_captured_total": ("counter", "orders captured (validated, promised, committed)"),
    "promessa_orders_changed_total": ("counter", "order changes (re-promised)"),
    "promessa_orders_cancelled_total": ("counter", "orders cancelled"),
    "promessa_orders_held_total": ("counter", "orders put on hold by an approval rule"),
    "promessa_orders_approved_total": ("counter", "held orders approved"),
    "promessa_orders_rejected_total": ("counter", "held orders rejected"),
    "promessa_fulfillment_events_total": ("counter", "fulfillment events applied"),
    "promessa_import_rows_total": ("counter", "bulk-import rows received"),
    "promessa_inquiry_lines_total": ("counter", "availability inquiry lines answered"),
    "promessa_idempotent_replays_total": ("counter", "writes answered from the idempotency store"),
    "promessa_store_write_errors_total": ("counter", "order-book writes that failed (and were undone)"),
}


def _labels(labels: dict[str, str] | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((labels or {}).items()))


def _fmt_labels(lbl: tuple[tuple[str, str], ...], extra: tuple[tuple[str, str], ...] = ()) -> str:
    items = lbl + extra
    if not items:
        return ""
    esc = lambda v: str(v).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')  # noqa: E731
    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in items) + "}"


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple, float]] = defaultdict(lambda: defaultdict(float))
        self._hist: dict[str, dict[tuple, list]] = defaultdict(dict)

    def inc(self, name: str, value: float = 1.0, *, labels: dict[str, str] | None = None) -> None:
        with self._lock:
            self._counters[name][_labels(labels)] += value

    def observe(self, name: str, seconds: float, *, labels: dict[str, str] | None = None) -> None:
        key = _labels(labels)
        with self._lock:
            h = self._hist[name].get(key)
            if h is None:
                h = self._hist[name][key] = [[0] * (len(_BUCKETS) + 1), 0.0, 0]
            h[0][bisect.bisect_left(_BUCKETS, seconds)] += 1
            h[1] += seconds
            h[2] += 1

    def counter(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self._counters.get(name, {}).get(_labels(labels), 0.0)

    def render(self, gauges: dict[str, tuple[str, float]] | None = None) -> str:
        out: list[str] = []
        with self._lock:
            for name in sorted(self._counters):
                kind, help_ = _HELP.get(name, ("counter", name))
                out += [f"# HELP {name} {help_}", f"# TYPE {name} counter"]
                for lbl, v in sorted(self._counters[name].items()):
                    out.append(f"{name}{_fmt_labels(lbl)} {v:g}")
            for name in sorted(self._hist):
                _, help_ = _HELP.get(name, ("histogram", name))
                out += [f"# HELP {name} {help_}", f"# TYPE {name} histogram"]
                for lbl, (counts, total, n) in sorted(self._hist[name].items()):
                    cum = 0
                    for b, c in zip(_BUCKETS, counts, strict=False):
                        cum += c
                        out.append(f"{name}_bucket{_fmt_labels(lbl, (('le', f'{b:g}'),))} {cum}")
                    out.append(f"{name}_bucket{_fmt_labels(lbl, (('le', '+Inf'),))} {n}")
                    out.append(f"{name}_sum{_fmt_labels(lbl)} {total:.6f}")
                    out.append(f"{name}_count{_fmt_labels(lbl)} {n}")
        for name, (help_, value) in sorted((gauges or {}).items()):
            out += [f"# HELP {name} {help_}", f"# TYPE {name} gauge", f"{name} {value:g}"]
        return "\n".join(out) + "\n"
