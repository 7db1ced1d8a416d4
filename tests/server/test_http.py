"""HTTP conventions: Location and ETag, If-Match (quoted, weak, list, *, stale: 412), one error shape for
every malformed body (empty and unparsable included), refresh only from the snapshot roots, and an
OpenAPI document that declares every status code and a response model for every route."""

from __future__ import annotations

import shutil

import pytest

CAP = {"X-API-Key": "cap-key"}
PLAN = {"X-API-Key": "plan-key"}
ADMIN = {"X-API-Key": "admin-key"}
D1 = "2026-01-06"
ORDER = {"customer": "ACME", "zone": "EAST", "lines": [{"item": "WIDGET", "qty": 5, "requested_date": D1}]}


def one_shape(r) -> list[dict]:
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, list) and detail, detail
    for d in detail:
        assert {"type", "loc", "msg", "input"} <= set(d) and isinstance(d["loc"], list) and isinstance(d["msg"], str), d
    return detail


def test_capture_answers_201_with_location_and_etag(sqlite_client):
    c = sqlite_client
    r = c.post("/v1/orders", json=ORDER, headers=CAP)
    assert r.status_code == 201
    oid = r.json()["order_id"]
    assert r.headers["location"] == f"/v1/orders/{oid}" and r.headers["etag"] == '"1"'
    got = c.get(r.headers["location"])
    assert got.status_code == 200 and got.json()["order_id"] == oid and got.headers["etag"] == '"1"'
    again = c.post("/v1/orders", json=ORDER, headers={**CAP, "Idempotency-Key": "x1"})
    replay = c.post("/v1/orders", json=ORDER, headers={**CAP, "Idempotency-Key": "x1"})
    assert replay.headers["location"] == again.headers["location"] and replay.headers["idempotent-replayed"] == "true"


@pytest.mark.parametrize("tag", ['"1"', 'W/"1"', "*", '"7", W/"1"', "1"])
def test_if_match_accepts_quoted_weak_listed_and_any(sqlite_client, tag):
    c = sqlite_client
    oid = c.post("/v1/orders", json=ORDER, headers=CAP).json()["order_id"]
    r = c.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "qty": 4}]}, headers={**CAP, "If-Match": tag})
    assert r.status_code == 200, r.text
    assert r.headers["etag"] == '"2"' and r.json()["version"] == 2


def test_if_match_on_another_version_is_412_and_changes_nothing(sqlite_client):
    c = sqlite_client
    oid = c.post("/v1/orders", json=ORDER, headers=CAP).json()["order_id"]
    assert c.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "qty": 4}]}, headers=CAP).status_code == 200
    for tag in ('"1"', 'W/"1"', '"3", "4"'):
        r = c.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "qty": 3}]}, headers={**CAP, "If-Match": tag})
        assert r.status_code == 412, (tag, r.text)
        assert '"2"' in r.json()["detail"] and r.json()["hint"]
    got = c.get(f"/v1/orders/{oid}")
    assert got.json()["lines"][0]["qty"] == 4.0 and got.headers["etag"] == '"2"'
    bad = c.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "qty": 3}]}, headers={**CAP, "If-Match": "abc"})
    assert one_shape(bad)[0]["loc"] == ["header", "If-Match"] and bad.json()["detail"][0]["input"] == "abc"
    assert c.patch("/v1/orders/SO-none", json={"lines": []}, headers={**CAP, "If-Match": '"1"'}).status_code == 404


def test_if_match_guards_cancel_too(sqlite_client):
    c = sqlite_client
    oid = c.post("/v1/orders", json=ORDER, headers=CAP).json()["order_id"]
    assert c.patch(f"/v1/orders/{oid}", json={"lines": [{"line": 1, "qty": 4}]}, headers=CAP).status_code == 200
    stale = c.post(f"/v1/orders/{oid}/cancel", headers={**CAP, "If-Match": '"1"'})
    assert stale.status_code == 412 and '"2"' in stale.json()["detail"]
    assert c.get(f"/v1/orders/{oid}").json()["status"] != "cancelled"  # nothing changed
    ok = c.post(f"/v1/orders/{oid}/cancel", headers={**CAP, "If-Match": 'W/"2"'})
    assert ok.status_code == 200 and ok.json()["status"] == "cancelled" and ok.headers["etag"] == '"3"'


@pytest.mark.parametrize("body", [b"", b"{not json", b"[1, 2]", b"null"])
def test_malformed_bodies_on_required_body_routes_are_422_in_one_shape(sqlite_client, body):
    c = sqlite_client
    oid = c.post("/v1/orders", json=ORDER, headers=CAP).json()["order_id"]
    for method, path, h in (("POST", "/v1/orders", CAP), ("PATCH", f"/v1/orders/{oid}", CAP),
                            ("POST", f"/v1/orders/{oid}/events", PLAN), ("POST", "/v1/availability", CAP),
                            ("POST", "/v1/imports", CAP), ("POST", "/v1/supply/deltas", PLAN)):
        d = one_shape(c.request(method, path, content=body, headers={**h, "Content-Type": "application/json"}))
        assert d[0]["loc"][0] == "body", (path, d)


