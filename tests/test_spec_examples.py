"""The examples of the specification (spec/seed-explanations.md), run as written.

Only the ConfDict section is here so far; the infra and CacheDict examples are added
with those features.
"""

import re
import typing as tp
from pathlib import Path

import pydantic
import pytest

from exca import ConfDict, TaskInfra


def test_confdict_section() -> None:
    # ```python
    cfdict = ConfDict({"training.optim.lr": 0.01})
    assert cfdict == {"training": {"optim": {"lr": 0.01}}}
    # ```
    # ```python continuation
    # flattens the dictionary
    assert cfdict.flat() == {"training.optim.lr": 0.01}

    # export to yaml (can take a file as argument)
    assert cfdict.to_yaml() == "training.optim.lr: 0.01\n"

    # uid computation
    assert cfdict.to_uid() == "training.optim.lr=0.01-346ce994"
    # ```


def test_confdict_dotted_and_nested_mixture() -> None:
    # "Data can be specified either through dotted-keywords or directly through
    # sub-dictionaries or a mixture of both"
    mixed = ConfDict({"training": {"optim.lr": 0.01}})
    assert mixed == ConfDict({"training.optim.lr": 0.01})
    assert mixed == {"training": {"optim": {"lr": 0.01}}}


def test_uid_rules_of_the_spec_on_models() -> None:
    # "uid computation": public attributes which are non-defaults and not excluded
    # through _exclude_from_cls_uid (list/tuple or method returning one)
    class TutorialTask(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        param: int = 12
        num_workers: int = 4
        _exclude_from_cls_uid: tp.ClassVar[tuple[str, ...]] = ("num_workers",)

    task = TutorialTask(param=13, num_workers=8)
    cfdict = ConfDict.from_model(task, uid=True, exclude_defaults=True)
    assert cfdict == {"param": 13}
    assert cfdict.to_uid() == "param=13-c51ce410"


# ---------- infra examples (TaskInfra); added with the infras ----------


class MyClassCfg(pydantic.BaseModel):
    x: int = 12
    y: str = "hello"

    def build(self) -> "MyClass":
        return MyClass(self)


class MyClass:
    def __init__(self, cfg: MyClassCfg):
        self.cfg = cfg


def test_coupled_config_and_object_pattern() -> None:
    # "No parameter duplication": the config builds the object it configures
    cfg = MyClassCfg(x=3)
    obj = cfg.build()
    assert isinstance(obj, MyClass) and obj.cfg is cfg and obj.cfg.y == "hello"
    with pytest.raises(pydantic.ValidationError, match="x"):
        MyClassCfg(x="not an int")


class TutorialTask(pydantic.BaseModel):
    param: int = 12
    infra: TaskInfra = TaskInfra(version="1")

    @infra.apply
    def process(self) -> int:
        return 2 * self.param


def test_infra_config_and_clone_obj_examples() -> None:
    # ```python
    task = TutorialTask(param=13)
    cfdict = task.infra.config(uid=True, exclude_defaults=True)
    assert cfdict == {"param": 13}
    # ```
    # ```python continuation
    # exports a ConfDict and reinstantiate from it
    new = task.infra.clone_obj({"param": 14})
    assert new.param == 14
    # ```
    assert new.process() == 28 and task.process() == 26


def test_caching_section_folder_naming(tmp_path: Path) -> None:
    # "Cache folders are created as
    # <full_module_import_name>.<class_name>.<method_name>,<version>/<param1=value1,...>"
    # eg: mypackage.mymodule.TutorialTask.process,1/param=13-fbfu2iow
    task = TutorialTask(param=13, infra={"folder": tmp_path})
    assert task.process() == 26
    method_folder = tmp_path / "tests.test_spec_examples.TutorialTask.process,1"
    [uid_folder] = method_folder.iterdir()
    assert re.fullmatch(r"param=13-[0-9a-f]{8}", uid_folder.name)
    # the uid of version 3 (exca 0.6.0 names folders so): both packages share them
    assert uid_folder.name == ConfDict({"param": 13}).to_uid(version=3)
    assert task.infra.uid_folder() == uid_folder
    assert {"uid.yaml", "full-uid.yaml", "config.yaml"} <= {p.name for p in uid_folder.iterdir()}
    # "infra objects have all their parameters excluded except version"
    other = TutorialTask(param=13, infra={"folder": tmp_path, "timeout_min": 5, "cluster": None})
    assert other.infra.uid_folder() == uid_folder
    assert TutorialTask(infra={"folder": tmp_path}).infra.uid_folder() == method_folder / "default"
