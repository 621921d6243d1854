"""What every step of every role does around its one line of intent: fail on an error
finding, skip (never pass) when the step could not be judged."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Protocol

import pytest

from harness.certify.journey import Journey, NotEvaluated


class Story(Protocol):
    @property
    def j(self) -> Journey: ...


def checked(step: Callable[..., Any]) -> Callable[..., Any]:
    """Run the step, then fail it on any error finding; skip it when it cannot be judged."""
    @wraps(step)
    def run(story: Story, *args: Any, **kwargs: Any) -> None:
        try:
            step(story, *args, **kwargs)
            story.j.assert_clean()
        except NotEvaluated as exc:
            story.j.not_evaluated(str(exc))
            pytest.skip(f"not evaluated: {exc}")
    return run
