"""Reading a TOML file a person wrote (a candidate file, a waiver file): every way it can be
unreadable named with the file, as one message."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


class TomlFileError(ValueError):
    """The file cannot be read as TOML; the message names the file and why."""


def read(path: str | Path) -> dict[str, Any]:
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise TomlFileError(f"{where}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TomlFileError(f"{where}: not UTF-8 text") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TomlFileError(f"{where}: not valid TOML: {exc}") from None
