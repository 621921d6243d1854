"""The reference BPP: a conforming charge point operator platform on top of the charger
simulator, which the mock network runs and the harness certifies itself against.

It publishes the charger site as a UBC catalog (catalog.py) and serves the whole order journey
of TSD §11 and the corner cases of §12 (service.py) through the shared inbox and outbox: the
orders it holds (orders.py), what they cost and how they settle (pricing.py), the documents
its callbacks carry (documents.py) and how those callbacks are sent (callbacks.py). Its
control API (control.py) offers the test hooks a certification plays the physical world with.

Fault switches (`FAULTS`, faults.py) make it misbehave in exactly one way each, named by the
rule a certifying harness must report; they are switched at run time through
`PUT /_control/faults`.
"""

from harness.beckn.hooks import HOOKS
from harness.beckn.order import CORE_CONTEXT
from mocks.bpp.app import create_app
from mocks.bpp.config import BppConfig
from mocks.bpp.faults import FAULTS, Fault
from mocks.bpp.service import ACTIONS, ReferenceBpp

__all__ = ["ACTIONS", "CORE_CONTEXT", "FAULTS", "HOOKS", "BppConfig", "Fault", "ReferenceBpp",
           "create_app"]
