// promessa planner console: vanilla JS over the /v1 monitoring API (no build step).
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
// (#key=..., never sent to the server and removed from the address bar at once) or the key field,
// and is kept for this tab only (sessionStorage).
const KEY_STORE = "promessa.apiKey";

function takeKeyFromFragment() {
  const m = location.hash.match(/(?:^#|&)key=([^&]+)/);
  if (m) {
    sessionStorage.setItem(KEY_STORE, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
}

function apiHeaders(accept) {
  const h = { Accept: accept };
  const k = sessionStorage.getItem(KEY_STORE);
  if (k) h["X-API-Key"] = k;
  return h;
}

async function apiFetch(path, query, accept) {
  const r = await fetch(path + qs(query || {}), { headers: apiHeaders(accept) });
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    if (r.status === 401) msg += ": enter an API key (viewer or planner) above";
    try { const b = await r.json(); msg += ": " + JSON.stringify(b.detail); } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}

async function getJSON(path, query) {
  return (await apiFetch(path, query, "application/json")).json();
}

async function getBlobURL(path, query, accept) {
  return URL.createObjectURL(await (await apiFetch(path, query, accept)).blob());
}

function cell(tr, value, cls) {
  const td = document.createElement("td");
  td.textContent = value === null || value === undefined ? "–" : String(value);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function levelCell(tr, level) {
  const td = document.createElement("td");
  const span = document.createElement("span");
  span.className = "level level-" + level;
  span.textContent = level;
  td.appendChild(span);
  tr.appendChild(td);
}

function fmt(v) {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toFixed(2);
  return v;
}

function today() { return $("today").value || null; }

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function loadJeopardy() {
  const body = await getJSON("jeopardy", { today: today(), limit: 200 });
  if (!$("today").value) $("today").value = body.today;
  $("jeopardy-counts").textContent = body.levels.map((l) => l + ": " + (body.counts[l] || 0)).join(" · ");
  const tbody = $("jeopardy-list");
  tbody.replaceChildren();
  for (const o of body.orders) {
    const tr = document.createElement("tr");
    tr.dataset.order = o.order_id;
    tr.dataset.level = o.level;
    tr.className = "jeopardy-row";
    cell(tr, o.order_id, "order");
    cell(tr, o.customer);
    cell(tr, o.status);
    levelCell(tr, o.level);
    cell(tr, o.days_late, "num days-late");
    cell(tr, o.promised_completion);
    cell(tr, o.expected_completion);
    cell(tr, o.reason_text).title = o.reason;
    tbody.appendChild(tr);
  }
  return body;
}

async function loadExceptions() {
  const by = $("exc-by").value;
  const body = await getJSON("exceptions", { by: by, today: today() });
  $("exc-total").textContent = body.total_lines + " lines in " + body.total_orders + " orders (at risk from level " + body.at_risk_level + ")";
  const tbody = $("exceptions-list");
  tbody.replaceChildren();
  for (const r of body.data) {
    const tr = document.createElement("tr");
    tr.className = "clickable exception-row";
    tr.dataset.key = r.key;
    cell(tr, r.key);
    cell(tr, r.orders, "num");
    cell(tr, r.lines, "num");
    cell(tr, r.backorder_lines, "num");
    cell(tr, r.at_risk_lines, "num");
    cell(tr, fmt(r.backordered_qty), "num");
    cell(tr, fmt(r.value), "num");
    levelCell(tr, r.worst_level);
    tr.addEventListener("click", () => drill(by, r.key).catch(fail));
    tbody.appendChild(tr);
  }
}

async function drill(by, key) {
  const body = await getJSON("exceptions/lines", { by: by, key: key, today: today() });
  $("drill-title").hidden = false;
  $("drill-title").textContent = by + " " + key + ": " + body.count + " lines";
  $("drill").hidden = false;
  const tbody = $("drill-list");
  tbody.replaceChildren();
  for (const l of body.data) {
    const tr = document.createElement("tr");
    cell(tr, l.order_id);
    cell(tr, l.line, "num");
    cell(tr, l.item);
    cell(tr, l.location);
    cell(tr, l.kind);
    cell(tr, fmt(l.open_qty), "num");
    cell(tr, fmt(l.backordered_qty), "num");
    levelCell(tr, l.level);
    cell(tr, l.reason_text);
    tbody.appendChild(tr);
  }
}

function reportQuery(format) {
  return { metric: $("rep-metric").value, start: $("rep-start").value, end: $("rep-end").value, top: 10, format: format };
}

async function loadReport() {
  const kind = $("rep-kind").value;
  const body = await getJSON("reports/" + kind, reportQuery("json"));
  const head = $("report-head");
  head.replaceChildren();
  const htr = document.createElement("tr");
  for (const c of body.columns) { const th = document.createElement("th"); th.textContent = c; htr.appendChild(th); }
  head.appendChild(htr);
  const tbody = $("report-list");
  tbody.replaceChildren();
  for (const r of body.data) {
    const tr = document.createElement("tr");
    for (const c of body.columns) cell(tr, fmt(r[c]), typeof r[c] === "number" ? "num" : "");
    tbody.appendChild(tr);
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

async function loadCatalogue() {
  const body = await getJSON("console/catalogue", { limit: 2000 });
  const items = $("atp-items"), locs = $("atp-locations");
  items.replaceChildren(); locs.replaceChildren();
  for (const i of body.items) { const o = document.createElement("option"); o.value = i; items.appendChild(o); }
  for (const l of body.locations) { const o = document.createElement("option"); o.value = l; locs.appendChild(o); }
  if (!$("atp-item").value && body.item_locations.length) {
    $("atp-item").value = params.get("item") || body.item_locations[0][0];
    $("atp-location").value = params.get("location") || body.item_locations[0][1];
  }
}

async function loadAtp() {
  const item = $("atp-item").value, loc = $("atp-location").value;
  if (!item || !loc) return;
  const body = await getJSON("console/atp/" + encodeURIComponent(item) + "/" + encodeURIComponent(loc), {});
  const tbody = $("atp-list");
  tbody.replaceChildren();
  for (const r of body.data) {
    if (!r.supply && !r.demand && !r.committed && r.date !== body.as_of) continue;  // only days where something happens
    const tr = document.createElement("tr");
    cell(tr, r.date);
    for (const c of ["supply", "demand", "committed", "cumulative", "available", "discrete_atp"]) cell(tr, fmt(r[c]), "num");
    tbody.appendChild(tr);
  }
}

// Processes (orchestration): late steps across orders, and one order's processes with their history and message
// log. A server without processes answers 503 here; that leaves a note and does not fail the rest of the page.
function hours(seconds) { return (seconds / 3600).toFixed(1); }

async function loadProcessAlerts() {
  const tbody = $("proc-alerts");
  tbody.replaceChildren();
  let body;
  try {
    body = await getJSON("jeopardy/processes", { limit: 200 });
  } catch (err) {
    $("proc-note").textContent = "processes unavailable: " + (err.message || err);
    return;
  }
  $("proc-note").textContent = body.alerts.length + " late or failed steps";
  for (const a of body.alerts) {
    const tr = document.createElement("tr");
    tr.className = "clickable proc-alert";
    tr.dataset.order = a.order;
    cell(tr, a.order, "order");
    cell(tr, a.line);
    cell(tr, a.process + " v" + a.version);
    cell(tr, a.step);
    cell(tr, a.system);
    cell(tr, hours(a.late_s), "num");
    cell(tr, a.reason);
    cell(tr, a.raised_at.slice(0, 16).replace("T", " "));
    tbody.appendChild(tr);
  }
}

function table(head, rows) {
  const t = document.createElement("table");
  const thead = document.createElement("thead");
  const hr = document.createElement("tr");
  for (const h of head) { const th = document.createElement("th"); th.textContent = h; hr.appendChild(th); }
  thead.appendChild(hr);
  const tbody = document.createElement("tbody");
  for (const r of rows) { const tr = document.createElement("tr"); for (const v of r) cell(tr, v); tbody.appendChild(tr); }
  t.append(thead, tbody);
  return t;
}

async function loadOrderProcesses(order) {
  const box = $("proc-detail");
  box.replaceChildren();
  if (!order) return;
  $("proc-order").value = order;
  const body = await getJSON("orders/" + encodeURIComponent(order) + "/processes", {});
  if (!body.processes.length) {
    const p = document.createElement("p");
    p.textContent = "no process for " + order;
    box.appendChild(p);
  }
  for (const pr of body.processes) {
    const h = document.createElement("h3");
    h.className = "proc-instance";
    h.dataset.step = pr.step || "";
    h.textContent = (pr.line ? "line " + pr.line + " · " : "") + pr.process + " v" + pr.version + " · " + pr.status +
      (pr.step ? " · now: " + pr.step + " (" + pr.system + ")" : "") + (pr.late_s > 0 ? " · late " + hours(pr.late_s) + " h" : "");
    if (pr.late_s > 0) h.classList.add("late");
    box.appendChild(h);
    box.appendChild(table(["at", "step", "what"],
      pr.history.map((e) => [String(e.at || "").slice(0, 19).replace("T", " "), e.step || "", e.what + (e.who ? " by " + e.who : "")])));
    const log = table(["#", "message", "to", "line", "published"],
      pr.messages.map((m) => [m.seq, m.kind, m.system, m.line, m.published ? "yes" : "waiting"]));
    log.className = "proc-messages";
    box.appendChild(log);
  }
  if (body.documents.length) {
    box.appendChild(table(["document", "kind", "step", "attached by", "sha256"],
      body.documents.map((d) => [d.filename, d.kind, d.step, d.attached_by, d.sha256.slice(0, 12)])));
  }
}

function fail(err) { setStatus(String(err.message || err), true); }

async function refresh() {
  setStatus("loading…");
  try {
    await loadJeopardy();
    await Promise.all([loadExceptions(), loadReport(), loadCatalogue().then(loadAtp), loadProcessAlerts()]);
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
$("exc-by").addEventListener("change", () => loadExceptions().catch(fail));
$("report-form").addEventListener("submit", (e) => { e.preventDefault(); loadReport().catch(fail); });
$("atp-form").addEventListener("submit", (e) => { e.preventDefault(); loadAtp().catch(fail); });
$("proc-form").addEventListener("submit", (e) => { e.preventDefault(); loadOrderProcesses($("proc-order").value.trim()).catch(fail); });
for (const id of ["proc-alerts", "jeopardy-list"]) {
  $(id).addEventListener("click", (e) => {
    const tr = e.target.closest("tr");
    if (tr && tr.dataset.order) loadOrderProcesses(tr.dataset.order).catch(fail);
  });
}
takeKeyFromFragment();
if (params.get("today")) $("today").value = params.get("today");
if (params.get("start")) $("rep-start").value = params.get("start");
if (params.get("end")) $("rep-end").value = params.get("end");
refresh().then(() => { if (params.get("order")) loadOrderProcesses(params.get("order")).catch(fail); });
