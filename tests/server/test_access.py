"""Access: every endpoint needs a key whose role may do it, reads included.

The routes are enumerated from the app, so a new route is covered without touching this file:
without a key every one answers 401 (except the few public paths, which reveal nothing); each
role gets 403 exactly where the permission table (api/deps.py) says it may not.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from api.deps import PERMISSIONS, PUBLIC_PATHS, Permission
from promessa.config import Role, hash_key

KEY_OF = {Role.VIEWER: "view-key", Role.ORDER_CAPTURE: "cap-key", Role.FULFILLMENT: "ship-key", Role.PLANNER: "plan-key",
          Role.ADMIN: "admin-key"}
D1 = "2026-01-06"


def routes(app) -> list[tuple[str, str, Permission | None]]:
    """(method, path, permission) of every route the app answers (HEAD aside)."""
    out = []
    for ctx in iter_route_contexts(app.routes):
        perm = _permission(getattr(ctx.original_route, "dependant", None))
        for m in sorted(ctx.methods or ()):
            if m != "HEAD":
                out.append((m, ctx.path, perm))
    return out


def _permission(dependant) -> Permission | None:
    if dependant is None:
        return None
    for sub in dependant.dependencies:
        perm = getattr(sub.call, "permission", None) or _permission(sub)
        if perm is not None:
            return perm
    return None


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


@pytest.fixture
def app_client(sqlite_client):
    """The running app (viewer key by default) and a client without any key on it."""
    return sqlite_client, TestClient(sqlite_client.app)


def test_every_route_but_the_public_ones_names_a_permission(app_client):
    c, _ = app_client
    rs = routes(c.app)
    assert len(rs) >= 35  # orders, imports, availability, supply, scenarios, monitoring, operations
    missing = [(m, p) for m, p, perm in rs if perm is None and p not in PUBLIC_PATHS]
    assert missing == []


def test_every_endpoint_without_a_key_is_401(app_client):
    _, anon = app_client
    for method, path, _perm in routes(anon.app):
        if path in PUBLIC_PATHS:
            continue
        r = anon.request(method, concrete(path))
        assert r.status_code == 401, (method, path, r.status_code, r.text[:200])
        assert r.headers["www-authenticate"].startswith("Bearer")
        # an unknown key and an unparsable body are refused before anything else
        r = anon.request(method, concrete(path), headers={"X-API-Key": "nope", "Content-Type": "application/json"},
                         content=b"{not json")
        assert r.status_code == 401, (method, path, r.status_code)
    # a path that does not exist gives nothing away either
    assert anon.get("/v1/secret-admin-page").status_code == 401


def test_a_key_is_read_from_x_api_key_or_from_a_bearer_token_of_any_case(app_client):
    _, anon = app_client
    assert anon.get("/v1/health", headers={"X-API-Key": "view-key"}).status_code == 200
    assert anon.get("/v1/health", headers={"Authorization": "Bearer view-key"}).status_code == 200
    assert anon.get("/v1/health", headers={"Authorization": "bearer view-key"}).status_code == 200
    assert anon.get("/v1/health", headers={"Authorization": "Basic view-key"}).status_code == 401
    # the role comes from the key, whichever header carries it: a viewer may not capture
    r = anon.post("/v1/orders", headers={"Authorization": "Bearer view-key"}, json={"customer": "C1", "lines": []})
    assert r.status_code == 403, r.text


def test_the_openapi_document_names_the_key_schemes_on_every_operation_but_the_public_ones(app_client):
    c, _ = app_client
    spec = c.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["APIKeyHeader"] == {"type": "apiKey", "in": "header", "name": "X-API-Key",
                                       "description": "API key; its role decides what it may do"}
    assert schemes["HTTPBearer"]["type"] == "http" and schemes["HTTPBearer"]["scheme"] == "bearer"
    assert spec["paths"]["/v1/availability"]["post"]["security"] == [{"APIKeyHeader": []}, {"HTTPBearer": []}]
    assert "security" not in spec["paths"]["/v1/livez"]["get"]


def test_the_public_paths_reveal_nothing(app_client):
    _, anon = app_client
    assert anon.get("/v1/livez").json() == {"status": "ok"}
    page = anon.get("/v1/console")
    assert page.status_code == 200 and "SO-" not in page.text  # static, no order in it
    for p in ("/v1/console/console.js", "/v1/console/console.css", "/openapi.json", "/docs",
              "/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
        assert anon.get(p).status_code == 200
    assert "SO-" not in anon.get("/v1/console/console.js").text  # static code, no data


@pytest.mark.parametrize("role", list(Role))
def test_each_role_is_refused_exactly_what_the_table_denies(app_client, role):
    c, _ = app_client
    headers = {"X-API-Key": KEY_OF[role]}
    for method, path, perm in routes(c.app):
        if perm is None:
            continue
        r = c.request(method, concrete(path), headers=headers)
        allowed = perm in PERMISSIONS[role]
        assert (r.status_code == 403) != allowed, (role, method, path, r.status_code, r.text[:200])
        assert r.status_code != 401


def test_the_viewer_reads_but_cannot_write(app_client):
    c, _ = app_client
    o = c.post("/v1/orders", headers={"X-API-Key": "cap-key"}, json={
        "customer": "A", "zone": "EAST", "lines": [{"item": "WIDGET", "qty": 2, "requested_date": D1}]}).json()
    view = {"X-API-Key": "view-key"}
    for path in (f"/v1/orders/{o['order_id']}", f"/v1/orders/{o['order_id']}/audit", "/v1/orders", "/v1/journal",
                 "/v1/commitments", "/v1/metrics", "/v1/health", "/v1/jeopardy", "/v1/snapshot", "/v1/reports/customers"):
        assert c.get(path, headers=view).status_code == 200, path
    for method, path, body in (("POST", "/v1/orders", {"customer": "A", "zone": "EAST", "lines": [
                                   {"item": "WIDGET", "qty": 1, "requested_date": D1}]}),
                               ("PATCH", f"/v1/orders/{o['order_id']}", {"lines": [{"line": 1, "qty": 1}]}),
                               ("POST", f"/v1/orders/{o['order_id']}/cancel", None),
                               ("POST", f"/v1/orders/{o['order_id']}/events", {"type": "shipped"}),
                               ("POST", "/v1/jeopardy/scan", None),
                               ("POST", "/v1/backlog/reschedule", {}),
                               ("POST", "/v1/scenarios", {"scenarios": [{"name": "x"}]}),
                               ("POST", "/v1/supply/deltas", {"deltas": [{"item": "WIDGET", "location": "DC-EAST",
                                                                          "date": D1, "qty": 1}]}),
                               ("POST", "/v1/snapshot/refresh", None)):
        r = c.request(method, path, headers=view, json=body)
        assert r.status_code == 403, (method, path, r.status_code)
    assert c.get(f"/v1/orders/{o['order_id']}", headers=view).json()["version"] == 1  # nothing changed


def test_fulfillment_posts_events_and_reads_orders_but_cannot_capture(app_client):
    c, _ = app_client
    ship = {"X-API-Key": "ship-key"}
    body = {"customer": "A", "zone": "EAST", "lines": [{"item": "WIDGET", "qty": 3, "requested_date": D1}]}
    assert c.post("/v1/orders", headers=ship, json=body).status_code == 403
    o = c.post("/v1/orders", headers={"X-API-Key": "cap-key"}, json=body).json()
    r = c.post(f"/v1/orders/{o['order_id']}/events", headers=ship, json={"type": "shipped"})
    assert r.status_code == 200 and r.json()["status"] == "shipped"
    assert c.get(f"/v1/orders/{o['order_id']}", headers=ship).json()["status"] == "shipped"
    assert c.get("/v1/jeopardy", headers=ship).status_code == 403
    assert c.post(f"/v1/orders/{o['order_id']}/cancel", headers=ship).status_code == 403


def test_the_audit_trail_names_the_role_and_a_fingerprint_never_the_key(app_client):
    c, anon = app_client
    o = c.post("/v1/orders", headers={"X-API-Key": "cap-key"}, json={
        "customer": "A", "zone": "EAST", "lines": [{"item": "WIDGET", "qty": 1, "requested_date": D1}]}).json()
    r = anon.post(f"/v1/orders/{o['order_id']}/events", headers={"Authorization": "Bearer ship-key"}, json={"type": "shipped"})
    assert r.status_code == 200  # the key as a bearer token works too
    trail = c.get(f"/v1/orders/{o['order_id']}/audit").json()["data"]
    fp = lambda k: hashlib.sha256(k.encode()).hexdigest()[:12]  # noqa: E731
    assert [a["actor"] for a in trail] == [f"order_capture:{fp('cap-key')}"] * 2 + [f"fulfillment:{fp('ship-key')}"]
    assert all("cap-key" not in str(a) and "ship-key" not in str(a) for a in trail)
    assert o["created_by"] == f"order_capture:{fp('cap-key')}"


def test_keys_given_as_hashes_in_settings(snap, tmp_path, make_settings):
    from server import create_app

    settings = make_settings((str(tmp_path / "h.sqlite"), "unused"), api_keys={hash_key("s3cret-viewer"): "viewer"})
    assert "s3cret-viewer" not in settings.model_dump_json()
    with TestClient(create_app(settings, snapshot=snap)) as c:
        assert c.get("/v1/orders", headers={"X-API-Key": "s3cret-viewer"}).status_code == 200
        assert c.get("/v1/orders", headers={"X-API-Key": hash_key("s3cret-viewer")}).status_code == 401  # the hash is no key
        assert c.post("/v1/orders", headers={"X-API-Key": "s3cret-viewer"}, json={}).status_code == 403


def test_demo_mode_serves_loopback_clients_only(snap, tmp_path, make_settings):
    from server import create_app

    app = create_app(make_settings((str(tmp_path / "d.sqlite"), "unused"), demo=True), snapshot=snap)
    body = {"customer": "A", "zone": "EAST", "lines": [{"item": "WIDGET", "qty": 1, "requested_date": D1}]}
    with TestClient(app, client=("127.0.0.1", 40000)) as local:
        r = local.post("/v1/orders", json=body)
        assert r.status_code == 201 and r.json()["created_by"] == "demo"
        assert local.get("/v1/orders", headers={"X-API-Key": "nope"}).status_code == 401  # a wrong key is still wrong
        for host in ("203.0.113.9", "10.0.0.2", "::ffff:203.0.113.9"):
            remote = TestClient(app, client=(host, 40000))
            for method, path in (("POST", "/v1/orders"), ("GET", "/v1/orders"), ("GET", "/v1/livez"), ("GET", "/docs")):
                r = remote.request(method, path, json=body if method == "POST" else None)
                assert r.status_code == 403 and "loopback" in r.json()["detail"], (host, path)
        assert TestClient(app, client=("::1", 40000)).get("/v1/orders").status_code == 200
        assert local.get("/v1/orders").json()["total"] == 1  # nothing was written by the refused clients


def test_the_readme_table_is_the_permission_table():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "api" / "README.md").read_text()
    rows = [ln for ln in text.splitlines() if ln.startswith("| `") and ":" in ln.split("|")[1]]
    header = next(ln for ln in text.splitlines() if ln.startswith("| permission |"))
    roles = [Role(c.strip()) for c in header.strip("|").split("|")[1:]]
    table = {}
    for ln in rows:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        table[Permission(cells[0].strip("`"))] = {r for r, c in zip(roles, cells[1:]) if c == "✓"}
    assert table == {p: {r for r in Role if p in PERMISSIONS[r]} for p in Permission}


def test_docs_are_served_offline(app_client):
    """/docs loads Swagger UI from /docs/assets (the swagger-ui-bundle-v2 package), never from another host."""
    _, anon = app_client
    page = anon.get("/docs")
    assert page.status_code == 200
    assert '"/docs/assets/swagger-ui-bundle.js"' in page.text and '"/docs/assets/swagger-ui.css"' in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text.replace("https://fastapi.tiangolo.com", "")
    js = anon.get("/docs/assets/swagger-ui-bundle.js")
    assert js.headers["content-type"].startswith("text/javascript") and "SwaggerUIBundle" in js.text
    assert anon.get("/docs/assets/swagger-ui.css").headers["content-type"].startswith("text/css")
    assert anon.get("/docs/assets/swagger-ui-bundle.js", params={"path": "/etc/passwd"}).text == js.text  # one fixed file
    assert anon.get("/docs/assets/index.html").status_code == 401  # only the page's own assets are public
    assert anon.get("/redoc").status_code == 401  # ReDoc needs a CDN: not served
