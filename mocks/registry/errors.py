"""What the registry refuses: a bad field or body, a record that exists already, one that does not.

Raised by the store (whichever door a change comes in by, Python or HTTP); the app answers
each in the one error shape of mocks/stack/http.py. `code` is the machine-readable error code.
"""

from __future__ import annotations


class RegistryError(Exception):
    """A change or query the registry refuses."""

    code = "REGISTRY_ERROR"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidField(RegistryError, ValueError):
    """A record field is missing, unknown or has a value the registry does not accept."""

    code = "INVALID_FIELD"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field)


class InvalidBody(RegistryError, ValueError):
    """The body of a request is not the kind of JSON value its operation takes (an object)."""

    code = "INVALID_BODY"


class DuplicateSubscriber(RegistryError):
    """The subscriber already has a record with this key_id."""

    code = "ALREADY_EXISTS"


class UnknownSubscriber(RegistryError, LookupError):
    """No record for this (subscriber_id, key_id)."""

    code = "NOT_FOUND"
