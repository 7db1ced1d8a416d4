// promessa planner console: vanilla JS over the /v1 API (no build step, no outside assets).
//
// One page, several views chosen by the address's fragment:
//   #/                      overview: KPIs, jeopardy, exceptions (with drill-down), reports
//   #/orders/ID             one order: lines, promise and pegging, pricing waterfall, margin with program income,
//                           payments, process, audit
//   #/atp/ITEM/LOCATION     time-phased ATP of an item-location, with a chart
//   #/processes  #/channel  orchestration processes; channel programs, accruals and claims
//   #/analytics             customer-journey analytics: retention by cohort, repeat purchase, RFM segments, cross-sell
// Jeopardy, exceptions and the drill-down are filtered and paged by the server (limit/offset).
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

function qs(obj) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) if (v !== null && v !== undefined && v !== "") p.set(k, v);
  const s = p.toString();
  return s ? "?" + s : "";
}

// Every data route needs an API key (role viewer or planner). It comes from the address's fragment
// (#key=... or #/orders/ID&key=..., never sent to the server and removed from the address bar at once) or the
// key field, and is kept for this tab only (sessionStorage).
const KEY_STORE = "promessa.apiKey";

function takeKeyFromFragment() {
  const m = location.hash.match(/(?:^#|&)key=([^&]+)/);
  if (m) {
    sessionStorage.setItem(KEY_STORE, decodeURIComponent(m[1]));
    const rest = location.hash.replace(m[0], "").replace(/^#&?/, "");
    history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
  }
}

function apiHeaders(accept) {
  const h = { Accept: accept };
  const k = sessionStorage.getItem(KEY_STORE);
  if (k) h["X-API-Key"] = k;
  return h;
}

class ApiError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}

async function apiFetch(path, query, accept) {
  const r = await fetch(path + qs(query || {}), { headers: apiHeaders(accept) });
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    if (r.status === 401) msg += ": enter an API key (viewer or planner) above";
    try { const b = await r.json(); msg += ": " + (typeof b.detail === "string" ? b.detail : JSON.stringify(b.detail)); } catch (e) { /* not JSON */ }
    throw new ApiError(r.status, msg);
  }
  return r;
}

async function getJSON(path, query) {
  return (await apiFetch(path, query, "application/json")).json();
}

async function getBlobURL(path, query, accept) {
  return URL.createObjectURL(await (await apiFetch(path, query, accept)).blob());
}

// ------------------------------------------------------------------ small DOM helpers

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function cell(tr, value, cls, label) {
  const td = document.createElement("td");
  if (value instanceof Node) td.appendChild(value);
  else td.textContent = value === null || value === undefined || value === "" ? "–" : String(value);
  if (cls) td.className = cls;
  td.dataset.label = label || tr.closest("table")?.querySelectorAll("thead th")[tr.children.length]?.textContent || "";
  tr.appendChild(td);
  return td;
}

// Rows are appended to their tbody before their cells, so each cell can take its column's name as a label
// (narrow screens show tables of class "cards" as one card per row, each value with its label).
function row(tbody, attrs) {
  const tr = el("tr", attrs);
  tbody.appendChild(tr);
  return tr;
}

function levelCell(tr, level) {
  cell(tr, el("span", { class: "level level-" + level, text: level }));
}

function link(href, text, cls) { return el("a", { href: href, text: text, class: cls || "" }); }
function orderLink(id) { return link("#/orders/" + encodeURIComponent(id), id, "order-link"); }
function atpLink(item, loc) {
  if (!item || !loc) return item || "–";
  return link("#/atp/" + encodeURIComponent(item) + "/" + encodeURIComponent(loc), item + " @ " + loc, "atp-link");
}

const NUM = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
function fmt(v) { return typeof v === "number" ? NUM.format(v) : v; }
function money(m) { return m ? Number(m.amount).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 6 }) + " " + m.currency : "–"; }
function when(ts) { return ts ? String(ts).slice(0, 16).replace("T", " ") : "–"; }

function table(head, rows, cls) {
  const t = el("table", { class: cls || "" });
  const hr = el("tr");
  for (const h of head) hr.appendChild(el("th", { text: h }));
  t.append(el("thead", {}, hr));
  const tbody = el("tbody");
  t.append(tbody);
  for (const r of rows) { const tr = row(tbody); for (const v of r) cell(tr, v); }
  return el("div", { class: "scroll" }, t);
}

function note(box, text, cls) { box.appendChild(el("p", { class: "note " + (cls || ""), text: text })); }

function today() { return $("today").value || null; }

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

// ------------------------------------------------------------------ paging

// A pager over a server-paged list: state {offset, limit}; `render(total)` shows "1–25 of 200" and enables
// the buttons; a click moves the offset and calls `load`.
function pager(id, load) {
  const box = $(id);
  const st = { offset: 0, limit: Number(box.querySelector(".page-size").value), total: 0 };
  box.querySelectorAll("button").forEach((b) => b.addEventListener("click", () => {
    st.offset = Math.max(0, st.offset + Number(b.dataset.step) * st.limit);
    load().catch(fail);
  }));
  box.querySelector(".page-size").addEventListener("change", (e) => { st.limit = Number(e.target.value); st.offset = 0; load().catch(fail); });
  st.render = (total) => {
    st.total = total;
    const last = Math.min(total, st.offset + st.limit);
    box.querySelector(".page-info").textContent = total ? (st.offset + 1) + "–" + last + " of " + NUM.format(total) : "none";
    box.querySelector('[data-step="-1"]').disabled = st.offset <= 0;
    box.querySelector('[data-step="1"]').disabled = last >= total;
  };
  return st;
}

// ------------------------------------------------------------------ overview

let LEVELS = [];
let jeoPage, excPage, drillPage;
let drillKey = null;

function fillLevelSelect(sel, levels) {
  if (sel.options.length > 1) return;
  for (const l of levels) sel.appendChild(el("option", { value: l, text: l }));
}

