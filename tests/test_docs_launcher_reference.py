"""The launcher page's reference tables stay true to the code.

- "Launcher parameters": one row per field of the launcher config
  (``hydra_plugins.exca_launcher``), with a type, the real default, and a meaning.
- "Coming from hydra-submitit-launcher": one row per parameter of that plugin; the exca
  side names real parameters, and every ``slurm_additional_parameters`` alternative it
  suggests ends up in the Slurm job script submitit writes for an exca job.
"""

import dataclasses
import json
import re
import typing as tp
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from hydra_plugins.exca_launcher.exca_launcher import ExcaLauncherConf

PAGE = Path(__file__).resolve().parents[1] / "docs" / "howto-hydra-launcher.md"
# hydra-submitit-launcher 1.2.0 (the release on PyPI): BaseQueueConf + SlurmQueueConf
# fields (LocalQueueConf adds none), plus two the page also maps: `srun_args` (submitit's
# slurm_srun_args) and `wait_for_completion` (Hydra's development branch)
SUBMITIT_LAUNCHER_PARAMS = [
    "submitit_folder",
    "timeout_min",
    "cpus_per_task",
    "gpus_per_node",
    "tasks_per_node",
    "mem_gb",
    "nodes",
    "name",
    "stderr_to_stdout",
    "partition",
    "qos",
    "comment",
    "constraint",
    "exclude",
    "gres",
    "cpus_per_gpu",
    "gpus_per_task",
    "mem_per_gpu",
    "mem_per_cpu",
    "account",
    "signal_delay_s",
    "max_num_timeout",
    "additional_parameters",
    "array_parallelism",
    "setup",
    "srun_args",
    "wait_for_completion",
]


def _section(title: str) -> str:
    text = PAGE.read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"no section '## {title}' in {PAGE.name}"
    return match.group(1)


def _rows(section: str) -> list[list[str]]:
    """The body rows of every table of a section (header and rule lines dropped)."""
    rows = []
    for block in re.findall(r"((?:^\|.*\|\n)+)", section, re.M):
        lines = block.strip().splitlines()
        for line in lines[2:]:
            cells = re.split(r"(?<!\\)\|", line.strip()[1:-1])
            rows.append([cell.strip() for cell in cells])
    return rows


def _names(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def _yaml(value: tp.Any) -> str:
    """A default as the page writes it: YAML's spelling, quotes on a numeric string."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, str) and value.isdigit():
        return f'"{value}"'
    return str(value)


def test_every_launcher_parameter_has_its_type_default_and_meaning() -> None:
    rows = _rows(_section("Launcher parameters"))
    documented = {}
    for row in rows:
        assert len(row) == 4, f"expected parameter | type | default | meaning: {row}"
        (name,) = _names(row[0])
        assert name not in documented, f"{name} documented twice"
        documented[name] = row
    fields = {f.name: f for f in dataclasses.fields(ExcaLauncherConf) if f.name != "_target_"}
    assert sorted(documented) == sorted(fields)
    for name, (_, type_, default, meaning) in documented.items():
        assert type_ and meaning, f"{name}: empty type or meaning"
        field = fields[name]
        value: tp.Any = (
            field.default_factory()  # type: ignore[misc]
            if field.default_factory is not dataclasses.MISSING
            else field.default
        )
        shown = _yaml(value)
        assert f"`{shown}`" == default, f"{name}: documented default {default}, real {shown!r}"


def test_every_submitit_launcher_parameter_is_mapped() -> None:
    rows = _rows(_section("Coming from hydra-submitit-launcher"))
    ours = {f.name for f in dataclasses.fields(ExcaLauncherConf)}
    mapped: set[str] = set()
    for theirs, exca, note in rows:
        names = _names(theirs)
        mapped.update(n for n in names if not n.startswith("submitit_") or n == "submitit_folder")
        if exca == "no equivalent":
            assert note, f"{theirs}: 'no equivalent' without an alternative"
            continue
        for name in _names(exca):
            assert name in ours or name.startswith("exca_"), f"{theirs} -> unknown {name}"
    assert sorted(set(SUBMITIT_LAUNCHER_PARAMS) - mapped) == []


def _suggested_additional_parameters() -> dict[str, str]:
    """``{key: value}`` of every ``+hydra.launcher.slurm_additional_parameters.<key>=<value>``
    override the mapping table suggests, parsed as Hydra parses a command line."""
    parser = OverridesParser.create()
    found = {}
    for _, _, note in _rows(_section("Coming from hydra-submitit-launcher")):
        for code in _names(note):
            code = code.strip('"')
            if code.startswith("+hydra.launcher.slurm_additional_parameters."):
                override = parser.parse_override(code)
                found[override.key_or_group.rsplit(".", 1)[1]] = override.value()
    return found


def test_suggested_sbatch_options_reach_the_job_script(tmp_path: Path) -> None:
    suggested = _suggested_additional_parameters()
    assert {"gres", "mem_per_cpu", "exclude", "signal"} <= set(suggested)
    from exca.backends import Resources, get_backend

    resources = Resources(folder=tmp_path, slurm_additional_parameters=suggested)
    executor = get_backend("slurm", resources).executor()
    if executor.cluster != "slurm":
        pytest.fail(f"expected a Slurm executor, got {executor.cluster}")
    script = executor._executor._make_submission_file_text("true", "uid")
    lines = set(script.splitlines())
    for key, value in suggested.items():
        flag = key.replace("_", "-")
        assert {f"#SBATCH --{flag}={value}", f"#SBATCH --{flag}='{value}'"} & lines, (
            f"{key}={value} is not in the job script:\n{script}"
        )
