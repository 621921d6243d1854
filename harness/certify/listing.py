"""What a role's run would run, read from its Gherkin features without starting anything.

`ubc-cert run --list-scenarios` and `--list-tags` print it, and the plan a run announces counts
it. The features are parsed by pytest-bdd's own parser and a `--tags` expression is evaluated
as pytest's `-m` evaluates it, so the list is the run's, scenario for scenario: a scenario's
tags are its feature's, its own and its examples' (as pytest-bdd marks them), and a Scenario
Outline is one scenario per example row.
"""

from __future__ import annotations

import configparser
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from _pytest.mark.expression import Expression
from pytest_bdd.feature import get_features

from harness.paths import FEATURES_DIR, STEPS_DIR


class TagExpressionError(ValueError):
    """A --tags expression pytest's -m could not parse."""


@dataclass(frozen=True)
class PlannedScenario:
    feature: str
    name: str
    tags: tuple[str, ...]
    example: tuple[tuple[str, str], ...] = ()  # the outline's example row, (column, value)

    @property
    def title(self) -> str:
        """The scenario as the run's lines name it: an outline's row by its example."""
        return display_name(self.name, dict(self.example))

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {"feature": self.feature, "scenario": self.title,
                                   "tags": list(self.tags)}
        if self.example:
            data["example"] = dict(self.example)
        return data


def display_name(name: str, example: Mapping[str, object]) -> str:
    """An outline's scenario named by its example row, unless its name already says it."""
    values = [str(v) for v in example.values() if str(v)]
    if not values or any(v in name for v in values):
        return name
    return f"{name} ({', '.join(values)})"


def scenarios(role: str, features_dir: Path = FEATURES_DIR) -> list[PlannedScenario]:
    """Every scenario of the role's features, in the order a run runs them."""
    found: list[PlannedScenario] = []
    for feature in get_features([str(features_dir / role)]):
        for template in feature.scenarios.values():
            tags = set(template.tags) | set(feature.tags)
            if template.rule is not None:
                tags |= set(template.rule.tags)
            if not template.examples:
                found.append(PlannedScenario(feature.name, template.name, tuple(sorted(tags))))
                continue
            for examples in template.examples:
                for row in examples.as_contexts():
                    found.append(PlannedScenario(
                        feature.name, template.render(row).name,
                        tuple(sorted(tags | set(examples.tags or ()))), tuple(row.items())))
    return found


def select(planned: list[PlannedScenario], expression: str | None) -> list[PlannedScenario]:
    """The scenarios a `--tags` expression selects (all without one); TagExpressionError when
    pytest could not parse it."""
    if not expression:
        return list(planned)
    try:
        compiled = Expression.compile(expression)
    except SyntaxError as exc:
        raise TagExpressionError(f"--tags {expression!r}: {exc.msg}") from None
    return [s for s in planned if compiled.evaluate(_has_tag(s.tags))]


def _has_tag(tags: tuple[str, ...]) -> Callable[..., bool]:
    """A matcher of pytest's expressions: a name matches when it is one of the tags."""
    def matches(name: str, /, **_: object) -> bool:
        return name in tags
    return matches


def tag_descriptions(steps_dir: Path = STEPS_DIR) -> dict[str, str]:
    """Each tag's one-line meaning, from the markers of the certification runs' pytest.ini."""
    config = configparser.ConfigParser()
    config.read(steps_dir / "pytest.ini", encoding="utf-8")
    described = {}
    for line in config.get("pytest", "markers", fallback="").splitlines():
        name, _, meaning = line.partition(":")
        if name.strip():
            described[name.strip()] = meaning.strip()
    return described


def tags(planned: list[PlannedScenario]) -> dict[str, int]:
    """Every tag of these scenarios with how many scenarios carry it, by name."""
    counted: dict[str, int] = {}
    for scenario in planned:
        for tag in scenario.tags:
            counted[tag] = counted.get(tag, 0) + 1
    return dict(sorted(counted.items()))
