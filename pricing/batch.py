"""The batch pricer: a million lines in one call, exact, equal to ``price_order`` line by line.

Amounts are integers in numpy int64: money in minor units, unit prices and rule amounts in minor units
x 10^4 (``PRICE_EXTRA_DIGITS``), quantities in thousandths, percentages x 10^4, tax rates x 10^6.
Every rounding is half up on an exact integer quotient (``q, r = divmod(n, d); q + (2r >= d)``), which is
what ``Decimal.quantize(ROUND_HALF_UP)`` gives on the same exact value: no binary float ever carries an
amount. Orders whose products could leave int64 (unit price x quantity beyond 2^62) are priced by
``price_order`` instead, so the answer stays exact whatever the input.

Input: a polars DataFrame of lines with ``order, customer, item, qty, country`` and optionally ``line``,
``region``, ``service_start`` (Date); ``parties`` maps customer ids to ``Party``. One business day and one
currency per call. Manual adjustments are per order and typed by people: the batch pricer takes none.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

import numpy as np
import polars as pl

from pricing.book import PriceBook
from pricing.engine import price_order
from pricing.model import PERCENT_DIGITS, PRICE_EXTRA_DIGITS, QTY_DIGITS, RATE_DIGITS, LineRequest, OrderRequest, Party, qty_of
from promessa.errors import ValidationError
from promessa.money import minor_unit

_LIMIT = 2**62
PS = 10**PRICE_EXTRA_DIGITS          # unit price scale over the minor unit
QS = 10**QTY_DIGITS                  # quantity scale
PCT = 100 * 10**PERCENT_DIGITS       # percent value scale x 100
RS = 10**RATE_DIGITS                 # tax rate scale
_KIND = {"percent": 0, "amount_off": 1, "fixed_price": 2}


def round_div(n: np.ndarray, d: np.ndarray | int) -> np.ndarray:
    """Half-up rounding of the exact quotient ``n / d`` for ``n >= 0``, ``d > 0`` (int64 arrays or scalars)."""
    q, r = np.divmod(n, d)
    return q + (2 * r >= d)


def _scaled(x: Decimal, scale: int) -> int:
    v = x * scale
    if v != v.to_integral_value():
        raise ValueError(f"{x} has more digits than the scale {scale}")
    return int(v)


@dataclasses.dataclass(frozen=True)
class BatchPrice:
    """The batch answer: ``lines`` (one row per input line, input order) with integer minor-unit columns
    ``list_amount, tier_adjustment, rule_adjustment, proration_adjustment, subtotal, net, tax, total`` and
    ``price_list``, ``rules_applied`` (count); ``orders`` with ``order, net, tax, total`` (minor units);
    the ``currency`` and its ``minor_unit``. ``fallback_orders`` counts orders priced by ``price_order``."""

    currency: str
    minor_unit: int
    lines: pl.DataFrame
    orders: pl.DataFrame
    fallback_orders: int = 0

    def decimal(self, minor: int) -> Decimal:
        """An integer minor-unit amount as a Decimal in the currency (``1999`` -> ``Decimal('19.99')``)."""
        return Decimal(int(minor)).scaleb(-self.minor_unit)


def _codes(s: pl.Series, field: str) -> tuple[list, np.ndarray]:
    """Distinct values (in order of first appearance) and each row's code into them (int32); an empty value is refused.

    Codes come from a 64-bit hash of each value (fast on unsorted text); the distinct values are then checked
    against every row, and on a hash collision the codes come from a sort instead, so they are always exact."""
    if s.null_count():
        i = int(s.is_null().arg_max())
        raise ValidationError(f"is empty (row {i + 1})", field=field, value=None)
    _, first, inv = np.unique(s.hash(seed=0).to_numpy(), return_index=True, return_inverse=True)
    perm = np.argsort(first)                     # codes in order of first appearance
    remap = np.empty_like(perm)
    remap[perm] = np.arange(len(perm))
    uniq = s.gather(first[perm])
    codes = remap[inv.reshape(-1)].astype(np.int32)
    if uniq.gather(codes).equals(s):
        return uniq.to_list(), codes
    uniq = s.unique(maintain_order=True)
    return uniq.to_list(), s.replace_strict(uniq, pl.int_range(len(uniq), eager=True), return_dtype=pl.Int32).to_numpy()


def _qty_milli(s: pl.Series) -> np.ndarray:
    if s.dtype.is_integer():
        q = s.cast(pl.Int64).to_numpy() * QS
    elif s.dtype.is_float():
        f = s.to_numpy()
        q = np.round(f * QS)
        bad = ~np.isfinite(f) | (np.abs(f * QS - q) > 1e-6 * np.maximum(1.0, np.abs(f * QS)))
        if bad.any():
            i = int(np.nonzero(bad)[0][0])
            raise ValidationError(f"has more than {QTY_DIGITS} decimals (row {i + 1})", field="qty", value=float(f[i]))
        q = q.astype(np.int64)
    else:
        q = np.array([_scaled(qty_of(v, "qty"), QS) for v in s.to_list()], dtype=np.int64)
    if (q <= 0).any():
        i = int(np.nonzero(q <= 0)[0][0])
        raise ValidationError(f"must be > 0 (row {i + 1})", field="qty", value=s[i])
    return q


def price_batch(book: PriceBook, lines: pl.DataFrame, parties: Mapping[str, Party], *, on: dt.date,
                currency: str) -> BatchPrice:
    """Price many orders' lines at once; equal, line by line, to ``price_order`` on the same orders.

    Parameters
    ----------
    book : the price book.
    lines : ``order, customer, item, qty, country`` (+ optional ``line``, ``region``, ``service_start``);
        rows of one order must agree on customer, country and region.
    parties : customer id -> ``Party`` (unknown customers are refused).
    on : the business day.
    currency : the currency of every order in the batch.

    Returns
    -------
    ``BatchPrice`` (integer minor units). Raises ``ValidationError`` like ``price_order`` (no price, no tax rate).
    """
    n = lines.height
    mu = minor_unit(currency)
    for c in ("order", "customer", "item", "qty", "country"):
        if c not in lines.columns:
            raise ValidationError("required column missing", field=c, value=None)
    if n == 0:
        empty = pl.DataFrame(schema={"order": pl.String})
        return BatchPrice(currency, mu, empty, empty)
    order_vals, order_code = _codes(lines["order"].cast(pl.String), "order")
    cust_vals, cust_code = _codes(lines["customer"].cast(pl.String), "customer")
    item_vals, item_code = _codes(lines["item"].cast(pl.String), "item")
    qty = _qty_milli(lines["qty"])
    region = lines["region"].fill_null("") if "region" in lines.columns else pl.repeat("", n, eager=True)
    juris_vals, juris_code = _codes(lines["country"].str.to_uppercase() + "|" + region.str.to_uppercase(), "country")
    n_items = len(item_vals)
    for codes, field in ((cust_code, "customer"), (juris_code, "country")):
        per_order = np.empty(len(order_vals), dtype=np.int32)
        per_order[order_code[::-1]] = codes[::-1]   # the first row of each order sets it
        differ = per_order[order_code] != codes
        if differ.any():
            i = int(np.nonzero(differ)[0][0])
            raise ValidationError(f"rows of one order differ in {field} (row {i + 1})", field=field,
                                  value=str(lines[field][i]) if field == "customer" else juris_vals[codes[i]].replace("|", "/"))

    # ---- customers: their chains of price lists, rule-relevant attributes
    chains: dict[tuple, int] = {}
    chain_of_cust = np.empty(len(cust_vals), dtype=np.int32)
    exempt = np.zeros(len(cust_vals), dtype=bool)
    party_list: list[Party] = []
    for k, cid in enumerate(cust_vals):
        p = parties.get(cid)
        if p is None:
            raise ValidationError("unknown customer", field="customer", value=cid)
        party_list.append(p)
        ch = tuple(pl_.ref for pl_ in book.chain(p, currency, on))
        chain_of_cust[k] = chains.setdefault(ch, len(chains))
        exempt[k] = p.tax_profile == "exempt"
    list_refs: dict[str, int] = {}
    list_objs = []
    for ch in chains:
        for ref in ch:
            if ref not in list_refs:
                list_refs[ref] = len(list_refs)
                lid, ver = ref.rsplit("@", 1)
                list_objs.append(next(x for x in book.price_lists_for(lid) if x.version == int(ver)))
    maxlen = max((len(c) for c in chains), default=0)
    chain_lists = np.full((len(chains), max(1, maxlen)), -1, dtype=np.int32)
    for ch, k in chains.items():
        for j, ref in enumerate(ch):
            chain_lists[k, j] = list_refs[ref]

    # ---- entries of the lists (compiled once per book and list version), and which entry prices each batch item
    pscale = 10**mu * PS
    compiled = [_compiled(book, plo, pscale) for plo in list_objs]
    max_t = max((c.t_from.shape[1] for c in compiled), default=1)
    offsets = np.cumsum([0] + [len(c.items) for c in compiled])
    items_s = pl.Series(item_vals, dtype=pl.String)
    entry_of = np.full((len(list_objs), n_items), -1, dtype=np.int32)
    for li, c in enumerate(compiled):
        local = items_s.replace_strict(c.items, pl.int_range(len(c.items), eager=True), default=-1, return_dtype=pl.Int32).to_numpy()
        entry_of[li] = np.where(local >= 0, local + offsets[li], -1)

    def cat(field: str, pad: int | None = None) -> np.ndarray:
        parts = []
        for c in compiled:
            a = getattr(c, field)
            if pad is not None and a.shape[1] < max_t:
                a = np.concatenate([a, np.full((a.shape[0], max_t - a.shape[1]), pad, dtype=a.dtype)], axis=1)
            parts.append(a)
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    t_from = cat("t_from", np.iinfo(np.int64).max)
    t_price = cat("t_price", 0)
    e_unit, e_maxp, e_mode, e_rec, e_prorate = cat("unit"), cat("maxp"), cat("mode"), cat("rec"), cat("prorate")
    e_incl = np.concatenate([np.full(len(c.items), c.tax_inclusive) for c in compiled]) if compiled else np.zeros(0, bool)
    entry_list = np.concatenate([np.full(len(c.items), li, dtype=np.int32) for li, c in enumerate(compiled)]) if compiled \
        else np.zeros(0, np.int32)

    # ---- the entry of each line: first list of its chain that prices the item
    line_chain = chain_of_cust[cust_code]
    entry = np.full(n, -1, dtype=np.int32)
    for j in range(chain_lists.shape[1]):
        lc = chain_lists[line_chain, j]
        cand = np.where(lc >= 0, entry_of[np.maximum(lc, 0), item_code], -1)
        entry = np.where(entry < 0, cand, entry)
    if (entry < 0).any():
        i = int(np.nonzero(entry < 0)[0][0])
        raise ValidationError(f"no price for this item in {currency} on {on} (order {order_vals[order_code[i]]})",
                              field="item", value=item_vals[item_code[i]])

    # ---- rules
    rules = book.rules_on(on, currency)
    r_val = [(_scaled(r.value, PCT // 100) if r.kind == "percent" else _scaled(r.value, pscale)) for r in rules]
    max_rule_val = max([v for r, v in zip(rules, r_val, strict=True) if r.kind != "percent"], default=0)

    # ---- orders that could leave int64 go to the exact one-order pricer
    big = (e_maxp[entry].astype(np.float64) * qty >= _LIMIT / 4) | (float(max_rule_val) * qty >= _LIMIT / 4)
    fallback = np.unique(order_code[big])
    ok = ~np.isin(order_code, fallback) if fallback.size else np.ones(n, dtype=bool)

    # ---- list and tier amounts
    e_l = entry
    unit = e_unit[e_l]
    list_amt = round_div(np.where(ok, unit * qty, 0), PS * QS)
    base = list_amt.copy()
    mode = e_mode[e_l]
    grad = ok & (mode == 1)
    if grad.any():
        gi = np.nonzero(grad)[0]
        fr, pr, qg = t_from[e_l[gi]], t_price[e_l[gi]], qty[gi][:, None]
        nxt = np.concatenate([fr[:, 1:], np.full((len(gi), 1), np.iinfo(np.int64).max)], axis=1)
        portion = np.clip(np.minimum(qg, nxt) - fr, 0, None)
        base[gi] = round_div((pr * portion).sum(axis=1), PS * QS)
    vol = ok & (mode == 2)
    if vol.any():
        vi = np.nonzero(vol)[0]
        fr, pr = t_from[e_l[vi]], t_price[e_l[vi]]
        k = (fr <= qty[vi][:, None]).sum(axis=1) - 1
        base[vi] = round_div(pr[np.arange(len(vi)), k] * qty[vi], PS * QS)
    tier_adj = base - list_amt
    order_base = np.zeros(len(order_vals), dtype=np.int64)
    np.add.at(order_base, order_code, base)

    # ---- rules, in precedence order: exclusive / stackable
    running = base.copy()
    rule_adj = np.zeros(n, dtype=np.int64)
    applied = np.zeros(n, dtype=bool)
    stopped = np.zeros(n, dtype=bool)
    n_applied = np.zeros(n, dtype=np.int16)
    cats = [book.item(i) for i in item_vals]
    item_arr = np.array(item_vals, dtype=str)
    cat_arr = np.array([a.category or "" for a in cats], dtype=str)
    brand_arr = np.array([a.brand or "" for a in cats], dtype=str)
    cust_arr = np.array(cust_vals, dtype=str)
    chan_arr = np.array([p.channel or "" for p in party_list], dtype=str)
    seg_has: dict[str, np.ndarray] = {}
    for r in rules:
        for sg in r.segments:
            if sg not in seg_has:
                seg_has[sg] = np.fromiter((sg in p.segments for p in party_list), bool, len(party_list))
    for r, val in zip(rules, r_val, strict=True):
        item_ok = np.ones(n_items, dtype=bool)
        if r.items:
            item_ok &= np.isin(item_arr, list(r.items))
        if r.categories:
            item_ok &= np.isin(cat_arr, list(r.categories))
        if r.brands:
            item_ok &= np.isin(brand_arr, list(r.brands))
        cust_ok = np.ones(len(party_list), dtype=bool)
        if r.customers:
            cust_ok &= np.isin(cust_arr, list(r.customers))
        if r.channels:
            cust_ok &= np.isin(chan_arr, list(r.channels))
        if r.segments:
            cust_ok &= np.logical_or.reduce([seg_has[sg] for sg in r.segments])
        m = ok & ~stopped & item_ok[item_code] & cust_ok[cust_code]
        if r.stacking == "exclusive":
            m &= ~applied
        if r.min_order_total is not None:
            m &= order_base[order_code] >= _scaled(r.min_order_total, 10**mu)
        idx = np.nonzero(m)[0]
        if idx.size == 0:
            continue
        run = running[idx]
        if r.kind == "percent":
            mag = round_div(run * val, PCT)
        elif r.kind == "amount_off":
            mag = np.minimum(round_div(val * qty[idx], PS * QS), run)
        else:
            target = round_div(val * qty[idx], PS * QS)
            keep = target < run
            idx, run, mag = idx[keep], run[keep], (run - target)[keep]
        running[idx] = run - mag
        rule_adj[idx] -= mag
        applied[idx] = True
        n_applied[idx] += 1
        if r.stacking == "exclusive":
            stopped[idx] = True

    # ---- proration of recurring first periods
    prorate_adj = np.zeros(n, dtype=np.int64)
    rec = e_rec[e_l]
    pr_m = ok & (rec > 0) & e_prorate[e_l]
    if pr_m.any():
        pi = np.nonzero(pr_m)[0]
        if "service_start" in lines.columns:
            st = lines["service_start"].to_numpy()[pi].astype("datetime64[D]")
            st = np.where(np.isnat(st), np.datetime64(on, "D"), st)
        else:
            st = np.full(len(pi), np.datetime64(on, "D"))
        monthly = rec[pi] == 1
        anchor = np.where(monthly, st.astype("datetime64[M]").astype("datetime64[D]"), st.astype("datetime64[Y]").astype("datetime64[D]"))
        nxt = np.where(monthly, (st.astype("datetime64[M]") + 1).astype("datetime64[D]"),
                       (st.astype("datetime64[Y]") + 1).astype("datetime64[D]"))
        days = (nxt - st).astype(np.int64)
        pdays = (nxt - anchor).astype(np.int64)
        part = days < pdays
        pi, days, pdays = pi[part], days[part], pdays[part]
        run = running[pi]
        prorated = round_div(run * days, pdays)
        prorate_adj[pi] = prorated - run
        running[pi] = prorated

    # ---- tax
    subtotal = running
    cat_vals, cat_code = _codes(pl.Series([a.tax_category for a in cats]), "tax_category")
    combo = juris_code.astype(np.int64) * len(cat_vals) + cat_code[item_code]
    rate_s = np.zeros(n, dtype=np.int64)
    for c in np.unique(combo[ok & ~exempt[cust_code]]):
        country, reg = juris_vals[c // len(cat_vals)].split("|")
        cat = cat_vals[c % len(cat_vals)]
        tr = book.tax_rate(country, reg or None, cat, on)
        if tr is None:
            raise ValidationError(f"no tax rate for region {reg!r}, tax category {cat!r} on {on}", field="country", value=country)
        sel = (combo == c) & ~exempt[cust_code]
        rate_s[sel] = _scaled(tr.rate, RS)
    incl = e_incl[e_l]
    tax = np.where(incl, round_div(subtotal * rate_s, RS + rate_s), round_div(subtotal * rate_s, RS))
    net = np.where(incl, subtotal - tax, subtotal)
    total = np.where(incl, subtotal, subtotal + tax)

    refs = list(list_refs)
    out = pl.DataFrame({
        "order": lines["order"].cast(pl.String),
        "line": lines["line"].cast(pl.String) if "line" in lines.columns else _line_numbers(lines),
        "item": lines["item"].cast(pl.String),
        "price_list": pl.Series(refs, dtype=pl.String).gather(entry_list[e_l]),
        "list_amount": list_amt, "tier_adjustment": tier_adj, "rule_adjustment": rule_adj,
        "proration_adjustment": prorate_adj, "subtotal": subtotal, "net": net, "tax": tax, "total": total,
        "rules_applied": n_applied,
    })
    if fallback.size:
        out = _fallback(book, lines, out, parties, fallback, order_vals, order_code, on=on, currency=currency)
    oc = pl.Series("oc", order_code)
    orders = (out.select(pl.col("net"), pl.col("tax"), pl.col("total")).with_columns(oc)
              .group_by("oc").agg(pl.all().sum()).sort("oc")
              .with_columns(pl.Series("order", order_vals)).select("order", "net", "tax", "total"))
    return BatchPrice(currency, mu, out, orders, int(fallback.size))


@dataclasses.dataclass(frozen=True)
class _CompiledList:
    """A price list version's entries as int64 arrays (prices x 10^(minor unit + 4), quantities x 10^3)."""

    items: list[str]
    unit: np.ndarray
    maxp: np.ndarray
    mode: np.ndarray      # 0 none, 1 graduated, 2 volume
    rec: np.ndarray       # 0 none, 1 monthly, 2 yearly
    prorate: np.ndarray
    t_from: np.ndarray    # [entries, tiers + 1], base tier from 0, padded with int64 max
    t_price: np.ndarray
    tax_inclusive: bool


