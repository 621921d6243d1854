"""The registry's HTTP face: Beckn v1 `POST /lookup`, the DeDi lookup, and the admin API.

- Beckn v1 `POST /lookup` (what beckn/protocol-server and the v1 registry plugin of ONIX call):
  a filter of `subscriber_id`, `type`, `domain`, `key_id` (also spelled `ukId` or
  `unique_key_id`) answers a list of v1 records (records.py `as_v1`). It lists matching records
  in every status, each carrying its `status`: as in the v1 registry, the consumer decides whom
  to trust. v1 knows no CDS: a CDS's record shows type BG, and a filter on BG finds it
  (harness.beckn.subscriber says why).
- DeDi `GET /lookup/{subscriber_id}/{registry_name}/{key_id}` (what UBC mandates, TSD §9.1-9.2,
  and what ONIX's dediregistry plugin calls): one record in the DeDi wrapper shape. DeDi records
  carry no status, so a record that is not trusted right now (not SUBSCRIBED, or outside
  valid_from..valid_until) is answered 404, exactly as a revoked DeDi record would be.
- Admin `/admin/subscribers[...]`: add, change, remove and list records; guarded by a bearer
  token when the app is built with one. Built with an outbound allow-list, it refuses (400
  HOST_NOT_ALLOWED) a record whose URL is on a host the network's parties may not send to:
  the CDS would fan signed discovers out there, and callbacks would go there.

Given a transcript, every request the registry receives and its answer is recorded there
(party "registry", INBOUND; the admin token redacted), so a run's evidence shows whom the
candidate looked up and what it was told.

The endpoints are documented in schemas/openapi/registry.yaml.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harness.beckn.subscriber import types_shown_as
from harness.transcript import Transcript
from mocks.registry.errors import (
    DuplicateSubscriber,
    InvalidBody,
    InvalidField,
    RegistryError,
    UnknownSubscriber,
)
from mocks.registry.openapi import RequestBodies, request_bodies
from mocks.registry.records import (
    ADD_OPERATION,
    CHANGE_OPERATION,
    DEFAULT_REGISTRY_NAME,
    KEY_ID_ALIASES,
    valid_unicode,
)
from mocks.registry.store import RegistryStore
from mocks.stack.http import (
    MAX_CONTROL_BODY_BYTES,
    ApiError,
    error_handlers,
    error_response,
    json_body,
    json_response,
)
from mocks.stack.outbound import OutboundHosts
from mocks.stack.recorder import RecordedRequests

# A registry record is well under 2 KiB; larger bodies are refused.
MAX_BODY_BYTES = MAX_CONTROL_BODY_BYTES
LOOKUP_OPERATION = "lookup"
PARTY = "registry"  # the party its exchanges are recorded under
# The HTTP status of each refusal of the store or of a body.
_STATUS_OF_ERROR: dict[type[RegistryError], int] = {
    InvalidField: 400,
    InvalidBody: 400,
    DuplicateSubscriber: 409,
    UnknownSubscriber: 404,
}


async def _on_registry_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RegistryError)
    status = next((s for kind, s in _STATUS_OF_ERROR.items() if isinstance(exc, kind)), 400)
    return error_response(status, exc.code, exc.message, exc.field)


async def _body(request: Request, bodies: RequestBodies, operation_id: str) -> dict[str, Any]:
    """The request's JSON body, valid for its operation in the document (an object)."""
    document = await json_body(request, limit=MAX_BODY_BYTES)
    bodies.check(operation_id, document)
    assert isinstance(document, dict)  # every request body of the document is an object
    return document


def _lookup_filter(document: Mapping[str, Any]) -> dict[str, Any] | None:
    """The store's lookup filter out of a valid v1 request body, or None when nothing can match.

    Unknown fields are ignored, and so are null ones. Every spelling of key_id given must match,
    so spellings that disagree match nothing. A type is the v1 type a record shows: "BG" finds
    the BGs and the CDSs.
    """
    given: dict[str, Any] = {}
    for name, spellings in (
        ("subscriber_id", ("subscriber_id",)),
        ("type", ("type",)),
        ("domain", ("domain",)),
        ("key_id", ("key_id", *KEY_ID_ALIASES)),
    ):
        for spelling in spellings:
            value = document.get(spelling)
            if value is None:
                continue
            valid_unicode(value, spelling)
            if given.setdefault(name, value) != value:
                return None
    if "type" in given:
        given["type"] = types_shown_as(given["type"])
    return given