@pytest.mark.parametrize("body", [b"{not json", b"[1]", b'{"note": 5}', b'{"nope": 1}'])
def test_unparsable_bodies_on_optional_body_routes_are_422_in_one_shape(sqlite_client, body):
    c = sqlite_client
    o = c.post("/v1/orders", json={**ORDER, "lines": [{"item": "GADGET", "qty": 3, "requested_date": D1}]}, headers=CAP).json()
    assert o["status"] == "on_hold"
    for path, h in ((f"/v1/orders/{o['order_id']}/cancel", CAP), (f"/v1/orders/{o['order_id']}/approve", PLAN),
                    (f"/v1/orders/{o['order_id']}/reject", PLAN), ("/v1/snapshot/refresh?wait=true", ADMIN)):
        d = one_shape(c.post(path, content=body, headers={**h, "Content-Type": "application/json"}))
        assert d[0]["loc"][0] == "body", (path, d)
    assert c.get(f"/v1/orders/{o['order_id']}").json()["status"] == "on_hold"  # nothing happened
    # an empty body there is no body: the decision without a note
    r = c.post(f"/v1/orders/{o['order_id']}/approve", content=b"", headers={**PLAN, "Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["status"] == "scheduled"


@pytest.fixture
def outside():
    """A directory outside every snapshot root (pytest's own temporary tree holds the served snapshot)."""
    import tempfile
    from pathlib import Path

    d = Path(tempfile.mkdtemp(prefix="promessa-outside-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_refresh_reads_only_from_the_snapshot_roots_and_leaks_no_existence(sqlite_client, snapshot_dir, tmp_path, outside):
    c = sqlite_client  # roots: tmp_path, and the served snapshot's parent
    real = shutil.copytree(snapshot_dir, outside / "extract")
    answers = []
    for d in (str(real), str(outside / "no-such-dir"), "/etc", "/", f"{tmp_path}/../../../etc", "rel/../../x\x00y"):
        r = c.post("/v1/snapshot/refresh?wait=true", headers=ADMIN, json={"directory": d})
        item = one_shape(r)[0]
        assert item["type"] == "outside_roots" and item["loc"] == ["body", "directory"], d
        answers.append({k: v for k, v in item.items() if k != "input"})
    assert all(a == answers[0] for a in answers)  # the same words whether or not something is there
    link = tmp_path / "sneaky"
    link.symlink_to(real, target_is_directory=True)  # inside a root, pointing outside
    assert one_shape(c.post("/v1/snapshot/refresh?wait=true", headers=ADMIN, json={"directory": str(link)}))[0][
        "type"] == "outside_roots"
    inside = shutil.copytree(snapshot_dir, tmp_path / "x1")
    r = c.post("/v1/snapshot/refresh?wait=true", headers=ADMIN, json={"directory": str(inside)})
    assert r.status_code == 200 and r.json()["snapshot"]["source"] == str(inside)
    missing = one_shape(c.post("/v1/snapshot/refresh?wait=true", headers=ADMIN, json={"directory": str(tmp_path / "nope")}))
    assert missing[0]["type"] == "snapshot_error"  # inside a root, the loader may say what is wrong
    started = c.post("/v1/snapshot/refresh", headers=ADMIN)
    assert started.status_code == 202 and started.headers["location"] == "/v1/snapshot"


def test_every_operation_declares_its_answers(sqlite_client):
    spec = sqlite_client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert {"ErrorPublic", "ValidationErrorPublic", "ErrorItem"} <= set(schemas)
    from api.deps import PUBLIC_PATHS

    public = PUBLIC_PATHS  # no key: they answer no data (or, like a signed webhook, check their own signature)
    n = 0
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            n += 1
            codes = set(op["responses"])
            ok = [c for c in codes if c.startswith("2")]
            assert ok, (method, path)
            assert ok == ["204"] or any(op["responses"][c].get("content") for c in ok), (method, path)  # a model or type
            if path in public:
                continue
            assert {"401", "403", "422", "503"} <= codes, (method, path, codes)
            assert op["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("ValidationErrorPublic")
            assert op.get("security"), (method, path)
    assert n >= 30
    change = spec["paths"]["/v1/orders/{order_id}"]["patch"]["responses"]
    assert {"404", "409", "412"} <= set(change) and "ETag" in change["200"]["headers"]
    capture = spec["paths"]["/v1/orders"]["post"]["responses"]["201"]
    assert "Location" in capture["headers"] and "ReadOrder" in capture["links"]
