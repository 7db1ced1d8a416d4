"""Invoices and credit notes rendered as HTML (escaped, self-contained) and PDF (fpdf2)."""

from __future__ import annotations

import html

from invoicing.model import Document, DocumentKind


def _title(doc: Document) -> str:
    return "Invoice" if doc.kind == DocumentKind.INVOICE else "Credit note"


def _amt(m) -> str:
    return str(m.rounded().amount)


def _rate(r) -> str:
    return f"{(r * 100).normalize():f} %"


def render_html(doc: Document, *, seller: str = "") -> str:
    """A self-contained HTML page of ``doc`` (every value escaped)."""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(ln.item)}</td><td>{e(ln.description)}</td><td class=n>{e(str(ln.qty))}</td>"
        f"<td class=n>{e(_amt(ln.unit_net))}</td><td class=n>{e(_rate(ln.tax_rate))}</td><td class=n>{e(_amt(ln.net))}</td>"
        f"<td class=n>{e(_amt(ln.tax))}</td><td class=n>{e(_amt(ln.total))}</td></tr>" for ln in doc.lines)
    related = f"<p>Credits invoice {e(doc.related)}. {e(doc.reason)}</p>" if doc.related else ""
    due = f"<p>Due: {doc.due_date.isoformat()} ({e(doc.terms)})</p>" if doc.kind == DocumentKind.INVOICE else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_title(doc)} {e(doc.number)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #ccc;padding:4px}}.n{{text-align:right}}</style></head>
<body><h1>{_title(doc)} {e(doc.number)}</h1>
<p>{e(seller)}</p>
<p>Customer: {e(doc.customer)}<br>Order: {e(doc.order)}<br>Issued: {doc.issue_date.isoformat()}</p>{due}{related}
<table><thead><tr><th>Item</th><th>Description</th><th class=n>Qty</th><th class=n>Unit net</th><th class=n>Tax rate</th>
<th class=n>Net</th><th class=n>Tax</th><th class=n>Total</th></tr></thead><tbody>{rows}</tbody>
<tfoot><tr><td colspan=5>Total ({e(doc.currency)})</td><td class=n>{_amt(doc.net)}</td><td class=n>{_amt(doc.tax)}</td>
<td class=n><strong>{_amt(doc.total)}</strong></td></tr></tfoot></table></body></html>
"""


def _latin1(s: str) -> str:
    return s.encode("latin-1", "replace").decode("latin-1")


def render_pdf(doc: Document, *, seller: str = "", compress: bool = True) -> bytes:
    """``doc`` as a one-or-more-page A4 PDF (fpdf2, core Helvetica; characters outside Latin-1 shown as '?')."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_compression(compress)
    pdf.set_title(f"{_title(doc)} {doc.number}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(f"{_title(doc)} {doc.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    head = [seller, f"Customer: {doc.customer}", f"Order: {doc.order}", f"Issued: {doc.issue_date.isoformat()}"]
    if doc.kind == DocumentKind.INVOICE:
        head.append(f"Due: {doc.due_date.isoformat()} ({doc.terms})")
    if doc.related:
        head.append(f"Credits invoice {doc.related}. {doc.reason}")
    for line in head:
        if line:
            pdf.cell(0, 6, _latin1(line), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    widths = (30, 44, 16, 22, 16, 22, 18, 22)
    with pdf.table(col_widths=widths, text_align=("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "RIGHT")) as t:
        t.row(["Item", "Description", "Qty", "Unit net", "Tax rate", "Net", "Tax", "Total"])
        for ln in doc.lines:
            t.row([_latin1(ln.item), _latin1(ln.description), str(ln.qty), _amt(ln.unit_net), _rate(ln.tax_rate), _amt(ln.net),
                   _amt(ln.tax), _amt(ln.total)])
        t.row([f"Total ({doc.currency})", "", "", "", "", _amt(doc.net), _amt(doc.tax), _amt(doc.total)])
    return bytes(pdf.output())