def _compiled(book: PriceBook, plo, pscale: int) -> _CompiledList:
    key = ("batch", plo.ref, plo.currency, pscale)
    got = book.derived.get(key)
    if got is not None:
        return got
    entries = list(plo.entries.values())
    ne = len(entries)
    max_t = max((len(e.tiers) for e in entries), default=0) + 1
    t_from = np.full((ne, max_t), np.iinfo(np.int64).max, dtype=np.int64)
    t_price = np.zeros((ne, max_t), dtype=np.int64)
    mode = np.zeros(ne, dtype=np.int8)
    rec = np.zeros(ne, dtype=np.int8)
    prorate = np.zeros(ne, dtype=bool)
    modes = {"none": 0, "graduated": 1, "volume": 2}
    for k, e in enumerate(entries):
        t_from[k, 0] = 0
        t_price[k, 0] = _scaled(e.unit_price, pscale)
        for j, t in enumerate(e.tiers, start=1):
            t_from[k, j] = _scaled(t.from_qty, QS)
            t_price[k, j] = _scaled(t.unit_price, pscale)
        mode[k] = modes[e.tier_mode]
        if e.recurring is not None:
            rec[k] = 1 if e.recurring.period == "monthly" else 2
            prorate[k] = e.recurring.prorate
    got = _CompiledList([e.item for e in entries], t_price[:, 0].copy(), t_price.max(axis=1) if ne else np.zeros(0, np.int64),
                        mode, rec, prorate, t_from, t_price, plo.tax_inclusive)
    book.derived[key] = got
    return got


