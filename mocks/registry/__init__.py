"""The mock network's registry: who is on the network, where they live, which keys they sign with.

Two read APIs over one SQLite store, plus an admin API the harness uses to set up and revoke
participants during a run (app.py, documented in schemas/openapi/registry.yaml). The store
(store.py) keeps records (records.py); `RegistryStore.trusted_key` is what the signature
step of every party's inbox asks, through the directory.
"""

from mocks.registry.app import create_app
from mocks.registry.errors import (
    DuplicateSubscriber,
    InvalidField,
    RegistryError,
    UnknownSubscriber,
)
from mocks.registry.records import (
    DEFAULT_DOMAIN,
    DEFAULT_REGISTRY_NAME,
    ID_PATTERN,
    STATUSES,
    SUBSCRIBER_TYPES,
    URL_PATTERN,
    Subscriber,
)
from mocks.registry.store import RegistryStore

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_REGISTRY_NAME",
    "ID_PATTERN",
    "STATUSES",
    "SUBSCRIBER_TYPES",
    "URL_PATTERN",
    "DuplicateSubscriber",
    "InvalidField",
    "RegistryError",
    "RegistryStore",
    "Subscriber",
    "UnknownSubscriber",
    "create_app",
]
