"""The mock registry: v1 and DeDi lookups, trust decisions, the admin API, persistence, threads."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.routing import Route
from starlette.testclient import TestClient

from mocks.registry import (
    DEFAULT_DOMAIN,
    DuplicateSubscriber,
    InvalidField,
    RegistryStore,
    RequestBodies,
    Subscriber,
    UnknownSubscriber,
    create_app,
)

OPENAPI = Path(__file__).resolve().parents[1] / "schemas" / "openapi" / "registry.yaml"
ADMIN_TOKEN = "s3cret-admin-token"
V1_FIELDS = {
    "subscriber_id",
    "subscriber_url",
    "url",
    "type",
    "domain",
    "key_id",
    "ukId",
    "unique_key_id",
    "network_memberships",
    "signing_public_key",
    "encr_public_key",
    "valid_from",
    "valid_until",
    "status",
    "created",
    "updated",
}


def new_public_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def bpp_record(**overrides: object) -> dict[str, Any]:
    record: dict[str, Any] = {
        "subscriber_id": "cpo.example.com",
        "key_id": "cpo-key-1",
        "type": "BPP",
        "url": "https://cpo.example.com/beckn",
        "signing_public_key": new_public_key(),
    }
    record.update(overrides)
    return record


def bap_record(**overrides: object) -> dict[str, Any]:
    record = bpp_record(
        subscriber_id="driver-app.example.com",
        key_id="app-key-1",
        type="BAP",
        url="https://driver-app.example.com/beckn",
        domain="beckn.one:deg:ev-charging-test",
    )
    record.update(overrides)
    return record


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RegistryStore]:
    with RegistryStore(tmp_path / "registry.sqlite3") as opened:
        yield opened


@pytest.fixture
def client(store: RegistryStore) -> TestClient:
    return TestClient(create_app(store))


@pytest.fixture
def admin(store: RegistryStore) -> TestClient:
    """A client of a registry that guards its admin API with a token, and presents it."""
    return TestClient(
        create_app(store, admin_token=ADMIN_TOKEN),
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )


# --- v1 lookup ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"subscriber_id": "cpo.example.com"}, "cpo.example.com"),
        ({"type": "BAP"}, "driver-app.example.com"),
        ({"domain": DEFAULT_DOMAIN}, "cpo.example.com"),
        ({"key_id": "app-key-1"}, "driver-app.example.com"),
        ({"ukId": "cpo-key-1"}, "cpo.example.com"),
        ({"unique_key_id": "app-key-1"}, "driver-app.example.com"),
        ({"subscriber_id": "cpo.example.com", "ukId": "cpo-key-1"}, "cpo.example.com"),
    ],
)
def test_lookup_finds_a_record_by_each_filter_field(
    client: TestClient, store: RegistryStore, query: dict[str, str], expected: str
) -> None:
    store.add(bpp_record())
    store.add(bap_record())
    response = client.post("/lookup", json=query)
    assert response.status_code == 200
    assert [record["subscriber_id"] for record in response.json()] == [expected]


def test_lookup_answers_v1_records(client: TestClient, store: RegistryStore) -> None:
    added = store.add(bpp_record(encr_public_key="MCowBQYDK2VuAyEA"))
    [record] = client.post("/lookup", json={"subscriber_id": "cpo.example.com"}).json()
    assert set(record) == V1_FIELDS
    assert record["key_id"] == record["unique_key_id"] == record["ukId"] == "cpo-key-1"
    assert record["subscriber_url"] == record["url"]
    assert record["signing_public_key"] == added.signing_public_key
    assert record["encr_public_key"] == "MCowBQYDK2VuAyEA"
    assert record["status"] == "SUBSCRIBED"
    assert record["url"] == "https://cpo.example.com/beckn"
    assert record["valid_from"] == added.valid_from


def test_lookup_lists_records_in_every_status_and_says_which(
    client: TestClient, store: RegistryStore
) -> None:
    store.add(bpp_record())
    store.add(bpp_record(key_id="cpo-key-0", status="UNSUBSCRIBED"))
    answer = client.post("/lookup", json={"subscriber_id": "cpo.example.com"}).json()
    assert [(r["key_id"], r["status"]) for r in answer] == [
        ("cpo-key-0", "UNSUBSCRIBED"),
        ("cpo-key-1", "SUBSCRIBED"),
    ]


def test_an_empty_filter_lists_every_record(client: TestClient, store: RegistryStore) -> None:
    store.add(bpp_record())
    store.add(bap_record())
    assert len(client.post("/lookup", json={}).json()) == 2


def test_lookup_ignores_unknown_and_null_fields(client: TestClient, store: RegistryStore) -> None:
    store.add(bpp_record())
    answer = client.post(
        "/lookup", json={"subscriber_id": "cpo.example.com", "country": "IND", "domain": None}
    ).json()
    assert [record["key_id"] for record in answer] == ["cpo-key-1"]


def test_key_id_spellings_that_disagree_match_nothing(
    client: TestClient, store: RegistryStore
) -> None:
    store.add(bpp_record())
    assert client.post("/lookup", json={"key_id": "cpo-key-1", "ukId": "other"}).json() == []


def test_lookup_of_an_unknown_subscriber_is_an_empty_list(client: TestClient) -> None:
    response = client.post("/lookup", json={"subscriber_id": "nobody.example.com"})
    assert (response.status_code, response.json()) == (200, [])


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "INVALID_JSON"),
        (b"subscriber_id=cpo.example.com", "INVALID_JSON"),
        (b'{"subscriber_id": ', "INVALID_JSON"),
        (b"\xff\xfe\x00", "INVALID_JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "BODY_TOO_LARGE"),
        (b"[" * 30_000 + b"]" * 30_000, "INVALID_JSON"),  # nesting too deep for the parser
        (b'["cpo.example.com"]', "INVALID_BODY"),
        (b'"cpo.example.com"', "INVALID_BODY"),
        (b"null", "INVALID_BODY"),
    ],
)
def test_lookup_refuses_a_body_that_is_not_a_json_object(
    client: TestClient, body: bytes, code: str
) -> None:
    response = client.post("/lookup", content=body)
    assert response.status_code == (413 if code == "BODY_TOO_LARGE" else 400)
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


@pytest.mark.parametrize("value", [42, ["cpo.example.com"], {"id": "x"}, True, "\ud800"])
def test_lookup_refuses_a_filter_value_that_is_not_a_string(
    client: TestClient, value: object
) -> None:
    # json.dumps escapes a lone surrogate, which httpx's own encoder would refuse to send.
    response = client.post("/lookup", content=json.dumps({"subscriber_id": value}).encode())
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "subscriber_id"


def test_lookup_is_post_only(client: TestClient) -> None:
    response = client.get("/lookup")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


# --- DeDi lookup --------------------------------------------------------------------------------


def test_dedi_lookup_answers_the_dedi_shape(client: TestClient, store: RegistryStore) -> None:
    added = store.add(bpp_record(network_memberships=["nbsl/ubc-ev-charging"]))
    response = client.get("/lookup/cpo.example.com/ubc-mock-registry/cpo-key-1")
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"message", "data"}
    data = answer["data"]
    assert data["record_id"] == added.record_id
    assert data["details"] == {
        "url": "https://cpo.example.com/beckn",
        "type": "BPP",
        "domain": DEFAULT_DOMAIN,
        "subscriber_id": "cpo.example.com",
        "signing_public_key": added.signing_public_key,
        "encr_public_key": None,
    }
    assert data["network_memberships"] == ["nbsl/ubc-ev-charging"]
    assert (data["created_at"], data["updated_at"]) == (added.created, added.updated)


def test_dedi_lookup_answers_in_the_configured_registry_name_only(store: RegistryStore) -> None:
    store.add(bpp_record())
    client = TestClient(create_app(store, registry_name="nbsl-subscribers"))
    assert client.get("/lookup/cpo.example.com/nbsl-subscribers/cpo-key-1").status_code == 200
    response = client.get("/lookup/cpo.example.com/ubc-mock-registry/cpo-key-1")
    assert response.status_code == 404
    assert "nbsl-subscribers" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "path",
    [
        "/lookup/nobody.example.com/ubc-mock-registry/cpo-key-1",
        "/lookup/cpo.example.com/ubc-mock-registry/no-such-key",
        "/lookup/cpo.example.com/another-registry/cpo-key-1",
    ],
)
def test_dedi_lookup_of_a_missing_record_is_a_json_404(
    client: TestClient, store: RegistryStore, path: str
) -> None:
    store.add(bpp_record())
    response = client.get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_dedi_lookup_does_not_serve_a_revoked_key(client: TestClient, store: RegistryStore) -> None:
    store.add(bpp_record())
    store.update("cpo.example.com", "cpo-key-1", status="UNSUBSCRIBED")
    assert client.get("/lookup/cpo.example.com/ubc-mock-registry/cpo-key-1").status_code == 404


# --- trust --------------------------------------------------------------------------------------


def test_trusted_key_is_the_key_of_a_subscribed_record(store: RegistryStore) -> None:
    added = store.add(bpp_record())
    assert store.trusted_key("cpo.example.com", "cpo-key-1") == added.signing_public_key


@pytest.mark.parametrize("status", ["INITIATED", "UNDER_SUBSCRIPTION", "INVALID_SSL",
                                    "EXPIRED", "UNSUBSCRIBED"])
def test_trusted_key_is_none_unless_subscribed(store: RegistryStore, status: str) -> None:
    store.add(bpp_record(status=status))
    assert store.trusted_key("cpo.example.com", "cpo-key-1") is None


def test_trusted_key_holds_only_within_the_validity_window(store: RegistryStore) -> None:
    store.add(
        bpp_record(valid_from="2026-01-01T00:00:00Z", valid_until="2026-12-31T23:59:59+05:30")
    )
    trusted = store.trusted_key
    assert trusted("cpo.example.com", "cpo-key-1", now=at("2025-12-31T23:59:59+00:00")) is None
    assert trusted("cpo.example.com", "cpo-key-1", now=at("2026-01-01T00:00:00+00:00"))
    # valid_until is 23:59:59 at +05:30, 18:29:59 UTC: the bound itself still holds.
    assert trusted("cpo.example.com", "cpo-key-1", now=at("2026-12-31T18:29:59+00:00"))
    assert trusted("cpo.example.com", "cpo-key-1", now=at("2026-12-31T18:30:00+00:00")) is None
    assert trusted(
        "cpo.example.com", "cpo-key-1", now=datetime(2026, 6, 1, tzinfo=UTC)
    ), "a datetime works as well as epoch seconds"


def test_trusted_key_is_none_before_valid_from_and_after_valid_until_now(
    store: RegistryStore,
) -> None:
    now = datetime.now(UTC)
    store.add(bpp_record(key_id="future", valid_from=(now + timedelta(hours=1)).isoformat()))
    store.add(
        bpp_record(
            key_id="past",
            valid_from=(now - timedelta(days=2)).isoformat(),
            valid_until=(now - timedelta(days=1)).isoformat(),
        )
    )
    assert store.trusted_key("cpo.example.com", "future") is None
    assert store.trusted_key("cpo.example.com", "past") is None


def test_trusted_key_is_none_for_a_removed_or_unknown_record(store: RegistryStore) -> None:
    store.add(bpp_record())
    assert store.remove("cpo.example.com", "cpo-key-1") == 1
    assert store.trusted_key("cpo.example.com", "cpo-key-1") is None
    assert store.trusted_key("nobody.example.com", "cpo-key-1") is None


def test_a_resubscribed_key_is_trusted_again_at_once(store: RegistryStore) -> None:
    added = store.add(bpp_record())
    assert store.trusted_key("cpo.example.com", "cpo-key-1") == added.signing_public_key
    store.update("cpo.example.com", "cpo-key-1", status="UNSUBSCRIBED")
    assert store.trusted_key("cpo.example.com", "cpo-key-1") is None
    store.update("cpo.example.com", "cpo-key-1", status="SUBSCRIBED")
    assert store.trusted_key("cpo.example.com", "cpo-key-1") == added.signing_public_key


def test_a_rotated_key_replaces_the_old_one_at_once(store: RegistryStore) -> None:
    store.add(bpp_record())
    rotated = new_public_key()
    store.update("cpo.example.com", "cpo-key-1", signing_public_key=rotated)
    assert store.trusted_key("cpo.example.com", "cpo-key-1") == rotated


def test_is_trusted_agrees_with_trusted_key(store: RegistryStore) -> None:
    record = store.add(bpp_record(valid_until="2000-01-01T00:00:00Z"))
    assert not record.is_trusted()
    assert record.is_trusted(now=at("1999-06-01T00:00:00+00:00")) is False  # before valid_from
    assert store.trusted_key("cpo.example.com", "cpo-key-1") is None


# --- store API ----------------------------------------------------------------------------------


def test_add_fills_in_defaults(store: RegistryStore) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    added = store.add(Subscriber("cpo.example.com", "cpo-key-1", "BPP",
                                 "https://cpo.example.com/beckn", new_public_key()))
    valid_from = datetime.fromisoformat(added.valid_from)
    valid_until = datetime.fromisoformat(added.valid_until)
    assert added.status == "SUBSCRIBED"
    assert added.domain == DEFAULT_DOMAIN
    assert added.network_memberships == ()
    assert before <= valid_from <= datetime.now(UTC)
    assert timedelta(days=364) < valid_until - valid_from <= timedelta(days=366)
    assert added.created == added.updated and added.created.endswith("Z")
    assert store.get("cpo.example.com", "cpo-key-1") == added


def test_times_are_kept_in_utc(store: RegistryStore) -> None:
    added = store.add(bpp_record(valid_from="2026-03-01T10:00:00.123456+05:30"))
    assert added.valid_from == "2026-03-01T04:30:00.123Z"


def test_add_refuses_a_duplicate_unless_asked_to_replace(store: RegistryStore) -> None:
    store.add(bpp_record())
    with pytest.raises(DuplicateSubscriber):
        store.add(bpp_record())
    replaced = store.add(bpp_record(url="https://cpo.example.com/v2"), replace=True)
    assert store.lookup(subscriber_id="cpo.example.com") == [replaced]


def test_update_refuses_identity_changes_and_unknown_records(store: RegistryStore) -> None:
    store.add(bpp_record())
    with pytest.raises(InvalidField) as refused:
        store.update("cpo.example.com", "cpo-key-1", key_id="cpo-key-2")
    assert refused.value.field == "key_id"
    assert "cannot be changed" in refused.value.message
    with pytest.raises(UnknownSubscriber):
        store.update("cpo.example.com", "no-such-key", status="SUBSCRIBED")


def test_update_bumps_updated_and_keeps_created(store: RegistryStore) -> None:
    added = store.add(bpp_record(encr_public_key="encr"))
    changed = store.update("cpo.example.com", "cpo-key-1", url="https://cpo.example.com/v2",
                           encr_public_key=None)
    assert changed.created == added.created
    assert changed.updated >= added.updated
    assert (changed.url, changed.encr_public_key) == ("https://cpo.example.com/v2", None)
    assert store.get("cpo.example.com", "cpo-key-1") == changed


def test_remove_without_key_id_removes_every_key(store: RegistryStore) -> None:
    store.add(bpp_record())
    store.add(bpp_record(key_id="cpo-key-2"))
    store.add(bap_record())
    assert store.remove("cpo.example.com") == 2
    assert [r.subscriber_id for r in store.lookup()] == ["driver-app.example.com"]
    assert store.remove("cpo.example.com") == 0


def test_store_lookup_combines_filters(store: RegistryStore) -> None:
    store.add(bpp_record())
    store.add(bap_record())
    assert store.lookup(type="BPP", domain=DEFAULT_DOMAIN)[0].subscriber_id == "cpo.example.com"
    assert store.lookup(type="BAP", domain=DEFAULT_DOMAIN) == []


def test_a_record_read_back_can_be_added_again(client: TestClient, store: RegistryStore) -> None:
    store.add(bpp_record())
    [record] = client.post("/lookup", json={}).json()
    store.remove("cpo.example.com")
    again = store.add(record)
    assert (again.key_id, again.valid_until) == ("cpo-key-1", record["valid_until"])


# --- admin API ----------------------------------------------------------------------------------


def test_admin_adds_a_record(admin: TestClient, store: RegistryStore) -> None:
    record = bpp_record(network_memberships=["nbsl/ubc"])
    response = admin.post("/admin/subscribers", json=record)
    assert response.status_code == 201
    assert response.headers["location"] == "/admin/subscribers/cpo.example.com/cpo-key-1"
    assert response.json()["signing_public_key"] == record["signing_public_key"]
    assert response.json()["network_memberships"] == ["nbsl/ubc"]
    assert admin.get(response.headers["location"]).json() == response.json()
    assert store.trusted_key("cpo.example.com", "cpo-key-1") == record["signing_public_key"]


def test_admin_refuses_a_duplicate_with_409(admin: TestClient) -> None:
    assert admin.post("/admin/subscribers", json=bpp_record()).status_code == 201
    response = admin.post("/admin/subscribers", json=bpp_record())
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "ALREADY_EXISTS"


def _without(field: str) -> dict[str, Any]:
    record = bpp_record()
    del record[field]
    return record


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_without("subscriber_id"), "subscriber_id"),
        (_without("key_id"), "key_id"),
        (_without("type"), "type"),
        (_without("url"), "url"),
        (_without("signing_public_key"), "signing_public_key"),
        (bpp_record(subscriber_id=None), "subscriber_id"),
        (bpp_record(subscriber_id=""), "subscriber_id"),
        (bpp_record(subscriber_id="cpo|example"), "subscriber_id"),
        (bpp_record(key_id="key 1"), "key_id"),
        (bpp_record(key_id="cpo-key-1\n"), "key_id"),  # `$` of a pattern is the end of the text
        (bpp_record(key_id="k" * 256), "key_id"),
        (bpp_record(type="GATEWAY"), "type"),
        (bpp_record(signing_public_key="not base64!"), "signing_public_key"),
        (bpp_record(signing_public_key=base64.b64encode(b"x" * 31).decode()),
         "signing_public_key"),
        (bpp_record(signing_public_key=base64.b64encode(b"x" * 64).decode()),
         "signing_public_key"),
        (bpp_record(signing_public_key=42), "signing_public_key"),
        (bpp_record(status="ACTIVE"), "status"),
        (bpp_record(valid_from="yesterday"), "valid_from"),
        (bpp_record(valid_from="2026-01-01T00:00:00"), "valid_from"),  # no time zone
        (bpp_record(valid_until="2026-02-30T00:00:00Z"), "valid_until"),
        (bpp_record(valid_until=1767225600), "valid_until"),
        (bpp_record(url="ftp://cpo.example.com/beckn"), "url"),
        (bpp_record(url="cpo.example.com/beckn"), "url"),
        (bpp_record(url="https://"), "url"),
        (bpp_record(url="https://cpo.example.com:99999/beckn"), "url"),
        (bpp_record(url="https://cpo.example.com/beckn\n"), "url"),
        (bpp_record(domain=""), "domain"),
        (bpp_record(network_memberships="nbsl"), "network_memberships"),
        (bpp_record(network_memberships=["nbsl", 7]), "network_memberships[1]"),
        (bpp_record(signing_key="abc"), "signing_key"),
    ],
)
def test_admin_add_names_the_field_at_fault(
    admin: TestClient, store: RegistryStore, body: dict[str, Any], field: str
) -> None:
    response = admin.post("/admin/subscribers", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("INVALID_FIELD", field)
    assert field in error["message"]
    assert store.lookup() == []


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'"cpo"'])
def test_admin_add_refuses_a_body_that_is_not_a_json_object(
    admin: TestClient, body: bytes
) -> None:
    response = admin.post("/admin/subscribers", content=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("INVALID_JSON", "INVALID_BODY")


def test_admin_patch_revokes_and_restores_a_key(admin: TestClient, store: RegistryStore) -> None:
    store.add(bpp_record())
    path = "/admin/subscribers/cpo.example.com/cpo-key-1"
    response = admin.patch(path, json={"status": "UNSUBSCRIBED"})
    assert (response.status_code, response.json()["status"]) == (200, "UNSUBSCRIBED")
    assert store.trusted_key("cpo.example.com", "cpo-key-1") is None
    admin.patch(path, json={"status": "SUBSCRIBED", "valid_until": "2999-01-01T00:00:00Z"})
    assert store.trusted_key("cpo.example.com", "cpo-key-1") is not None
    restored = store.get("cpo.example.com", "cpo-key-1")
    assert restored is not None and restored.valid_until == "2999-01-01T00:00:00.000Z"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "REVOKED"}, "status"),
        ({"signing_public_key": "AAAA"}, "signing_public_key"),
        ({"valid_from": "soon"}, "valid_from"),
        ({"url": "mailto:ops@cpo.example.com"}, "url"),
        ({"subscriber_id": "other.example.com"}, "subscriber_id"),
        ({"key_id": "cpo-key-2"}, "key_id"),
        ({"status": None}, "status"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_admin_patch_names_the_field_at_fault(
    admin: TestClient, store: RegistryStore, body: dict[str, Any], field: str
) -> None:
    added = store.add(bpp_record())
    response = admin.patch("/admin/subscribers/cpo.example.com/cpo-key-1", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
    assert store.get("cpo.example.com", "cpo-key-1") == added


def test_a_field_name_that_is_not_valid_unicode_is_named_in_a_400(
    admin: TestClient, store: RegistryStore
) -> None:
    store.add(bpp_record())
    body = json.dumps({"\ud800": "SUBSCRIBED"}).encode()  # a lone surrogate, escaped
    for method, path in [("PATCH", "/admin/subscribers/cpo.example.com/cpo-key-1"),
                         ("POST", "/admin/subscribers")]:
        response = admin.request(method, path, content=body)
        assert response.status_code == 400
        assert response.json()["error"]["field"] == "\ud800"


def test_admin_patch_of_an_unknown_record_is_404(admin: TestClient) -> None:
    response = admin.patch("/admin/subscribers/cpo.example.com/nope", json={"status": "SUBSCRIBED"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_admin_deletes_one_key_or_every_key(admin: TestClient, store: RegistryStore) -> None:
    store.add(bpp_record())
    store.add(bpp_record(key_id="cpo-key-2"))
    store.add(bpp_record(key_id="cpo-key-3"))
    response = admin.delete("/admin/subscribers/cpo.example.com/cpo-key-1")
    assert (response.status_code, response.json()) == (200, {"removed": 1})
    assert admin.delete("/admin/subscribers/cpo.example.com/cpo-key-1").status_code == 404
    response = admin.delete("/admin/subscribers/cpo.example.com")
    assert (response.status_code, response.json()) == (200, {"removed": 2})
    response = admin.delete("/admin/subscribers/cpo.example.com")
    assert (response.status_code, response.json()) == (200, {"removed": 0}), "idempotent"
    assert store.lookup() == []


def test_admin_lists_every_record(admin: TestClient, store: RegistryStore) -> None:
    store.add(bpp_record())
    store.add(bap_record(status="INITIATED"))
    listed = admin.get("/admin/subscribers").json()
    assert [(r["subscriber_id"], r["status"]) for r in listed] == [
        ("cpo.example.com", "SUBSCRIBED"),
        ("driver-app.example.com", "INITIATED"),
    ]
    assert "network_memberships" in listed[0]


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong-token", f"Basic {ADMIN_TOKEN}", "Bearer"]
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/subscribers"),
        ("POST", "/admin/subscribers"),
        ("GET", "/admin/subscribers/cpo.example.com/cpo-key-1"),
        ("PATCH", "/admin/subscribers/cpo.example.com/cpo-key-1"),
        ("DELETE", "/admin/subscribers/cpo.example.com/cpo-key-1"),
        ("DELETE", "/admin/subscribers/cpo.example.com"),
    ],
)
def test_admin_calls_need_the_admin_token(
    store: RegistryStore, authorization: str | None, method: str, path: str
) -> None:
    store.add(bpp_record())
    client = TestClient(create_app(store, admin_token=ADMIN_TOKEN))
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.request(method, path, headers=headers, json={"status": "UNSUBSCRIBED"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "UNAUTHORIZED"
    assert store.trusted_key("cpo.example.com", "cpo-key-1") is not None


def test_lookups_stay_open_when_admin_is_guarded(admin: TestClient, store: RegistryStore) -> None:
    store.add(bpp_record())
    open_client = TestClient(create_app(store, admin_token=ADMIN_TOKEN))
    assert open_client.post("/lookup", json={}).status_code == 200
    assert open_client.get("/lookup/cpo.example.com/ubc-mock-registry/cpo-key-1").status_code == 200


def test_admin_is_open_without_a_token(client: TestClient) -> None:
    assert client.post("/admin/subscribers", json=bpp_record()).status_code == 201


def test_unknown_paths_answer_a_json_404(client: TestClient) -> None:
    response = client.get("/subscribe")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "NOT_FOUND")


# --- persistence and threads --------------------------------------------------------------------


def test_records_persist_across_stores_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite3"
    with RegistryStore(path) as first:
        added = first.add(bpp_record(network_memberships=["nbsl/ubc"]))
    with RegistryStore(path) as second:
        assert second.get("cpo.example.com", "cpo-key-1") == added
        assert second.trusted_key("cpo.example.com", "cpo-key-1") == added.signing_public_key


def test_a_revocation_by_one_store_is_seen_by_another_at_once(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite3"
    with RegistryStore(path) as writer, RegistryStore(path) as reader:
        added = writer.add(bpp_record())
        assert reader.trusted_key("cpo.example.com", "cpo-key-1") == added.signing_public_key
        writer.update("cpo.example.com", "cpo-key-1", status="UNSUBSCRIBED")
        assert reader.trusted_key("cpo.example.com", "cpo-key-1") is None


def test_an_in_memory_store_works_from_several_threads() -> None:
    with RegistryStore(":memory:") as store:
        added = store.add(bpp_record())
        seen: list[str | None] = []
        worker = threading.Thread(
            target=lambda: seen.append(store.trusted_key("cpo.example.com", "cpo-key-1"))
        )
        worker.start()
        worker.join(timeout=5)
        assert seen == [added.signing_public_key]


def test_the_store_can_be_used_from_four_threads_at_once(store: RegistryStore) -> None:
    rounds = 50
    start = threading.Barrier(4)
    failures: list[BaseException] = []

    def participant(n: int) -> None:
        try:
            start.wait(timeout=5)
            for i in range(rounds):
                key_id = f"key-{n}-{i}"
                store.add(bpp_record(key_id=key_id))
                assert store.trusted_key("cpo.example.com", key_id) is not None
                store.update("cpo.example.com", key_id, status="UNSUBSCRIBED")
                assert store.trusted_key("cpo.example.com", key_id) is None
                store.lookup(subscriber_id="cpo.example.com")
                if i % 2:
                    assert store.remove("cpo.example.com", key_id) == 1
        except BaseException as exc:  # reported to the main thread below
            failures.append(exc)

    threads = [threading.Thread(target=participant, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert len(store.lookup()) == 4 * rounds // 2


# --- over a real socket -------------------------------------------------------------------------


def _wait_until(condition: Callable[[], bool], deadline_s: float, what: str) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {deadline_s} s")
        time.sleep(0.005)  # polling interval of a deadline-bound wait, not synchronisation


@pytest.fixture
def live_registry(store: RegistryStore) -> Iterator[str]:
    """The registry served by uvicorn on a free loopback port; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(store, admin_token=ADMIN_TOKEN), log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait_until(lambda: server.started or not thread.is_alive(), 10, "uvicorn start")
        assert server.started, "uvicorn stopped before it started serving"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


