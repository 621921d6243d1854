"""Where the project's data lives, relative to the installed (editable) package."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FEATURES_DIR = ROOT / "features"
SCHEMAS_DIR = ROOT / "schemas"
STEPS_DIR = Path(__file__).resolve().parent / "steps"
