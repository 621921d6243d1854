"""The UBC conformance harness: certification engine, checks and the mock network's driver."""

from __future__ import annotations

from functools import cache

DISTRIBUTION = "ubc-conformance"


@cache
def version() -> str:
    """The harness's version, from its installed package metadata (`ubc-cert --version`, every
    report); read on demand, as the lookup scans the installed distributions."""
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # a source tree run without installing it
        return "0+unknown"