@pytest.mark.network
def test_registry_over_a_real_socket(live_registry: str, store: RegistryStore) -> None:
    admin_headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=live_registry, timeout=5) as http:
        added = http.post("/admin/subscribers", json=bpp_record(), headers=admin_headers)
        assert added.status_code == 201
        found = http.post("/lookup", json={"subscriber_id": "cpo.example.com", "ukId": "cpo-key-1"})
        assert found.status_code == 200
        assert found.headers["content-type"] == "application/json"
        assert [r["key_id"] for r in found.json()] == ["cpo-key-1"]
        dedi = http.get("/lookup/cpo.example.com/ubc-mock-registry/cpo-key-1")
        assert dedi.json()["data"]["details"]["signing_public_key"] == (
            added.json()["signing_public_key"]
        )
        revoked = http.patch(
            "/admin/subscribers/cpo.example.com/cpo-key-1",
            json={"status": "UNSUBSCRIBED"},
            headers=admin_headers,
        )
        assert revoked.status_code == 200
        # The store the server writes to is the store the signature middleware reads.
        assert store.trusted_key("cpo.example.com", "cpo-key-1") is None
        assert http.get("/lookup/cpo.example.com/ubc-mock-registry/cpo-key-1").status_code == 404
        too_large = http.post("/lookup", content=b"{" + b" " * (70 * 1024) + b"}")
        assert too_large.status_code == 413


