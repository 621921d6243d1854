"""The one Beckn stack every mock party shares: identity, inbox, outbox, directory, http, and
the safeguards of a network (replay memory, signature window, outbound hosts)."""

from mocks.stack.directory import Directory, RegistryClient, RegistryUnavailable
from mocks.stack.identity import Identity
from mocks.stack.inbox import Admission, Handler, Inbound, Inbox, same_uri
from mocks.stack.outbound import OutboundHosts
from mocks.stack.outbox import DEFAULT_SEND_TIMEOUT_S, Outbox, Sent
from mocks.stack.replays import ReplayMemory
from mocks.stack.safeguards import DEFAULT_MAX_VALIDITY_S, Safeguards
from mocks.stack.wire import Wire, party_client, wire

__all__ = ["DEFAULT_MAX_VALIDITY_S", "DEFAULT_SEND_TIMEOUT_S", "Admission", "Directory",
           "Handler", "Identity", "Inbound", "Inbox", "OutboundHosts", "Outbox",
           "RegistryClient", "RegistryUnavailable", "ReplayMemory", "Safeguards", "Sent",
           "Wire", "party_client", "same_uri", "wire"]