def _line_numbers(lines: pl.DataFrame) -> pl.Series:
    """``1, 2, ...`` within each order, in input order (the line ids when the input has no ``line`` column)."""
    return lines.select((pl.int_range(pl.len()).over("order") + 1).cast(pl.String).alias("line"))["line"]


def _fallback(book: PriceBook, lines: pl.DataFrame, out: pl.DataFrame, parties: Mapping[str, Party], fallback: np.ndarray,
              order_vals: list, order_code: np.ndarray, *, on: dt.date, currency: str) -> pl.DataFrame:
    """Price the orders whose amounts could leave int64 with ``price_order`` and write their lines into ``out``."""
    mu = minor_unit(currency)
    cols = {c: out[c].to_list() for c in out.columns}
    rows = np.nonzero(np.isin(order_code, fallback))[0]
    by_order: dict[int, list[int]] = {}
    for i in rows:
        by_order.setdefault(int(order_code[i]), []).append(int(i))
    has_line = "line" in lines.columns
    for oc, idx in by_order.items():
        first = lines.row(idx[0], named=True)
        reqs = []
        for i in idx:
            r = lines.row(i, named=True)
            q = r["qty"]
            reqs.append(LineRequest(str(r["line"]) if has_line else cols["line"][i], r["item"],
                                    qty_of(repr(q) if isinstance(q, float) else q), r.get("service_start")))
        req = OrderRequest(order_vals[oc], parties[first["customer"]], first["country"].upper(), tuple(reqs),
                           (first.get("region") or None) and first["region"].upper(), currency)
        got = price_order(book, req, on=on)

        def minor(m) -> int:
            return int(m.amount.scaleb(mu))

        for i, w in zip(idx, got.lines, strict=True):
            adj = {"tier": 0, "rule": 0, "proration": 0}
            for a in w.adjustments:
                adj[a.kind] += minor(a.amount)
            for c, v in (("price_list", w.price_list), ("list_amount", minor(w.list_amount)), ("tier_adjustment", adj["tier"]),
                         ("rule_adjustment", adj["rule"]), ("proration_adjustment", adj["proration"]),
                         ("subtotal", minor(w.subtotal)), ("net", minor(w.net)), ("tax", minor(w.tax)), ("total", minor(w.total)),
                         ("rules_applied", sum(a.kind == "rule" for a in w.adjustments))):
                cols[c][i] = v
    return pl.DataFrame(cols, schema=out.schema)
