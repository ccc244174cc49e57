"""Differential tests: the scenarios of ``tests/parity_scenarios.py`` run under exca 0.6.0
and under this package give the same observations, except the deliberate differences each
scenario lists (they are on docs/coming-from-0.6.0.md)."""

from __future__ import annotations

import typing as tp
from pathlib import Path

import pytest

from tests.parity_scenarios import SCENARIOS, Scenario

ENV = {"CONFDICT_UID_VERSION": "3", "EXCA_PROGRESS": "0"}


@pytest.mark.parametrize("scn", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_parity(scn: Scenario, exca060: tp.Any, ours: tp.Any, tmp_path: Path) -> None:
    ref = exca060.json(scn.script(), cwd=tmp_path / "ref", env=ENV)
    got = ours.json(scn.script(), cwd=tmp_path / "ours", env=ENV)
    assert set(ref) == set(got)
    unexplained = {}
    for key, ref_value in ref.items():
        if key in scn.deliberate:
            expected, reason = scn.deliberate[key]
            assert reason and ref_value != expected, f"{key}: no longer a difference"
            assert got[key] == expected, f"{key}: {got[key]!r} (expected {expected!r})"
        elif got[key] != ref_value:
            unexplained[key] = {"0.6.0": ref_value, "ours": got[key]}
    assert not unexplained, unexplained


# a phrase of the row of docs/coming-from-0.6.0.md listing each deliberate difference
DOCUMENTED = {
    "confdict_ops": "leaves the ConfDict half-updated",
    "infra_update_pattern": "after the object's uid was computed",
    "task_misc": '`version="a/b"` is accepted',
    "subconfig_without_forbid": 'sub-model does not set `extra="forbid"`',
    "uid_conventions": "as `infra: {}`",
    "submit_calls": "decorated `@staticmethod` fails",
    "task_everyday": "`clone_obj(dict, key=value)`",
    "map_everyday": "missing items in set order",
    "confdict_everyday": '`ConfDict.setdefault("a.b", ...)`',
}


def test_deliberate_differences_are_documented() -> None:
    page = (Path(__file__).parents[1] / "docs" / "coming-from-0.6.0.md").read_text()
    api = page.split("### API", 1)[1]
    with_differences = {scn.name for scn in SCENARIOS if scn.deliberate}
    assert with_differences == set(DOCUMENTED)
    for name, phrase in DOCUMENTED.items():
        assert phrase in api, f"{name}: {phrase!r} is not in the API table of the docs page"