def create_app(
    store: RegistryStore,
    *,
    registry_name: str = DEFAULT_REGISTRY_NAME,
    admin_token: str | None = None,
    transcript: Transcript | None = None,
    outbound: OutboundHosts | None = None,
) -> Starlette:
    """The registry as an ASGI app over `store`.

    `registry_name` is the only registry the DeDi lookup answers for. With `admin_token`,
    `/admin/*` needs `Authorization: Bearer <admin_token>`. With `transcript`, every request
    and its answer is recorded there (party "registry"). Every request body is checked
    against its operation's schema in schemas/openapi/registry.yaml, read here once; the store
    checks a record against the same schema again, as it does for records added from Python.
    With `outbound`, a record's URL must be on one of its hosts.
    """
    bodies = request_bodies()

    def require_allowed_url(document: Mapping[str, Any]) -> None:
        url = document.get("url")
        if outbound is None or not isinstance(url, str):
            return
        refusal = outbound.refusal(url)
        if refusal is not None:
            raise ApiError(400, "HOST_NOT_ALLOWED", f"url: {refusal}", field="url")

    def require_admin(request: Request) -> None:
        if admin_token is None:
            return
        presented = request.headers.get("authorization", "")
        scheme, _, token = presented.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), admin_token.encode()
        ):
            raise ApiError(
                401,
                "UNAUTHORIZED",
                "the admin API needs 'Authorization: Bearer <admin token>'",
                headers={"WWW-Authenticate": f'Bearer realm="{registry_name}"'},
            )

    async def v1_lookup(request: Request) -> Response:
        wanted = _lookup_filter(await _body(request, bodies, LOOKUP_OPERATION))
        found = [] if wanted is None else store.lookup(**wanted)
        return json_response([record.as_v1() for record in found])

    async def dedi_lookup(request: Request) -> Response:
        params = request.path_params
        if params["registry_name"] != registry_name:
            raise ApiError(
                404, "NOT_FOUND", f"no registry {params['registry_name']!r} here; "
                f"this registry is {registry_name!r}",
            )
        record = store.get(params["subscriber_id"], params["key_id"])
        if record is None or not record.is_trusted():
            raise ApiError(
                404,
                "NOT_FOUND",
                f"no live record for subscriber {params['subscriber_id']!r} "
                f"with key {params['key_id']!r}",
            )
        return json_response(record.as_dedi(registry_name))

    async def subscribers(request: Request) -> Response:
        require_admin(request)
        if request.method != "POST":
            return json_response([record.as_dict() for record in store.lookup()])
        document = await _body(request, bodies, ADD_OPERATION)
        require_allowed_url(document)
        added = store.add(document)
        location = (
            f"/admin/subscribers/{quote(added.subscriber_id, safe='')}"
            f"/{quote(added.key_id, safe='')}"
        )
        return json_response(added.as_dict(), status=201, headers={"Location": location})

    async def one_subscriber(request: Request) -> Response:
        require_admin(request)
        subscriber_id = request.path_params["subscriber_id"]
        key_id = request.path_params["key_id"]
        if request.method == "PATCH":
            changes = await _body(request, bodies, CHANGE_OPERATION)
            require_allowed_url(changes)
            return json_response(store.update(subscriber_id, key_id, **changes).as_dict())
        if request.method == "DELETE":
            if not store.remove(subscriber_id, key_id):
                raise UnknownSubscriber(
                    f"no record for subscriber {subscriber_id!r} with key {key_id!r}"
                )
            return json_response({"removed": 1})
        record = store.get(subscriber_id, key_id)
        if record is None:
            raise UnknownSubscriber(
                f"no record for subscriber {subscriber_id!r} with key {key_id!r}"
            )
        return json_response(record.as_dict())

    async def remove_subscriber(request: Request) -> Response:
        require_admin(request)
        subscriber_id = request.path_params["subscriber_id"]
        # Idempotent, so "make sure this subscriber is gone" needs no look first.
        return json_response({"removed": store.remove(subscriber_id)})

    routes = [
        Route("/lookup", v1_lookup, methods=["POST"]),
        Route("/lookup/{subscriber_id}/{registry_name}/{key_id}", dedi_lookup, methods=["GET"]),
        Route("/admin/subscribers", subscribers, methods=["GET", "POST"]),
        Route("/admin/subscribers/{subscriber_id}", remove_subscriber, methods=["DELETE"]),
        Route(
            "/admin/subscribers/{subscriber_id}/{key_id}",
            one_subscriber,
            methods=["GET", "PATCH", "DELETE"],
        ),
    ]
    middleware = [] if transcript is None else [
        Middleware(RecordedRequests, transcript=transcript, party=PARTY, limit=MAX_BODY_BYTES)]
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={**error_handlers(), RegistryError: _on_registry_error},
    )