async function loadJeopardy() {
  const body = await getJSON("jeopardy", {
    today: today(), level: $("jeo-level").value, customer: $("jeo-customer").value.trim(),
    order: $("jeo-order").value.trim(), limit: jeoPage.limit, offset: jeoPage.offset,
  });
  if (!$("today").value) $("today").value = body.today;
  LEVELS = body.levels;
  fillLevelSelect($("jeo-level"), body.levels);
  fillLevelSelect($("drill-level"), body.levels);
  const counts = $("jeopardy-counts");
  counts.replaceChildren();
  for (const l of body.levels) {
    const b = el("button", { type: "button", class: "chip level-" + l, text: l + ": " + (body.counts[l] || 0) });
    b.addEventListener("click", () => { $("jeo-level").value = $("jeo-level").value === l ? "" : l; jeoPage.offset = 0; loadJeopardy().catch(fail); });
    counts.append(b, " ");
  }
  const tbody = $("jeopardy-list");
  tbody.replaceChildren();
  for (const o of body.orders) {
    const tr = row(tbody, { class: "jeopardy-row" });
    tr.dataset.order = o.order_id;
    tr.dataset.level = o.level;
    cell(tr, orderLink(o.order_id), "order");
    cell(tr, o.customer);
    cell(tr, o.status);
    levelCell(tr, o.level);
    cell(tr, o.days_late, "num days-late");
    cell(tr, o.promised_completion);
    cell(tr, o.expected_completion);
    cell(tr, o.reason_text, "reason").title = o.reason;
  }
  jeoPage.render(body.total);
  // cash: invoices unpaid past their terms and returns not received by their day (all customers, worst first)
  const cash = body.cash || [];
  const cashTotal = Object.values(body.cash_counts || {}).reduce((a, n) => a + n, 0);
  $("cash-note").textContent = cashTotal ? NUM.format(cashTotal) + " past due" + (cashTotal > cash.length ? " (the first " + cash.length + " shown)" : "")
    : "no invoice unpaid past its terms, no return overdue";
  const cb = $("cash-list");
  cb.replaceChildren();
  for (const c of cash) {
    const tr = row(cb, { class: "cash-row" });
    cell(tr, orderLink(c.order_id), "order"); cell(tr, c.customer); cell(tr, c.kind); cell(tr, c.ref); cell(tr, c.due_date);
    cell(tr, c.days_late, "num"); levelCell(tr, c.level); cell(tr, money(c.amount), "num"); cell(tr, c.reason_text + (c.detail ? " · " + c.detail : ""), "reason");
  }
  return body;
}

async function loadKpis() {
  const [j, e] = await Promise.all([getJSON("jeopardy", { today: today(), limit: 1 }), getJSON("exceptions", { today: today(), limit: 1 })]);
  const put = (id, v) => { $(id).querySelector("b").textContent = NUM.format(v); };
  put("kpi-open", j.total);
  for (const l of ["critical", "warning", "watch", "ok"]) if ($("kpi-" + l)) put("kpi-" + l, j.counts[l] || 0);
  put("kpi-exc", e.total_lines);
  $("kpi-exc").querySelector("span").textContent = "exception lines in " + NUM.format(e.total_orders) + " orders";
  try {
    const p = await getJSON("jeopardy/processes", { limit: 1000 });
    put("kpi-proc", p.alerts.length);
  } catch (err) {
    $("kpi-proc").querySelector("b").textContent = "–";
    $("kpi-proc").title = err.message;
  }
}

async function loadExceptions() {
  const by = $("exc-by").value;
  const body = await getJSON("exceptions", { by: by, today: today(), limit: excPage.limit, offset: excPage.offset });
  $("exc-total").textContent = NUM.format(body.total_lines) + " lines in " + NUM.format(body.total_orders) +
    " orders (at risk from level " + body.at_risk_level + ")";
  const tbody = $("exceptions-list");
  tbody.replaceChildren();
  for (const r of body.data) {
    const tr = row(tbody, { class: "clickable exception-row" });
    tr.dataset.key = r.key;
    cell(tr, r.key, "key");
    cell(tr, r.orders, "num");
    cell(tr, r.lines, "num");
    cell(tr, r.backorder_lines, "num");
    cell(tr, r.at_risk_lines, "num");
    cell(tr, fmt(r.backordered_qty), "num");
    cell(tr, fmt(r.value), "num");
    levelCell(tr, r.worst_level);
    tr.addEventListener("click", () => { drillKey = { by: by, key: r.key }; drillPage.offset = 0; drill().catch(fail); });
  }
  excPage.render(body.total_keys ?? body.data.length);
}

async function drill() {
  if (!drillKey) return;
  const { by, key } = drillKey;
  const body = await getJSON("exceptions/lines", {
    by: by, key: key, today: today(), kind: $("drill-kind").value, level: $("drill-level").value,
    limit: drillPage.limit, offset: drillPage.offset,
  });
  $("drill-box").hidden = false;
  $("drill-title").textContent = by + " " + key + ": " + NUM.format(body.total ?? body.count) + " lines";
  const tbody = $("drill-list");
  tbody.replaceChildren();
  for (const l of body.data) {
    const tr = row(tbody, { class: "drill-row" });
    cell(tr, orderLink(l.order_id), "order");
    cell(tr, l.line, "num");
    cell(tr, atpLink(l.item, l.location));
    cell(tr, l.kind);
    cell(tr, fmt(l.open_qty), "num");
    cell(tr, fmt(l.backordered_qty), "num");
    levelCell(tr, l.level);
    cell(tr, l.reason_text, "reason");
  }
  drillPage.render(body.total ?? body.count);
}

function reportQuery(format) {
  return { metric: $("rep-metric").value, start: $("rep-start").value, end: $("rep-end").value, top: 10, format: format };
}

async function loadReport() {
  const kind = $("rep-kind").value;
  const body = await getJSON("reports/" + kind, reportQuery("json"));
  const head = $("report-head");
  head.replaceChildren();
  const htr = el("tr");
  for (const c of body.columns) htr.appendChild(el("th", { text: c }));
  head.appendChild(htr);
  const tbody = $("report-list");
  tbody.replaceChildren();
  for (const r of body.data) {
    const tr = row(tbody);
    for (const c of body.columns) cell(tr, fmt(r[c]), typeof r[c] === "number" ? "num" : "");
  }
  const old = $("report-chart").src;
  $("report-chart").src = await getBlobURL("reports/" + kind, reportQuery("png"), "image/png");
  if (old && old.startsWith("blob:")) URL.revokeObjectURL(old);
}