@pytest.mark.network
def test_the_openapi_document_holds_for_any_input(live_registry: str) -> None:
    """No 5xx; every status, header and body as documented; documented-valid input accepted."""
    schemathesis = pytest.importorskip("schemathesis")
    hypothesis = pytest.importorskip("hypothesis")
    document = schemathesis.openapi.from_path(OPENAPI)
    statuses: dict[str, set[int]] = {}
    for result in document.get_all_operations():
        operation = result.ok()

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(max_examples=8, deadline=None, database=None, derandomize=True,
                             suppress_health_check=list(hypothesis.HealthCheck),
                             phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
        def holds(case: Any) -> None:
            response = case.call_and_validate(
                base_url=live_registry, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            )
            statuses.setdefault(case.operation.label, set()).add(response.status_code)

        holds()
    assert len(statuses) == 8, "every documented operation was exercised"
    assert 201 in statuses["POST /admin/subscribers"]


def test_every_request_body_the_document_declares_is_checked() -> None:
    yaml = pytest.importorskip("yaml")
    paths = yaml.safe_load(OPENAPI.read_text())["paths"]
    with_body = {operation["operationId"] for item in paths.values()
                 for operation in item.values()
                 if isinstance(operation, dict) and "requestBody" in operation}
    assert RequestBodies.load(OPENAPI).operations == with_body == {
        "lookup", "addSubscriber", "changeSubscriber"}


@pytest.mark.parametrize(
    ("record", "field"),
    [
        (bpp_record(url="ftp://cpo.example.com/beckn"), "url"),
        (bpp_record(subscriber_id="cpo|example"), "subscriber_id"),
        (bpp_record(type="GATEWAY"), "type"),
        (bpp_record(colour="blue"), "colour"),
        ({"subscriber_id": "cpo.example.com"}, "key_id"),
    ],
)
def test_records_added_from_python_obey_the_document_too(
    store: RegistryStore, record: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidField) as refused:
        store.add(record)
    assert refused.value.field == field
    assert store.lookup() == []


def test_every_route_is_documented(store: RegistryStore) -> None:
    yaml = pytest.importorskip("yaml")
    paths = yaml.safe_load(OPENAPI.read_text())["paths"]
    served = {
        (route.path, method.lower())
        for route in create_app(store).routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, item in paths.items() for method in item
                  if method in ("get", "post", "patch", "delete", "put")}
    assert served == documented
