"""The cache layout: folder names, config dumps, their check, atomic writes."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from exca import ConfDict, TaskInfra, layout


class TutorialTask(pydantic.BaseModel):
    param: int = 12
    infra: TaskInfra = TaskInfra(version="1")

    @infra.apply
    def process(self) -> int:
        return self.param * 2


def test_names() -> None:
    assert layout.folder_name("pkg.mod", "Cls", "run", version="3") == "pkg.mod.Cls.run,3"
    assert layout.folder_name("pkg.mod.Model", version="0") == "pkg.mod.Model,0"
    with pytest.raises(ValueError, match="must not contain"):
        layout.folder_name("Cls", version="../x")
    assert layout.uid_name("") == "default"
    assert layout.uid_name("x=1-abc") == "x=1-abc"


def test_infra_cache_folder_layout(tmp_path: Path) -> None:
    task = TutorialTask(param=13, infra={"folder": tmp_path})
    assert task.process() == 26
    uid = ConfDict({"param": 13}).to_uid(version=3)  # folders named as exca 0.6.0 names them
    folder = tmp_path / f"{__name__}.TutorialTask.process,1" / uid
    assert uid.startswith("param=13-") and len(uid) == len("param=13-") + 8
    assert task.infra.uid_folder() == folder
    names = {p.name for p in folder.iterdir()}
    assert {layout.UID, layout.FULL_UID, layout.CONFIG} <= names
    assert any(name.endswith("-info.jsonl") for name in names)  # the CacheDict index
    assert not any(name.endswith(".tmp") for name in names)
    default = TutorialTask(infra={"folder": tmp_path})
    assert default.infra.uid_folder() == folder.parent / "default"


def test_check_or_write_configs(tmp_path: Path) -> None:
    cfg = ConfDict({"a": 1, "b": {"c": "x"}})
    calls: list[str] = []

    def full_uid() -> ConfDict:
        calls.append("full_uid")
        return ConfDict({"a": 1, "b": {"c": "x"}, "d": 0})

    def full() -> ConfDict:
        calls.append("full")
        return ConfDict({"a": 1, "b": {"c": "x"}, "d": 0, "workers": 4})

    folder = tmp_path / "uid"
    assert not layout.check_or_write_configs(folder, cfg, full_uid, full, write=False)
    assert not folder.exists() and calls == []
    assert layout.check_or_write_configs(folder, cfg, full_uid, full, write=True)
    assert ConfDict.from_yaml(folder / layout.UID) == cfg
    assert ConfDict.from_yaml(folder / layout.FULL_UID)["d"] == 0
    assert ConfDict.from_yaml(folder / layout.CONFIG)["workers"] == 4
    assert calls == ["full_uid", "full"]
    # an existing, equal config is only checked (also when written in another form)
    (folder / layout.UID).write_text("b:\n  c: x\na: 1\n")
    assert layout.check_or_write_configs(folder, cfg, full_uid, full, write=True)
    assert calls == ["full_uid", "full"]
    other = ConfDict({"a": 2, "b": {"c": "x"}})
    with pytest.raises(layout.ConfigMismatchError) as info:
        layout.check_or_write_configs(folder, other, full_uid, full, write=False)
    message = str(info.value)
    assert str(folder) in message and "a: 1" in message and "a: 2" in message
    assert "version" in message  # says how to get out of it


def test_atomic_writes(tmp_path: Path) -> None:
    path = tmp_path / "file.txt"
    layout.atomic_write_text(path, "one")
    layout.atomic_write_text(path, "two")
    layout.atomic_write_bytes(tmp_path / "file.bin", b"\x00\x01")
    assert path.read_text() == "two"
    assert (tmp_path / "file.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin", "file.txt"]


def test_config_check_after_cached_calls(tmp_path: Path) -> None:
    """Checks of an unchanged uid.yaml are memoized (by path, inode, size and mtime); a
    dump replaced afterwards (another config, or another definition of the class) is read
    again and the mismatch is still raised."""
    task = TutorialTask(param=3, infra={"folder": tmp_path})
    assert task.process() == 6
    for _ in range(3):  # fresh objects: cached calls, each checking the dump
        assert TutorialTask(param=3, infra={"folder": tmp_path}).process() == 6
    folder = task.infra.uid_folder()
    assert folder is not None
    dumped = folder / layout.UID
    layout.atomic_write_text(dumped, dumped.read_text().replace("3", "4"))
    with pytest.raises(layout.ConfigMismatchError, match="another config"):
        TutorialTask(param=3, infra={"folder": tmp_path}).process()
