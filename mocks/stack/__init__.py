"""The one Beckn stack every mock party shares: identity, inbox, outbox, directory, http."""

from mocks.stack.directory import Directory, RegistryClient, RegistryUnavailable
from mocks.stack.http import party_client
from mocks.stack.identity import Identity
from mocks.stack.inbox import Admission, Handler, Inbound, Inbox, same_uri
from mocks.stack.outbox import DEFAULT_SEND_TIMEOUT_S, Outbox, Sent

__all__ = ["DEFAULT_SEND_TIMEOUT_S", "Admission", "Directory", "Handler", "Identity", "Inbound",
           "Inbox", "Outbox", "RegistryClient", "RegistryUnavailable", "Sent", "party_client",
           "same_uri"]
