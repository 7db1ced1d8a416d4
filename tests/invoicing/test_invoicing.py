"""Invoices and credit notes: amounts by hand, gapless numbering, immutability, listings, rendering."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading

import pytest

from invoicing import (
    DocumentKind,
    InvoiceMode,
    InvoiceRequest,
    Invoicer,
    InvoicingSettings,
    LineInput,
    PaymentTerms,
    PricedLine,
    ReturnCredit,
    open_store,
    prorate,
    render_html,
    render_pdf,
)
from promessa.errors import ConflictError, ValidationError
from promessa.money import Money

D = dt.date(2026, 1, 5)


def eur(x: str) -> Money:
    return Money.of(x, "EUR")


@pytest.fixture
def store(order_book_db):
    db, schema = order_book_db
    s = open_store(db, pg_schema=schema)
    yield s
    s.close()


def req(ship: str, *lines: LineInput, order: str = "O1", customer: str = "C1", days: int = 30) -> InvoiceRequest:
    return InvoiceRequest(ship, order, customer, "EUR", list(lines), PaymentTerms(days))


def line(ref: str, qty, unit: str, rate: str = "0.20", item: str = "I1") -> LineInput:
    return LineInput(item, qty, eur(unit), rate, line_ref=ref)


def test_invoice_amounts_and_dates(store):
    """2 x 19.99 at 20 % and 1 x 5.00 at 7 %: net 39.98 + 5.00 = 44.98; tax 8.00 (7.996) + 0.35 = 8.35; total 53.33.
    Issued on the business date 2026-01-05 with net 30: due 2026-02-04."""
    inv = Invoicer(store)
    d = inv.invoice_shipment(req("SH1", line("L1", 2, "19.99"), line("L2", 1, "5.00", "0.07", "I2")), issue_date=D)
    assert (d.number, d.seq, d.kind) == ("INV2026-000001", 1, DocumentKind.INVOICE)
    assert [(str(x.net.amount), str(x.tax.amount), str(x.total.amount)) for x in d.lines] == [
        ("39.98", "8.00", "47.98"), ("5.00", "0.35", "5.35")]
    assert (d.net, d.tax, d.total) == (eur("44.98"), eur("8.35"), eur("53.33"))
    assert d.due_date == dt.date(2026, 2, 4) and d.terms == "net 30"
    assert store.get(d.number) == d


def test_numbers_are_gapless_per_series_and_idempotent_per_shipment(store):
    """Three shipments, one repeated: INV2026-000001..3; a credit note starts its own series at 1; a new year starts over."""
    inv = Invoicer(store)
    a = inv.invoice_shipment(req("SH1", line("L1", 1, "10.00")), issue_date=D)
    b = inv.invoice_shipment(req("SH2", line("L1", 1, "10.00")), issue_date=D)
    again = inv.invoice_shipment(req("SH1", line("L1", 1, "10.00")), issue_date=D)
    c = inv.invoice_shipment(req("SH3", line("L1", 1, "10.00")), issue_date=D)
    assert [a.number, b.number, again.number, c.number] == ["INV2026-000001", "INV2026-000002", "INV2026-000001", "INV2026-000003"]
    cn = inv.credit_return(b.number, [ReturnCredit("L1", 1)], source_ref="RMA1", issue_date=D)
    assert cn.number == "CN2026-000001" and cn.related == b.number
    nxt = inv.invoice_shipment(req("SH4", line("L1", 1, "10.00")), issue_date=dt.date(2027, 1, 2))
    assert nxt.number == "INV2027-000001"
    assert store.series_last("INV2026") == 3


def test_issued_documents_are_immutable(store, order_book_db):
    """Updating or deleting an issued document in the database is refused by a trigger; the Document is frozen."""
    d = Invoicer(store).invoice_shipment(req("SH1", line("L1", 1, "10.00")), issue_date=D)
    with pytest.raises(Exception, match="immutable"):
        store._conn().execute("UPDATE inv_documents SET customer = 'X'")
    with pytest.raises(Exception, match="immutable"):
        store._conn().execute("DELETE FROM inv_documents")
    with pytest.raises(AttributeError):
        d.customer = "X"  # type: ignore[misc]
    assert store.get(d.number).customer == "C1"


def test_concurrent_threads_get_gapless_unique_numbers(store):
    """8 threads issue 15 invoices each (some in batches of 3): numbers 1..120, none twice, none missing."""
    inv = Invoicer(store)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for k in range(0, 15, 3):
                if k % 2:
                    inv.invoice_batch([req(f"T{t}-{k + j}", line("L1", 1, "1.00")) for j in range(3)], issue_date=D)
                else:
                    for j in range(3):
                        inv.invoice_shipment(req(f"T{t}-{k + j}", line("L1", 1, "1.00")), issue_date=D)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    seqs = sorted(d.seq for d in store.documents())
    assert seqs == list(range(1, 121))
    assert len({d.source_ref for d in store.documents()}) == 120


def test_bad_input_is_refused_with_field_and_value_and_writes_nothing(store):
    inv = Invoicer(store)
    cases = [
        (req("SH1", line("L1", 0, "10.00")), "request.lines[0].qty", 0),
        (req("SH1", line("L1", 1, "10.00", "20")), "request.lines[0].tax_rate", "20"),
        (req("SH1", LineInput("I1", 1, Money.of("1.00", "USD"), "0.2")), "request.lines[0].unit_net.currency", "USD"),
        (req("SH1", LineInput("I1", 1, eur("10.00"), "0.2", total=eur("12.01"))), "request.lines[0].total", "12.01"),
        (req("", line("L1", 1, "10.00")), "request.source_ref", ""),
        (InvoiceRequest("SH1", "O1", "C1", "EUR", [line("L1", 1, "1.00")], PaymentTerms(-1)), "request.terms", PaymentTerms(-1)),
        (req("SH1", line("L1", 1, "1.00"), line("L1", 2, "1.00")), "request.lines.line_ref", "L1"),
    ]
    for r, field, value in cases:
        with pytest.raises(ValidationError) as e:
            inv.invoice_shipment(r, issue_date=D)
        assert (e.value.field, e.value.value) == (field, value)
    with pytest.raises(ValidationError) as e:
        inv.invoice_batch([req("SH1", line("L1", 1, "1.00")), req("SH2", line("L1", -1, "1.00"))], issue_date=D)
    assert e.value.field == "requests[1].lines[0].qty"
    assert store.documents() == [] and store.series_last("INV2026") == 0


def test_per_order_mode():
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        s = open_store(f"{tmp}/inv.sqlite")
        inv = Invoicer(s, InvoicingSettings(mode=InvoiceMode.PER_ORDER, invoice_series="F"))
        with pytest.raises(ConflictError):
            inv.invoice_shipment(req("SH1", line("L1", 1, "1.00")), issue_date=D)
        d = inv.invoice_order(req("O1", line("L1", 1, "1.00"), line("L2", 2, "1.00")), issue_date=D)
        assert d.number == "F-000001" and d.source_ref == "O1" and len(d.lines) == 2
        s.close()


def test_prorated_shipments_add_up_to_the_priced_line():
    """A line of 3 units priced net 10.00, tax 2.00: shipped 1 + 1 + 1 gives nets 3.33 + 3.34 + 3.33 and taxes 0.67 + 0.66 + 0.67."""
    pl = PricedLine("L1", "I1", 3, eur("10.00"), eur("2.00"), "0.20")
    parts = [prorate(pl, qty_before=k, qty=1) for k in range(3)]
    assert [str(p.net.amount) for p in parts] == ["3.33", "3.34", "3.33"]
    assert [str(p.tax.amount) for p in parts] == ["0.67", "0.66", "0.67"]
    with pytest.raises(ValidationError) as e:
        prorate(pl, qty_before=2, qty=2)
    assert (e.value.field, e.value.value) == ("qty", 2)


def test_credit_notes_for_returns_and_price_corrections(store):
    """Invoice: 3 x 9.99 at 20 % -> net 29.97, tax 5.99, total 35.96. Returns of 1 then 2 units credit
    net 9.99 + 19.98 and tax 2.00 + 3.99 (cumulative rounding: 5.99 in all); a third return is refused."""
    inv = Invoicer(store)
    d = inv.invoice_shipment(req("SH1", line("L1", 3, "9.99")), issue_date=D)
    assert (d.net, d.tax) == (eur("29.97"), eur("5.99"))
    c1 = inv.credit_return(d.number, [ReturnCredit("L1", 1)], source_ref="RMA1", issue_date=D, reason="damaged")
    assert (c1.net, c1.tax, c1.total, c1.reason) == (eur("9.99"), eur("2.00"), eur("11.99"), "return: damaged")
    assert inv.credit_return(d.number, [ReturnCredit("L1", 1)], source_ref="RMA1", issue_date=D) == c1  # idempotent
    with pytest.raises(ValidationError) as e:
        inv.credit_return(d.number, [ReturnCredit("L1", 3)], source_ref="RMA2", issue_date=D)
    assert (e.value.field, e.value.value) == ("returned[0].qty", 3)
    with pytest.raises(ValidationError) as e:
        inv.credit_return(d.number, [ReturnCredit("LX", 1)], source_ref="RMA2", issue_date=D)
    assert (e.value.field, e.value.value) == ("returned[0].line_ref", "LX")
    c2 = inv.credit_return(d.number, [ReturnCredit("L1", 2)], source_ref="RMA2", issue_date=D)
    assert (c2.net, c2.tax) == (eur("19.98"), eur("3.99"))
    assert inv.order_totals("O1") == (eur("35.96"), eur("35.96"))

    e2 = inv.invoice_shipment(req("SH2", line("L1", 1, "50.00")), issue_date=D)
    pc = inv.credit_price_correction(e2.number, "L1", eur("5.00"), source_ref="PC1", issue_date=D, reason="agreed discount")
    assert (pc.net, pc.tax, pc.total) == (eur("5.00"), eur("1.00"), eur("6.00"))
    with pytest.raises(ValidationError) as e:
        inv.credit_price_correction(e2.number, "L1", eur("45.01"), source_ref="PC2", issue_date=D)
    assert (e.value.field, e.value.value) == ("net", "45.01")


def test_customer_listing_with_open_balance_and_overdue(store):
    """C1: invoice 120.00 (net 30, issued 01-05) and invoice 60.00 (net 0, issued 01-10); a credit of 24.00 on the first;
    100.00 received for the order: the first invoice (oldest) takes 96.00, the second 4.00. Open: 0 + 56.00 = 56.00.
    On 2026-01-12 the second is overdue (due 01-10), the first is not."""
    inv = Invoicer(store)
    a = inv.invoice_shipment(req("SH1", line("L1", 2, "50.00")), issue_date=D)
    b = inv.invoice_shipment(req("SH2", line("L2", 1, "50.00"), days=0), issue_date=dt.date(2026, 1, 10))
    assert (a.total, b.total) == (eur("120.00"), eur("60.00"))
    inv.credit_price_correction(a.number, "L1", eur("20.00"), source_ref="PC1", issue_date=D)
    parts = inv.settle_order("O1", eur("100.00"), ref="CAP1", date=dt.date(2026, 1, 11))
    assert [(p.number, p.amount) for p in parts] == [(a.number, eur("96.00")), (b.number, eur("4.00"))]
    assert inv.settle_order("O1", eur("100.00"), ref="CAP1", date=dt.date(2026, 1, 11)) == []  # same capture again
    st = inv.statement("C1")
    assert [(x.document.number, x.open) for x in st.documents if x.document.kind == DocumentKind.INVOICE] == [
        (a.number, eur("0.00")), (b.number, eur("56.00"))]
    assert st.open_balance == eur("56.00")
    assert [x.document.number for x in inv.overdue(dt.date(2026, 1, 12), customer="C1")] == [b.number]
    inv.invoice_shipment(req("SH3", line("L1", 1, "1.00"), order="O2", customer="C2", days=1), issue_date=D)
    assert [x.document.customer for x in inv.overdue(dt.date(2026, 1, 12))] == ["C1", "C2"]
    assert inv.overdue(dt.date(2026, 1, 12), customer="C3") == []
    assert inv.statement("C9").documents == ()


def test_render_html_and_pdf(store):
    d = Invoicer(store).invoice_shipment(req("SH1", LineInput("I<1>", 2, eur("19.99"), "0.2", line_ref="L1", description="Café & tea")),
                                         issue_date=D)
    h = render_html(d, seller="ACME")
    assert "INV2026-000001" in h and "I&lt;1&gt;" in h and "Café &amp; tea" in h and "47.98" in h and "2026-02-04" in h
    pdf = render_pdf(d, seller="ACME", compress=False)
    assert pdf.startswith(b"%PDF-") and b"INV2026-000001" in pdf and b"47.98" in pdf
    assert render_pdf(d).startswith(b"%PDF-")


def test_sqlite_pragmas(tmp_path):
    s = open_store(tmp_path / "inv.sqlite")
    conn = s._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    s.close()
    assert isinstance(sqlite3.connect(tmp_path / "inv.sqlite").execute("SELECT count(*) FROM inv_series").fetchone()[0], int)


def test_racing_credit_notes_never_credit_more_than_invoiced(store, order_book_db):
    """Two writers (separate stores, as two processes) credit 2 of the same 3 invoiced units at the same moment:
    one credit note is issued, the other is refused naming the line, and the credits stay within the invoice."""
    db, schema = order_book_db
    d = Invoicer(store).invoice_shipment(req("SH1", line("L1", 3, "10.00")), issue_date=D)
    other = open_store(db, pg_schema=schema)
    writers = [Invoicer(store), Invoicer(other)]
    drafts = [w.draft_credit_return(d.number, [ReturnCredit("L1", 2)], source_ref=f"RMA{k}", issue_date=D) for k, w in enumerate(writers)]
    barrier = threading.Barrier(2)
    results: list[object] = [None, None]

    def go(k: int) -> None:
        barrier.wait()
        try:
            results[k] = writers[k].store.issue_many([drafts[k]])[0]
        except ValidationError as e:
            results[k] = e

    ts = [threading.Thread(target=go, args=(k,)) for k in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    errors = [r for r in results if isinstance(r, ValidationError)]
    assert len(errors) == 1 and (errors[0].field, errors[0].value) == ("lines.line_ref", "L1")
    assert [c.total for c in store.documents(related=d.number)] == [eur("24.00")]
    other.close()


def test_credit_note_renders_with_its_invoice(store):
    inv = Invoicer(store)
    d = inv.invoice_shipment(req("SH1", line("L1", 1, "50.00")), issue_date=D)
    cn = inv.credit_price_correction(d.number, "L1", eur("5.00"), source_ref="PC1", issue_date=D, reason="late")
    h = render_html(cn)
    assert "Credit note CN2026-000001" in h and f"Credits invoice {d.number}" in h and "6.00" in h and "Due:" not in h
    pdf = render_pdf(cn, compress=False)
    assert b"CN2026-000001" in pdf and d.number.encode() in pdf
