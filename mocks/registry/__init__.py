"""The mock network's registry: who is on the network, where they live, which keys they sign with.

Two read APIs over one SQLite store, plus an admin API the harness uses to set up and revoke
participants during a run (app.py, documented in schemas/openapi/registry.yaml, whose
request-body schemas are the rules of what it accepts: openapi.py). The store (store.py) keeps
records (records.py) in SQLite; `RegistryStore.trusted_key` answers the trust question.
"""

from mocks.registry.app import create_app
from mocks.registry.errors import (
    DuplicateSubscriber,
    InvalidBody,
    InvalidField,
    RegistryError,
    UnknownSubscriber,
)
from mocks.registry.openapi import RequestBodies
from mocks.registry.records import DEFAULT_DOMAIN, DEFAULT_REGISTRY_NAME, Subscriber
from mocks.registry.store import RegistryStore

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_REGISTRY_NAME",
    "DuplicateSubscriber",
    "InvalidBody",
    "InvalidField",
    "RegistryError",
    "RegistryStore",
    "RequestBodies",
    "Subscriber",
    "UnknownSubscriber",
    "create_app",
]
