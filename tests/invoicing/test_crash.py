"""kill -9 in the middle of a stream of invoices: after reopening, the numbers are still gapless,
every number the writer saw committed is there, and numbering continues at the next one."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from invoicing import InvoiceRequest, Invoicer, LineInput, PaymentTerms, open_store
from promessa.money import Money

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent("""
    import datetime as dt, sys
    from invoicing import InvoiceRequest, Invoicer, LineInput, PaymentTerms, open_store
    from promessa.money import Money
    inv = Invoicer(open_store(sys.argv[1], pg_schema=sys.argv[2]))
    line = [LineInput("I1", 1, Money.of("1.00", "EUR"), "0.2", line_ref="L1")]
    k = 0
    while True:
        reqs = [InvoiceRequest(f"SH{k + j}", "O1", "C1", "EUR", line, PaymentTerms(30)) for j in range(1 + k % 3)]
        docs = inv.invoice_batch(reqs, issue_date=dt.date(2026, 1, 5))
        k += len(reqs)
        print(docs[-1].seq, flush=True)
""")


@pytest.mark.slow
def test_kill_9_mid_stream_keeps_numbers_gapless(order_book_db, tmp_path):
    db, schema = order_book_db
    script = tmp_path / "writer.py"
    script.write_text(CHILD)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, str(script), str(db), schema], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)
    seen: list[int] = []
    try:
        for out in proc.stdout:
            seen.append(int(out))
            if len(seen) >= 60:
                break
        assert seen, proc.stderr.read()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL

    store = open_store(db, pg_schema=schema)
    seqs = sorted(d.seq for d in store.documents())
    n = len(seqs)
    assert seqs == list(range(1, n + 1))               # no gap, no duplicate
    assert seen[-1] <= n                                # every number reported committed is stored
    assert store.series_last("INV2026") == n
    assert len({d.source_ref for d in store.documents()}) == n
    nxt = Invoicer(store).invoice_shipment(
        InvoiceRequest("AFTER", "O1", "C1", "EUR", [LineInput("I1", 1, Money.of("1.00", "EUR"), "0.2")], PaymentTerms(30)),
        issue_date=dt.date(2026, 1, 5))
    assert nxt.seq == n + 1
    store.close()
