"""The reference BAP: the counterparty the harness uses to certify a BPP, and a driver's app
a harness can certify as a BAP through its `/v1` client API.

Its Beckn side (beckn.py) sends every UBC request signed with its own key and verifies and
records every callback through the shared stack; its app side (service.py) holds the
driver's orders (orders.py) and the catalogs it learned (catalogs.py) and serves the client
API of client-api-contract.md (client_api.py, answers in documents.py, errors in errors.py).
Fault switches (`FAULTS`, faults.py) make it misbehave in exactly one way each, named by the
rule a certifying harness must report; they are switched at run time through
`PUT /_control/faults`.
"""

from mocks.bap.app import create_app
from mocks.bap.beckn import CALLBACKS, Call, ReferenceBap, Transaction
from mocks.bap.config import BapConfig
from mocks.bap.faults import FAULTS, PROPOSED_RULES, Fault
from mocks.bap.service import DriverApp

__all__ = ["CALLBACKS", "FAULTS", "PROPOSED_RULES", "BapConfig", "Call", "DriverApp", "Fault",
           "ReferenceBap", "Transaction", "create_app"]