async function downloadCSV() {
  const kind = $("rep-kind").value;
  const a = document.createElement("a");
  a.href = await getBlobURL("reports/" + kind, reportQuery("csv"), "text/csv");
  a.download = kind + ".csv";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

async function loadOverview() {
  await loadJeopardy();
  await Promise.all([loadKpis(), loadExceptions(), loadReport(), drill()]);
}

// ------------------------------------------------------------------ item-location ATP

let catalogue = null;

async function loadCatalogue() {
  if (catalogue) return catalogue;
  catalogue = await getJSON("console/catalogue", { limit: 2000 });
  const items = $("atp-items"), locs = $("atp-locations");
  items.replaceChildren(); locs.replaceChildren();
  for (const i of catalogue.items) items.appendChild(el("option", { value: i }));
  for (const l of catalogue.locations) locs.appendChild(el("option", { value: l }));
  return catalogue;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function niceStep(span, n) {
  const raw = span / Math.max(1, n);
  const p = Math.pow(10, Math.floor(Math.log10(raw || 1)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

// The chart: available to promise (a filled step: what a new order can take from each day), the cumulative
// position C[t] (a line) and supply receipts (bars), over the days of the horizon; a legend above the plot.
function atpChart(body) {
  const rows = body.data;
  const fig = $("atp-chart");
  fig.replaceChildren();
  if (!rows.length) return;
  const W = Math.max(320, Math.min(900, fig.clientWidth || 720)), H = W < 500 ? 220 : 260, L = 52, R = 24, T = W < 500 ? 44 : 30, B = 40;
  const xs = (i) => L + (i / Math.max(1, rows.length - 1)) * (W - L - R);
  const vals = rows.flatMap((r) => [r.cumulative, r.available, r.supply]);
  let lo = Math.min(0, ...vals), hi = Math.max(1, ...vals);
  const step = niceStep(hi - lo, 5);
  lo = Math.floor(lo / step) * step; hi = Math.ceil(hi / step) * step;
  const ys = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "ATP of " + body.item + " at " + body.location });
  for (let v = lo; v <= hi + 1e-9; v += step) {
    s.append(svg("line", { x1: L, x2: W - R, y1: ys(v), y2: ys(v), class: "grid" }));
    s.append(svg("text", { x: L - 6, y: ys(v) + 4, "text-anchor": "end", class: "tick" }, NUM.format(v)));
  }
  s.append(svg("text", { x: 12, y: (T + H - B) / 2, transform: `rotate(-90 12 ${(T + H - B) / 2})`, "text-anchor": "middle", class: "axis" }, "units"));
  const nt = Math.min(6, rows.length);
  for (let k = 0; k < nt; k++) {
    const i = Math.round(k * (rows.length - 1) / Math.max(1, nt - 1));
    s.append(svg("text", { x: xs(i), y: H - B + 16, "text-anchor": "middle", class: "tick" }, rows[i].date.slice(5)));
  }
  s.append(svg("text", { x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle", class: "axis" }, "day (" + rows[0].date.slice(0, 4) + ")"));
  const bw = Math.max(2, (W - L - R) / rows.length * 0.6);
  rows.forEach((r, i) => {
    if (r.supply > 0) s.append(svg("rect", { x: xs(i) - bw / 2, y: ys(r.supply), width: bw, height: ys(0) - ys(r.supply), class: "supply" }));
  });
  let d = `M ${xs(0)} ${ys(0)}`;
  rows.forEach((r, i) => { d += ` L ${xs(i)} ${ys(r.available)}` + (i + 1 < rows.length ? ` L ${xs(i + 1)} ${ys(r.available)}` : ""); });
  d += ` L ${xs(rows.length - 1)} ${ys(0)} Z`;
  s.append(svg("path", { d: d, class: "available" }));
  let c = "";
  rows.forEach((r, i) => { c += (i ? " L " : "M ") + xs(i) + " " + ys(r.cumulative) + (i + 1 < rows.length ? " L " + xs(i + 1) + " " + ys(r.cumulative) : ""); });
  s.append(svg("path", { d: c, class: "cumulative" }));
  s.append(svg("line", { x1: L, x2: W - R, y1: ys(0), y2: ys(0), class: "zero" }));
  const legend = [["available", "available to promise"], ["cumulative", "cumulative position"], ["supply", "supply received"]];
  const perRow = W < 500 ? 2 : 3;  // above the plot, never over it
  legend.forEach(([cls, text], k) => {
    const x = L + (k % perRow) * 180, y = 8 + Math.floor(k / perRow) * 16;
    s.append(svg("rect", { x: x, y: y, width: 14, height: 10, class: "key-" + cls }));
    s.append(svg("text", { x: x + 20, y: y + 9, class: "legend" }, text));
  });
  fig.append(s);
  fig.append(el("figcaption", { text: atpSentence(body) }));
}

function atpSentence(body) {
  const rows = body.data;
  const first = rows[0];
  const receipts = rows.filter((r) => r.supply > 0 && r.date > first.date);
  const worst = rows.reduce((a, r) => (r.cumulative < a.cumulative ? r : a), first);
  let s = NUM.format(first.available) + " units of " + body.item + " at " + body.location + " can be promised on " + first.date + ".";
  if (receipts.length) {
    s += " Next receipt: " + NUM.format(receipts[0].supply) + " on " + receipts[0].date + "; " + NUM.format(receipts.reduce((a, r) => a + r.supply, 0)) +
      " units arrive within the horizon.";
  } else s += " No further receipt within the horizon.";
  if (worst.cumulative < 0) s += " Short by " + NUM.format(-worst.cumulative) + " units on " + worst.date + ": demand exceeds supply there.";
  return s;
}

async function loadAtp(item, loc) {
  await loadCatalogue();
  if (!item || !loc) {
    item = $("atp-item").value || params.get("item") || (catalogue.item_locations[0] || [])[0];
    loc = $("atp-location").value || params.get("location") || (catalogue.item_locations[0] || [])[1];
  }
  if (!item || !loc) return;
  $("atp-item").value = item;
  $("atp-location").value = loc;
  $("atp-title").textContent = "Time-phased ATP · " + item + " @ " + loc;
  const body = await getJSON("console/atp/" + encodeURIComponent(item) + "/" + encodeURIComponent(loc), {});
  atpChart(body);
  const tbody = $("atp-list");
  tbody.replaceChildren();
  for (const r of body.data) {
    if (!r.supply && !r.demand && !r.committed && r.date !== body.as_of) continue;  // only days where something happens
    const tr = row(tbody);
    cell(tr, r.date);
    for (const c of ["supply", "demand", "committed", "cumulative", "available", "discrete_atp"]) cell(tr, fmt(r[c]), "num");
  }
  // the order lines of this item at this location (what the commitments above are), each linked to its order
  const orders = await getJSON("orders", { item: item, limit: 100 });
  const ob = $("atp-orders");
  ob.replaceChildren();
  let n = 0;
  for (const o of orders.data) {
    for (const ln of o.lines.filter((l) => l.item === item && l.location === loc)) {
      const tr = row(ob, { class: "atp-order" });
      cell(tr, orderLink(o.order_id), "order"); cell(tr, o.customer); cell(tr, o.status); cell(tr, ln.line, "num");
      cell(tr, fmt(ln.qty), "num"); cell(tr, ln.requested_date);
      cell(tr, ln.schedule.map((x) => fmt(x.qty) + " on " + x.date).join(", ")); cell(tr, fmt(ln.shipped_qty), "num");
      n += 1;
    }
  }
  $("atp-orders-title").textContent = "Order lines here: " + n + (orders.total > orders.data.length ? " (of the first " + orders.data.length + " orders with " + item + ")" : "");
}

// ------------------------------------------------------------------ processes (orchestration)

function hours(seconds) { return (seconds / 3600).toFixed(1); }

function lateText(seconds) { return seconds > 0 ? "late " + hours(seconds) + " h" : "on time"; }

// the message log: outbox order, (order,) kind, addressee, line, the step that sent it, written, published or waiting
function messageLog(tbody, messages, withOrder) {
  for (const m of messages) {
    const tr = row(tbody, { class: "proc-message" + (m.published ? "" : " waiting") });
    tr.dataset.seq = m.seq;
    cell(tr, m.seq, "num");
    if (withOrder) cell(tr, orderLink(m.order), "order");
    cell(tr, m.kind); cell(tr, m.system); cell(tr, m.line); cell(tr, m.step);
    cell(tr, when(m.created_at)); cell(tr, m.published ? when(m.published_at) : "waiting");
  }
}

async function loadProcesses() {
  const tbody = $("proc-alerts");
  for (const id of ["proc-alerts", "proc-defs", "proc-running", "proc-log"]) $(id).replaceChildren();
  $("proc-running-note").textContent = "";
  let body;
  try {
    body = await getJSON("jeopardy/processes", { limit: 200 });
  } catch (err) {
    $("proc-note").textContent = "processes unavailable: " + (err.message || err);
    return;
  }
  $("proc-note").textContent = body.alerts.length + " late or failed steps";
  for (const a of body.alerts) {
    const tr = row(tbody, { class: "proc-alert" });
    tr.dataset.order = a.order;
    cell(tr, orderLink(a.order), "order");
    cell(tr, a.line);
    cell(tr, a.process + " v" + a.version);
    cell(tr, a.step);
    cell(tr, a.system);
    cell(tr, hours(a.late_s), "num");
    cell(tr, a.reason);
    cell(tr, when(a.raised_at));
  }
  // every order's running process: its current step, due time, late or on time (the latest first)
  const running = await getJSON("process-instances", { limit: 200 });
  $("proc-running-note").textContent = running.processes.length + " running · " + running.late + " late";
  for (const r of running.processes) {
    const tr = row($("proc-running"), { class: "proc-running" + (r.late_s > 0 ? " late" : "") });
    tr.dataset.order = r.order;
    cell(tr, orderLink(r.order), "order"); cell(tr, r.line); cell(tr, r.process + " v" + r.version);
    cell(tr, r.step); cell(tr, r.system); cell(tr, when(r.due_at)); cell(tr, lateText(r.late_s), "lateness");
  }
  messageLog($("proc-log"), (await getJSON("process-messages", { limit: 50 })).messages, true);
  const defs = await getJSON("processes", {});
  for (const p of defs.processes) {
    const tr = row($("proc-defs"));
    cell(tr, p.name); cell(tr, "v" + p.latest); cell(tr, p.versions.join(", ")); cell(tr, p.steps.join(" → "));
  }
}

async function orderProcesses(order, box) {
  const body = await getJSON("orders/" + encodeURIComponent(order) + "/processes", {});
  if (!body.processes.length) note(box, "no process for this order");
  for (const pr of body.processes) {
    const h = el("h4", { class: "proc-instance" });
    h.dataset.step = pr.step || "";
    h.textContent = (pr.line ? "line " + pr.line + " · " : "") + pr.process + " v" + pr.version + " · " + pr.status +
      (pr.step ? " · now: " + pr.step + " (" + pr.system + ")" : "");
    if (pr.late_s > 0) {
      h.classList.add("late");
      h.append(" ", el("span", { class: "late-badge", text: "LATE " + hours(pr.late_s) + " h" }));
    }
    box.appendChild(h);
    if (pr.step && pr.status === "active") {
      box.appendChild(el("p", { class: "proc-due" + (pr.late_s > 0 ? " late" : ""),
        text: pr.step + " started " + when(pr.step_started_at) + " · due " + when(pr.due_at) + " · " + lateText(pr.late_s) }));
    }
    box.appendChild(table(["at", "step", "what"],
      pr.history.map((e) => [when(e.at), e.step || "", e.what + (e.who ? " by " + e.who : "")]), "proc-history"));
  }
  if (body.messages.length) {
    box.appendChild(el("h4", { text: "Message log (" + body.messages.length + ")" }));
    const t = table(["#", "message", "to", "line", "step", "written", "published"], [], "proc-messages cards");
    messageLog(t.querySelector("tbody"), body.messages, false);
    box.appendChild(t);
  }
  if (body.documents.length) {
    box.appendChild(table(["document", "kind", "step", "attached by", "sha256"],
      body.documents.map((d) => [d.filename, d.kind, d.step, d.attached_by, d.sha256.slice(0, 12)])));
  }
}

// ------------------------------------------------------------------ channel

function rowsTable(headId, bodyId, rows) {
  const head = $(headId), tbody = $(bodyId);
  head.replaceChildren(); tbody.replaceChildren();
  if (!rows.length) { const tr = row(tbody); cell(tr, "none"); return; }
  const cols = Object.keys(rows[0]);
  const htr = el("tr");
  for (const c of cols) htr.appendChild(el("th", { text: c.replace(/_/g, " ") }));
  head.appendChild(htr);
  const decimal = (v) => typeof v === "string" && /^-?\d+\.\d+$/.test(v);  // exact amounts come as decimal strings
  for (const r of rows) {
    const tr = row(tbody);
    for (const c of cols) {
      const v = r[c];
      cell(tr, decimal(v) ? Number(v).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 4 }) : fmt(v),
        decimal(v) || typeof v === "number" ? "num" : "");
    }
  }
}

async function loadChannel() {
  let programs;
  try {
    programs = await getJSON("channel/programs", {});
  } catch (err) {
    $("chan-note").textContent = "channel programs unavailable: " + (err.message || err);
    return;
  }
  const [report, aging] = await Promise.all([getJSON("channel/reports", {}), getJSON("channel/aging", {})]);
  $("chan-note").textContent = programs.count + " programs, " + report.count + " report rows, " + aging.count + " open claims";
  const tbody = $("chan-programs");
  tbody.replaceChildren();
  for (const p of programs.data) {
    const tr = row(tbody);
    const scope = ["items", "brands", "categories", "customers"].filter((k) => p[k] && p[k].length).map((k) => k + ": " + p[k].join(", "));
    cell(tr, p.program); cell(tr, p.supplier); cell(tr, p.kind); cell(tr, (p.valid_from || "…") + " – " + (p.valid_to || "…"));
    cell(tr, scope.join("; ") || "everything");
  }
  rowsTable("chan-report-head", "chan-report", report.data);
  rowsTable("chan-aging-head", "chan-aging", aging.data);
}

// ------------------------------------------------------------------ one order

function fact(dl, name, value) {
  dl.append(el("div", { class: "fact" }, el("dt", { text: name }),
    el("dd", {}, value === null || value === undefined || value === "" ? "–" : value)));
}

function waterfall(ln) {
  const w = ln.waterfall;
  const rows = [["list price", w.price_list + ": " + money(w.unit_list_price) + " × " + fmt(Number(w.qty)), money(w.list_amount)]];
  for (const a of w.adjustments) rows.push([a.kind + (a.rule ? " " + a.rule : ""), (a.basis || "") + (a.reason ? " (" + a.reason + ")" : ""), money(a.amount)]);
  rows.push(["net", (w.adjustments.length ? "list price with the adjustments" : "the list price") + (w.tax_inclusive ? ", tax included" : ""), money(w.net)]);
  rows.push(["tax", w.tax_rule + " at " + (Number(w.tax_rate) * 100).toLocaleString("en-US", { maximumFractionDigits: 4 }) + "%", money(w.tax)]);
  rows.push(["total", w.tax_inclusive ? "net (tax included)" : "net + tax", money(w.total)]);
  const t = table(["step", "how", "amount"], rows, "waterfall");
  t.querySelectorAll("tbody tr").forEach((tr, i) => { tr.dataset.step = rows[i][0]; tr.lastChild.classList.add("num"); });
  return t;
}

// One line's margin: its waterfall down to net, cost, gross margin, each program's income (accrued on shipped
// units, quoted for the open ones on the business day) and the margin after program income.
function marginLine(ln) {
  const rows = [];
  const w = ln.waterfall;
  if (w) {
    rows.push(["list price", w.price_list + ": " + money(w.unit_list_price) + " × " + fmt(Number(w.qty)), money(w.list_amount)]);
    for (const a of w.adjustments) rows.push([a.kind + (a.rule ? " " + a.rule : ""), a.basis || "", money(a.amount)]);
  }
  rows.push(["net", fmt(Number(ln.qty)) + " × " + money(ln.unit_net), money(ln.net)]);
  rows.push(["cost", fmt(Number(ln.qty)) + " × " + money(ln.unit_cost), "−" + money(ln.cost)]);
  rows.push(["gross margin", "net − cost", money(ln.gross_margin)]);
  for (const p of ln.programs) {
    const how = [];
    if (Number(p.accrued_qty) || Number(p.accrued.amount)) how.push("accrued " + money(p.accrued) + " on " + fmt(Number(p.accrued_qty)) + " shipped");
    if (Number(p.quoted_qty) || Number(p.quoted.amount)) how.push("quoted " + money(p.quoted) + " on " + fmt(Number(p.quoted_qty)) + " open");
    rows.push(["program " + p.program, p.kind.replaceAll("_", " ") + " (" + p.supplier + "): " + how.join(", "), money(p.total)]);
  }
  rows.push(["margin", "gross margin + program income", money(ln.margin)]);
  const t = table(["step", "how", "amount"], rows, "margin");
  t.querySelectorAll("tbody tr").forEach((tr, i) => {
    tr.dataset.step = rows[i][0].startsWith("program ") ? "program" : rows[i][0];
    if (rows[i][0].startsWith("program ")) tr.dataset.program = rows[i][0].slice(8);
    tr.lastChild.classList.add("num");
  });
  return t;
}

async function orderMargin(id, box) {
  let m;
  try {
    m = await getJSON("orders/" + encodeURIComponent(id) + "/margin", {});
  } catch (err) {
    if (err.status === 403 || err.status === 503) { note(box, "margin unavailable: " + (err.message || err)); return; }
    throw err;
  }
  const dlm = el("dl", { class: "facts margin-totals" });
  for (const k of ["net", "cost", "gross_margin", "program_income", "margin"]) {
    fact(dlm, k.replace("_", " "), el("span", { class: "num", "data-total": k, text: money(m[k]) }));
  }
  fact(dlm, "open units quoted on", m.on);
  box.append(dlm);
  if (m.programs.length) {
    box.append(table(["program", "kind", "supplier", "accrued", "quoted", "total"],
      m.programs.map((p) => [p.program, p.kind.replaceAll("_", " "), p.supplier, money(p.accrued), money(p.quoted), money(p.total)]),
      "margin-programs"));
  } else note(box, "no supplier program applies to this order");
  for (const ln of m.lines) {
    const lb = el("div", { class: "margin-line" });
    lb.dataset.line = ln.line;
    lb.append(el("h4", { text: "line " + ln.line + " · " + ln.item + (ln.supplier ? " · " + ln.supplier : "") }), marginLine(ln));
    box.append(lb);
  }
}

async function section(box, what, fn) {
  box.replaceChildren();
  try {
    await fn();
  } catch (err) {
    note(box, what + " unavailable: " + (err.message || err), err.status === 503 ? "" : "error");
  }
}

async function loadOrder(id) {
  $("order-id").value = id || "";
  for (const b of ["order-head", "order-holds", "order-lines", "order-promises", "order-pricing", "order-margin", "order-money", "order-process", "order-audit"]) $(b).replaceChildren();
  if (!id) { $("order-title").textContent = "Order"; return; }
  const o = await getJSON("orders/" + encodeURIComponent(id), {});
  $("order-title").textContent = "Order " + o.order_id;
  const dl = $("order-head");
  fact(dl, "customer", o.customer);
  fact(dl, "status", el("span", { class: "order-status", text: o.status }));
  fact(dl, "demand class", o.demand_class);
  fact(dl, "ship to", [o.zone, o.ship_country, o.ship_region].filter(Boolean).join(" · "));
  fact(dl, "created", when(o.created_at) + (o.created_by ? " by " + o.created_by : ""));
  fact(dl, "source", [o.source_system, o.source_order_id].filter(Boolean).join(" "));
  if (o.order_type) fact(dl, "order type", o.order_type);
  if (o.ship_method) fact(dl, "ship method", o.ship_method);
  if (o.totals) {
    fact(dl, "net", money(o.totals.net));
    fact(dl, "tax", money(o.totals.tax));
    fact(dl, "total", el("b", { id: "order-total", text: money(o.totals.total) }));
    fact(dl, "priced on", o.totals.on + (o.totals.frozen ? " (frozen)" : ""));
  }
  try {  // where the order stands on the business day (open orders only)
    const j = await getJSON("jeopardy", { today: today(), order: o.order_id, limit: 5 });
    const mine = j.orders.find((x) => x.order_id === o.order_id);
    if (mine) {
      fact(dl, "jeopardy", el("span", {}, el("span", { class: "level level-" + mine.level, text: mine.level }),
        " " + (mine.days_late === null ? "" : mine.days_late + " days late · ") + mine.reason_text + " (as of " + j.today + ")"));
    }
  } catch (err) {
    if (err.status !== 403) throw err;  // a role without planning reads sees the order without its jeopardy
  }
  if (o.holds.length) {
    const ul = el("ul", { class: "holds" });
    for (const h of o.holds) ul.append(el("li", { text: "hold " + h.code + ": " + h.message }));
    $("order-holds").append(ul);
  }
  const lines = $("order-lines");
  for (const ln of o.lines) {
    const tr = row(lines, { class: "order-line" });
    tr.dataset.line = ln.line;
    cell(tr, ln.line, "num");
    cell(tr, atpLink(ln.item, ln.location));
    cell(tr, fmt(ln.qty), "num");
    cell(tr, ln.requested_date);
    cell(tr, fmt(ln.promised_qty), "num");
    cell(tr, fmt(ln.backordered_qty), "num");
    cell(tr, fmt(ln.shipped_qty), "num");
    cell(tr, fmt(ln.delivered_qty), "num");
    cell(tr, ln.schedule.map((s) => fmt(s.qty) + " on " + s.date + (s.item ? " (" + s.item + ")" : "")).join(", "));
  }
  const pro = $("order-promises");
  for (const ln of o.lines) {
    const p = ln.promise;
    const box = el("div", { class: "promise" });
    box.dataset.line = ln.line;
    box.append(el("h4", { text: "line " + ln.line + " · " + ln.item + (ln.location ? " @ " + ln.location : "") }));
    if (!p) { note(box, "no promise on this line"); pro.append(box); continue; }
    box.append(el("p", { class: "promise-message", text: p.message }));
    box.append(el("p", { class: "counts", text: "status " + p.status + " · binding: " + p.reason + " · " + fmt(p.promised_qty) + " of " + fmt(p.qty) +
      " promised" + (p.short_qty > 0 ? ", " + fmt(p.short_qty) + " short" : "") + (p.earliest_full_date ? " · all by " + p.earliest_full_date : "") +
      (p.source ? " · by " + p.source : "") }));
    if (p.pegs.length) {
      box.append(table(["pegged qty", "supply date", "supply", "ref"], p.pegs.map((g) => [fmt(g.qty), g.supply_date, g.kind, g.ref]), "pegs"));
    }
    pro.append(box);
  }
  const pricing = $("order-pricing");
  const priced = o.lines.filter((ln) => ln.waterfall);
  if (!priced.length) note(pricing, "no priced lines");
  for (const ln of priced) {
    const box = el("div", { class: "price" });
    box.dataset.line = ln.line;
    box.append(el("h4", { text: "line " + ln.line + " · " + ln.item }), waterfall(ln));
    pricing.append(box);
  }
  if (o.totals) note(pricing, "order: net " + money(o.totals.net) + " + tax " + money(o.totals.tax) + " = " + money(o.totals.total), "order-sum");
  await Promise.all([
    section($("order-margin"), "margin", () => orderMargin(id, $("order-margin"))),
    section($("order-money"), "payments, invoices and returns", async () => {
      const box = $("order-money");
      const pay = await getJSON("orders/" + encodeURIComponent(id) + "/payments", {});
      const dlm = el("dl", { class: "facts" });
      fact(dlm, "payment status", pay.status);
      for (const k of ["order_total", "captured", "refunded", "open", "invoiced", "credited"]) fact(dlm, k.replace("_", " "), money(pay[k]));
      box.append(dlm);
      if (pay.payments.length) {
        box.append(table(["payment", "method", "state", "amount", "captured", "refunded"],
          pay.payments.map((p) => [p.payment_id, p.method + " (" + p.provider + ")", p.state, money(p.amount), money(p.captured), money(p.refunded)])));
      }
      const st = await getJSON("invoices", { customer: o.customer });
      const docs = st.documents.filter((b) => b.document.order === o.order_id);
      if (docs.length) {
        box.append(table(["document", "kind", "issued", "due", "credited", "settled", "open"],
          docs.map((b) => [b.document.number, b.document.kind, b.document.issue_date, b.document.due_date, money(b.credited),
            money(b.settled), money(b.open)]), "invoices"));
      } else note(box, "no invoice yet");
      const acc = await getJSON("channel/accruals", { order: o.order_id });
      if (acc.count) {
        box.append(table(["accrual", "program", "supplier", "basis", "amount", "claim"],
          acc.data.map((a) => [a.id, a.program, a.supplier, a.basis, money(a.amount), a.claim]), "accruals"));
      }
      const ret = await getJSON("orders/" + encodeURIComponent(id) + "/returns", {});
      if (ret.count) {
        box.append(table(["return", "line", "item", "qty", "received", "state", "reason", "credit notes"],
          ret.data.map((r) => [r.rma_id, r.line, r.item, fmt(r.qty), fmt(r.received), r.state, r.reason, r.credit_notes.join(", ")])));
      } else note(box, "no returns");
    }),
    section($("order-process"), "processes", () => orderProcesses(id, $("order-process"))),
  ]);
  const audit = await getJSON("orders/" + encodeURIComponent(id) + "/audit", {});
  for (const a of audit.data) {
    const tr = row($("order-audit"), { class: "audit-row" });
    cell(tr, when(a.at)); cell(tr, a.action); cell(tr, a.from_status); cell(tr, a.to_status); cell(tr, a.actor);
    const d = a.detail ? JSON.stringify(a.detail) : "";
    cell(tr, d.length > 160 ? d.slice(0, 160) + "…" : d, "detail").title = d;
  }
}

// ------------------------------------------------------------------ customer-journey analytics (#/analytics)

function pct(v, digits) {
  if (v === null || v === undefined) return "–";
  return (v * 100).toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 1 : digits }) + "%";
}
function plural(n, word) { return NUM.format(n) + " " + word + (n === 1 ? "" : "s"); }

// A horizontal bar chart (one series): a category per row, its bar from zero, the value written at the bar's end,
// a value axis with ticks in thousands-separated units and its label, the legend above the plot (never over it)
// and one sentence under it. spec: {label (aria), rows: [{label, value, text}], axis, legend, tick(v), max, caption}
function barChart(fig, spec) {
  fig.replaceChildren();
  const rows = spec.rows;
  const W = Math.max(300, Math.min(900, fig.clientWidth || 720));
  const narrow = W < 500;
  const longest = Math.max(4, ...rows.map((r) => String(r.label).length));
  const L = Math.min(Math.round(W * (narrow ? 0.36 : 0.28)), 12 + longest * 6.6), R = narrow ? 70 : 150, T = 30, B = 40;
  const bh = narrow ? 20 : 22, H = T + B + Math.max(1, rows.length) * bh;
  const tick = spec.tick || ((v) => NUM.format(v));
  let hi = Math.max(spec.max || 0, ...rows.map((r) => r.value || 0), 1e-9);
  const step = spec.integer ? Math.max(1, Math.ceil(niceStep(hi, narrow ? 3 : 5))) : niceStep(hi, narrow ? 3 : 5);
  hi = Math.ceil(hi / step - 1e-9) * step;
  const xs = (v) => L + (v / hi) * (W - L - R);
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": spec.label });
  for (let v = 0; v <= hi + 1e-9; v += step) {
    s.append(svg("line", { x1: xs(v), x2: xs(v), y1: T, y2: H - B, class: "grid" }));
    s.append(svg("text", { x: xs(v), y: H - B + 14, "text-anchor": "middle", class: "tick" }, tick(v)));
  }
  s.append(svg("text", { x: W / 2, y: H - 8, "text-anchor": "middle", class: "axis" }, spec.axis));
  rows.forEach((r, i) => {
    const y = T + i * bh;
    const lab = String(r.label);
    const maxChars = Math.floor((L - 10) / 6.6);
    const t = svg("text", { x: L - 6, y: y + bh / 2 + 4, "text-anchor": "end", class: "tick" },
      lab.length > maxChars ? lab.slice(0, maxChars - 1) + "…" : lab);
    if (lab.length > maxChars) t.append(svg("title", {}, lab));
    s.append(t);
    s.append(svg("rect", { x: L, y: y + 3, width: Math.max(0, xs(r.value || 0) - L), height: bh - 6, class: "bar" }));
    s.append(svg("text", { x: xs(r.value || 0) + 4, y: y + bh / 2 + 4, class: "value" }, r.text));
  });
  s.append(svg("line", { x1: L, x2: L, y1: T, y2: H - B, class: "zero" }));
  const lx = narrow ? 4 : L;  // above the plot, from the left edge on a phone so that it is not cut off
  s.append(svg("rect", { x: lx, y: 8, width: 14, height: 10, class: "bar key-bar" }));
  s.append(svg("text", { x: lx + 20, y: 17, class: "legend" }, spec.legend));
  fig.append(s);
  fig.append(el("figcaption", { text: spec.caption }));
}

let anCohortPage, anRfmPage, anXsellPage;

function anQuery(extra) { return Object.assign({ today: today(), date_field: $("an-date-field").value }, extra || {}); }

async function loadRetention() {
  // the chart over every cohort (a few per year); the triangle a page of them
  const [all, page] = await Promise.all([getJSON("analytics/retention", anQuery({ limit: 10000 })),
    getJSON("analytics/retention", anQuery({ limit: anCohortPage.limit, offset: anCohortPage.offset }))]);
  if (!$("today").value) $("today").value = all.today;
  $("an-note").textContent = NUM.format(all.lines) + " order lines of " + NUM.format(all.customers) + " customers up to " + all.today +
    " (" + all.date_field.replace("_", " ") + ", amounts in " + all.currency + ")" +
    (all.lines_after ? "; " + NUM.format(all.lines_after) + " lines dated after it have not happened yet and are left out" +
      (all.lines ? "" : ": pick a later day above") : "") + ".";
  // month k after the first order: of the customers of every cohort observed k months later, the share active
  const K = 12, act = [], cust = [];
  for (const c of all.cohorts) for (const m of c.months) if (m.months_since >= 1 && m.months_since <= K) {
    act[m.months_since] = (act[m.months_since] || 0) + m.active;
    cust[m.months_since] = (cust[m.months_since] || 0) + c.customers;
  }
  const rows = [];
  for (let k = 1; k <= K; k++) if (cust[k]) rows.push({ label: k + (k === 1 ? " month" : " months") + " after", value: act[k] / cust[k],
    text: pct(act[k] / cust[k]) + " of " + NUM.format(cust[k]) });
  let caption;
  if (!all.customers) caption = "No customer ordered up to " + all.today + ": nothing to retain yet.";
  else if (!rows.length) caption = plural(all.customers, "customer") + ", all in the current month's cohort: no later month to retain them in yet.";
  else caption = "Of " + plural(all.customers, "customer") + " in " + plural(all.total, "monthly cohort") + ", " + pct(rows[0].value) +
    " of those with a month behind them ordered again in the month after their first order" +
    (rows.length > 1 ? "; " + pct(rows[rows.length - 1].value) + " did " + rows[rows.length - 1].label.replace(" after", "") + " after it." : ".");
  barChart($("an-retention-chart"), { label: "retention by months since the first order", rows: rows, max: 1, tick: (v) => pct(v, 0),
    axis: "customers ordering in that month (% of cohort)", legend: "retention, every cohort together", caption: caption });
  // the triangle: one row per cohort, a column per month since the first order
  const kmax = Math.max(0, ...page.cohorts.map((c) => c.months.length - 1));
  const hr = el("tr", {}, el("th", { text: "cohort" }), el("th", { text: "customers" }));
  for (let k = 0; k <= kmax; k++) hr.append(el("th", { text: "m" + k }));
  $("an-cohorts-head").replaceChildren(hr);
  const tbody = $("an-cohorts-list");
  tbody.replaceChildren();
  for (const c of page.cohorts) {
    const tr = row(tbody, { class: "cohort-row" });
    tr.dataset.cohort = c.cohort;
    cell(tr, c.cohort.slice(0, 7));
    cell(tr, NUM.format(c.customers), "num");
    for (let k = 0; k <= kmax; k++) {
      const m = c.months[k];
      const td = cell(tr, m ? pct(m.retention, 0) : "", "num");
      if (m) { td.title = NUM.format(m.active) + " of " + NUM.format(c.customers); td.style.background = `rgba(29, 95, 180, ${(0.08 + 0.5 * m.retention).toFixed(2)})`; }
    }
  }
  anCohortPage.render(page.total);
}

async function loadRepeat() {
  const body = await getJSON("analytics/repeat", anQuery({ by_cohort: true, limit: 10000 }));
  const o = body.overall;
  const box = $("an-repeat-kpis");
  box.replaceChildren();
  for (const [v, what] of [[pct(o.repeat_rate), "repeat-purchase rate"], [NUM.format(o.repeat_customers) + " / " + NUM.format(o.customers), "customers with 2+ orders"],
    [o.orders_per_customer === null ? "–" : NUM.format(o.orders_per_customer), "orders per customer"],
    [o.median_days_to_second_order === null ? "–" : NUM.format(o.median_days_to_second_order), "median days to the 2nd order"]]) {
    box.append(el("div", { class: "kpi" }, el("b", { text: v }), el("span", { text: what })));
  }
  const cohorts = (body.cohorts || []).slice(-12);
  const rows = cohorts.map((c) => ({ label: c.cohort.slice(0, 7), value: c.repeat_rate || 0,
    text: pct(c.repeat_rate) + " of " + NUM.format(c.customers) }));
  let caption = o.customers ? NUM.format(o.repeat_customers) + " of " + plural(o.customers, "customer") + " (" + pct(o.repeat_rate) + ") placed more than one order" +
    (o.median_days_to_second_order !== null ? "; half of them came back within " + plural(o.median_days_to_second_order, "day") + "." : ".")
    : "No customer ordered up to " + body.today + ".";
  if ((body.total || 0) > cohorts.length) caption += " The chart shows the last " + cohorts.length + " of " + NUM.format(body.total) + " cohorts.";
  barChart($("an-repeat-chart"), { label: "repeat-purchase rate by cohort", rows: rows, max: 1, tick: (v) => pct(v, 0),
    axis: "customers with 2+ orders (% of cohort)", legend: "repeat rate by cohort (month of first order)", caption: caption });
}

async function loadRfm() {
  const body = await getJSON("analytics/rfm", anQuery({ segment: $("an-segment").value, customer: $("an-customer").value.trim(),
    limit: anRfmPage.limit, offset: anRfmPage.offset }));
  const sel = $("an-segment");
  if (sel.options.length === 1) for (const s of body.segments) sel.appendChild(el("option", { value: s.segment, text: s.segment.replace(/_/g, " ") }));
  const rows = body.segments.map((s) => ({ label: s.segment.replace(/_/g, " "), value: s.customers,
    text: NUM.format(s.customers) + (s.customers ? " · " + pct(s.monetary_share, 0) + " of value" : "") }));
  let caption = "No customer ordered up to " + body.today + ".";
  if (body.customers_total) {
    const top = body.segments.reduce((a, s) => ((s.monetary_share || 0) > (a.monetary_share || 0) ? s : a), body.segments[0]);
    caption = "Of " + plural(body.customers_total, "customer") + ", the " + top.segment.replace(/_/g, " ") + " segment (" +
      plural(top.customers, "customer") + ", " + pct(top.share) + ") holds the largest part of the net value: " + money(top.monetary) +
      " (" + pct(top.monetary_share) + ").";
  }
  barChart($("an-rfm-chart"), { label: "customers by RFM segment", rows: rows, tick: (v) => NUM.format(v),
    axis: "customers", legend: "customers per segment (and share of net value)", integer: true, caption: caption });
  const tbody = $("an-rfm-list");
  tbody.replaceChildren();
  for (const c of body.customers) {
    const tr = row(tbody, { class: "rfm-row" });
    tr.dataset.customer = c.customer;
    cell(tr, c.customer);
    cell(tr, c.segment.replace(/_/g, " "));
    cell(tr, c.rfm, "num").title = "recency " + c.r + ", frequency " + c.f + ", monetary " + c.m + " (1..5, 5 best)";
    cell(tr, NUM.format(c.recency_days), "num");
    cell(tr, NUM.format(c.frequency), "num");
    cell(tr, money(c.monetary), "num");
    cell(tr, c.first_order_date);
  }
  anRfmPage.render(body.total);
}

async function loadCrossSell() {
  const item = $("an-item").value.trim();
  const q = anQuery({ item: item, min_orders: $("an-min-orders").value, limit: anXsellPage.limit, offset: anXsellPage.offset });
  const body = await getJSON("analytics/cross-sell", q);
  const tbody = $("an-xsell-list");
  tbody.replaceChildren();
  for (const d of body.data) {
    const tr = row(tbody, { class: "xsell-row" });
    tr.dataset.item = d.item;
    tr.dataset.suggestion = d.suggestion;
    cell(tr, d.item); cell(tr, d.rank, "num"); cell(tr, d.suggestion);
    cell(tr, NUM.format(d.orders_together), "num"); cell(tr, NUM.format(d.item_orders), "num");
    cell(tr, pct(d.confidence), "num"); cell(tr, NUM.format(d.lift), "num");
  }
  anXsellPage.render(body.total);
  // the chart: one item's suggestions (the one asked for, else the first on the page)
  const focus = item || (body.data[0] || {}).item;
  let sugg = body.data.filter((d) => d.item === focus);
  if (focus && !item) sugg = (await getJSON("analytics/cross-sell", anQuery({ item: focus, min_orders: q.min_orders }))).data;
  let caption = "No two items were bought together in " + plural(body.min_orders, "order") + " or more up to " + body.today + ".";
  if (focus && sugg.length) {
    const b = sugg[0];
    caption = "Of " + plural(b.item_orders, "order") + " with " + focus + ", " + pct(b.confidence) + " also had " + b.suggestion + " (" +
      plural(b.orders_together, "order") + "), " + NUM.format(b.lift) + " times as often as orders in general.";
  } else if (item) caption = "No item was bought together with " + item + " in " + plural(body.min_orders, "order") + " or more.";
  barChart($("an-xsell-chart"), { label: "items bought with " + (focus || "an item"), rows: sugg.map((d) => ({ label: d.suggestion, value: d.confidence,
    text: pct(d.confidence) + " · lift " + NUM.format(d.lift) })), max: 1, tick: (v) => pct(v, 0),
    axis: "orders with " + (focus || "the item") + " that also had it (%)", legend: "confidence: also bought with " + (focus || "the item"), caption: caption });
}

async function loadAnalytics() {
  await loadCatalogue().catch(() => null);  // the item picker; the analytics work without a snapshot
  await loadRetention();
  await Promise.all([loadRepeat(), loadRfm(), loadCrossSell()]);
}

// ------------------------------------------------------------------ routing

function route() {
  const h = location.hash.replace(/^#/, "");
  const parts = h.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "orders" || parts[0] === "order") return { view: "order", id: parts[1] || null };
  if (parts[0] === "atp") return { view: "atp", item: parts[1] || null, location: parts[2] || null };
  if (parts[0] === "processes") return { view: "processes" };
  if (parts[0] === "channel") return { view: "channel" };
  if (parts[0] === "analytics") return { view: "analytics" };
  if (params.get("order") && !h) return { view: "order", id: params.get("order") };
  return { view: "overview" };
}

function show(view) {
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-" + view;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("current", a.dataset.view === view);
  document.body.dataset.view = view;
}

function fail(err) { setStatus(String(err.message || err), true); }

async function refresh() {
  const r = route();
  show(r.view);
  setStatus("loading…");
  document.body.dataset.ready = "loading";
  try {
    if (r.view === "overview") await loadOverview();
    else if (r.view === "order") await loadOrder(r.id);
    else if (r.view === "atp") await loadAtp(r.item, r.location);
    else if (r.view === "processes") await loadProcesses();
    else if (r.view === "channel") await loadChannel();
    else if (r.view === "analytics") await loadAnalytics();
    setStatus("updated " + new Date().toISOString().slice(11, 19) + " UTC");
    document.body.dataset.ready = "true";
  } catch (err) {
    fail(err);
    document.body.dataset.ready = "error";
  }
}

$("controls").addEventListener("submit", (e) => {
  e.preventDefault();
  const k = $("api-key").value.trim();
  if (k) { sessionStorage.setItem(KEY_STORE, k); $("api-key").value = ""; }
  refresh();
});
$("rep-csv").addEventListener("click", (e) => { e.preventDefault(); downloadCSV().catch(fail); });
$("exc-by").addEventListener("change", () => { excPage.offset = 0; drillKey = null; $("drill-box").hidden = true; loadExceptions().catch(fail); });
$("report-form").addEventListener("submit", (e) => { e.preventDefault(); loadReport().catch(fail); });
$("jeo-filter").addEventListener("submit", (e) => { e.preventDefault(); jeoPage.offset = 0; loadJeopardy().catch(fail); });
$("jeo-level").addEventListener("change", () => { jeoPage.offset = 0; loadJeopardy().catch(fail); });
$("drill-filter").addEventListener("change", () => { drillPage.offset = 0; drill().catch(fail); });
$("atp-form").addEventListener("submit", (e) => {
  e.preventDefault();
  location.hash = "#/atp/" + encodeURIComponent($("atp-item").value.trim()) + "/" + encodeURIComponent($("atp-location").value.trim());
});
$("order-form").addEventListener("submit", (e) => {
  e.preventDefault();
  location.hash = "#/orders/" + encodeURIComponent($("order-id").value.trim());
});
window.addEventListener("hashchange", () => { takeKeyFromFragment(); refresh(); window.scrollTo(0, 0); });
jeoPage = pager("jeo-pager", loadJeopardy);
excPage = pager("exc-pager", loadExceptions);
drillPage = pager("drill-pager", drill);
anCohortPage = pager("an-cohort-pager", loadRetention);
anRfmPage = pager("an-rfm-pager", loadRfm);
anXsellPage = pager("an-xsell-pager", loadCrossSell);
$("an-form").addEventListener("submit", (e) => { e.preventDefault(); anCohortPage.offset = anRfmPage.offset = anXsellPage.offset = 0; loadAnalytics().catch(fail); });
$("an-rfm-filter").addEventListener("submit", (e) => { e.preventDefault(); anRfmPage.offset = 0; loadRfm().catch(fail); });
$("an-segment").addEventListener("change", () => { anRfmPage.offset = 0; loadRfm().catch(fail); });
$("an-xsell-form").addEventListener("submit", (e) => { e.preventDefault(); anXsellPage.offset = 0; loadCrossSell().catch(fail); });
takeKeyFromFragment();
if (params.get("today")) $("today").value = params.get("today");
if (params.get("start")) $("rep-start").value = params.get("start");
if (params.get("end")) $("rep-end").value = params.get("end");
refresh();
