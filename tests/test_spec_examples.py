"""The examples of the specification (spec/seed-explanations.md), run as written.

Only the ConfDict section is here so far; the infra and CacheDict examples are added
with those features.
"""

import typing as tp

import pydantic

from exca import ConfDict


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
