"""What all infras share: binding to the owner, subclasses, several infras, uid exclusions,
freezing, cloning, iter_cached, config dumps, pickling and copies."""

from __future__ import annotations

import collections
import copy
import os
import pickle
import shutil
import typing as tp
from pathlib import Path

import numpy as np
import pydantic
import pytest

import exca
from exca import ConfDict, MapInfra, SubmitInfra, TaskInfra
from exca.base import BaseInfra, FrozenModelError
from exca.layout import ConfigMismatchError

CALLS: list[tp.Any] = []


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


class Base(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    x: int = 1
    infra: TaskInfra = TaskInfra(version="1")

    @infra.apply
    def process(self) -> int:
        CALLS.append(("Base", self.x))
        return self.x


class NewVersion(Base):
    """Overrides the infra field only: the parent's method, a new version."""

    infra: TaskInfra = TaskInfra(version="2")


class NewMethod(Base):
    """Overrides the infra field and the method."""

    infra: TaskInfra = TaskInfra(version="1")

    @infra.apply
    def process(self) -> int:
        CALLS.append(("NewMethod", self.x))
        return 10 * self.x


class PlainOverride(Base):
    """Overrides the method with a plain one calling the cached parent method."""

    def process(self) -> int:
        return super().process() + 100


class Sub(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    y: int = 0
    infra: MapInfra = MapInfra()

    @infra.apply(item_uid=str)
    def double(self, items: tp.Sequence[int]) -> tp.Iterator[int]:
        for item in items:
            yield 2 * item + self.y


class Several(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    x: int = 1
    sub: Sub = Sub()
    first: TaskInfra = TaskInfra()
    second: TaskInfra = TaskInfra(version="2")
    mapper: MapInfra = MapInfra()

    @first.apply
    def one(self) -> int:
        CALLS.append("one")
        return self.x

    @second.apply
    def two(self) -> int:
        CALLS.append("two")
        return -self.x

    @mapper.apply(item_uid=str)
    def many(self, items: tp.Sequence[int]) -> tp.Iterator[int]:
        CALLS.append("many")
        for item in items:
            yield item * self.x


def _exclude_b(obj: tp.Any) -> list[str]:
    return ["b"]


class Excluding(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    a: int = 0
    b: int = 0
    c: int = 0
    by_list: TaskInfra = TaskInfra()
    by_callable: TaskInfra = TaskInfra()
    by_name: TaskInfra = TaskInfra()

    @by_list.apply(exclude_from_cache_uid=["b", "c"])
    def listed(self) -> int:
        return self.a

    @by_callable.apply(exclude_from_cache_uid=_exclude_b)
    def called(self) -> int:
        return self.a

    @by_name.apply(exclude_from_cache_uid="method:_excluded")
    def named(self) -> int:
        return self.a

    def _excluded(self) -> list[str]:
        return ["c"]


class ExcludingChild(Excluding):
    def _excluded(self) -> list[str]:  # used: "method:<name>" is resolved on the subclass
        return ["a"]


class Nested(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    sub: Sub = Sub()
    lr: float = 0.1
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def process(self) -> float:
        return self.lr + self.sub.y


# ---------- binding ----------


def test_each_object_has_its_own_bound_infra() -> None:
    a, b = Base(x=1), Base(x=2)
    assert a.infra is not b.infra
    assert a.infra.obj is a and b.infra.obj is b
    assert Base.model_fields["infra"].default.version == "1"
    shared = TaskInfra(version="1")
    c, d = Base(x=3, infra=shared), Base(x=4, infra=shared)
    assert c.infra.obj is c and d.infra.obj is d
    assert c.process() == 3 and d.process() == 4


class _PostInit(TaskInfra):
    """A user subclass running code of its own after validation."""

    _seen: bool = False

    def model_post_init(self, context: tp.Any, /) -> None:
        self._seen = True


@pytest.mark.parametrize("cls", [TaskInfra, MapInfra, SubmitInfra, _PostInit])
def test_new_infras_start_with_their_own_private_defaults(cls: type[BaseInfra]) -> None:
    """Private attributes are set as pydantic sets them (exca installs a faster
    equivalent): each object its own dict of the declared defaults."""
    expected = {name: p.get_default() for name, p in cls.__private_attributes__.items()}
    a, b = cls(), cls.model_validate({"version": "2"})
    for infra in (a, b, cls.model_construct()):
        private = dict(infra.__pydantic_private__ or {})
        if cls is _PostInit:
            assert private.pop("_seen") is True  # the subclass's own code ran
            private["_seen"] = False
        assert private == expected
    assert a.__pydantic_private__ is not b.__pydantic_private__
    a._uid = "x"
    assert b._uid is None


def test_given_values_complete_the_class_default_infra(tmp_path: Path) -> None:
    for given in ({"folder": tmp_path}, TaskInfra(folder=tmp_path)):
        obj = Base(infra=given)
        assert obj.infra.version == "1"
        assert obj.infra.folder == tmp_path
    assert Base(infra={"version": "3"}).infra.version == "3"


def test_unattached_infra_error() -> None:
    with pytest.raises(RuntimeError, match="not attached to an object"):
        TaskInfra().uid()


def test_subclass_redeclaring_the_infra_without_applying_it(tmp_path: Path) -> None:
    # as in exca 0.6.0: the redeclared infra decorates nothing, the subclass must re-apply it
    with pytest.raises(RuntimeError, match="'infra' of NewVersion was not applied"):
        NewVersion(x=3, infra={"folder": tmp_path})


def test_subclass_overriding_the_method(tmp_path: Path) -> None:
    obj = NewMethod(x=3, infra={"folder": tmp_path})
    assert obj.process() == 30
    assert Base(x=3, infra={"folder": tmp_path}).process() == 3
    assert CALLS == [("NewMethod", 3), ("Base", 3)]
    assert obj.infra.uid().startswith(f"{__name__}.NewMethod.process,1/")


def test_subclass_plain_override_calls_the_cached_method(tmp_path: Path) -> None:
    obj = PlainOverride(x=2, infra={"folder": tmp_path})
    assert obj.process() == 102
    assert PlainOverride(x=2, infra={"folder": tmp_path}).process() == 102
    assert CALLS == [("Base", 2)]


def test_several_infras_on_one_class(tmp_path: Path) -> None:
    infra = {"folder": tmp_path}
    obj = Several(x=3, first=infra, second=infra, mapper=infra)
    assert (obj.one(), obj.two(), list(obj.many([1, 2]))) == (3, -3, [3, 6])
    again = Several(x=3, first=infra, second=infra, mapper=infra)
    assert (again.one(), again.two(), list(again.many([2]))) == (3, -3, [6])
    assert CALLS == ["one", "two", "many"]
    uids = [obj.first.uid(), obj.second.uid(), obj.mapper.uid()]
    assert [u.split("/")[0] for u in uids] == [
        f"{__name__}.Several.one,0",
        f"{__name__}.Several.two,2",
        f"{__name__}.Several.many,0",
    ]
    assert len({u.split("/")[1] for u in uids}) == 1  # same config, other folders
    assert set(obj.first.obj_infras()) == {"sub.infra", "first", "second", "mapper"}
    assert obj.first.obj_infras()["second"] is obj.second
    # a non-default version of another infra is part of the config
    other = Several(x=3, first=infra, second={**infra, "version": "5"})
    assert other.first.config(uid=True, exclude_defaults=True) == {
        "x": 3,
        "second": {"version": "5"},
    }


def test_infra_contributes_only_its_version() -> None:
    obj = Base(x=2, infra={"folder": "/somewhere", "cluster": None, "timeout_min": 3})
    assert ConfDict.from_model(obj, uid=True, exclude_defaults=True) == {"x": 2}
    assert ConfDict.from_model(obj, uid=True) == {"x": 2, "infra": {"version": "1"}}
    full = obj.infra.config(uid=False, exclude_defaults=True)
    assert full["infra"]["folder"] == "/somewhere" and full["infra"]["timeout_min"] == 3


def test_repr_shows_non_default_fields_only() -> None:
    assert repr(TaskInfra(version="1", timeout_min=3)) == "TaskInfra(timeout_min=3, version='1')"


# ---------- exclude_from_cache_uid ----------


def test_exclude_from_cache_uid_forms() -> None:
    obj = Excluding(a=1, b=2, c=3)
    assert obj.by_list.config(uid=True, exclude_defaults=True) == {"a": 1}
    assert obj.by_callable.config(uid=True, exclude_defaults=True) == {"a": 1, "c": 3}
    assert obj.by_name.config(uid=True, exclude_defaults=True) == {"a": 1, "b": 2}
    # the class-level uid (as a sub-config) is not affected
    assert ConfDict.from_model(obj, uid=True, exclude_defaults=True) == {"a": 1, "b": 2, "c": 3}
    # in a subclass, "method:<name>" uses the overriding method; a callable stays the same
    child = ExcludingChild(a=1, b=2, c=3)
    assert child.by_name.config(uid=True, exclude_defaults=True) == {"b": 2, "c": 3}
    assert child.by_callable.config(uid=True, exclude_defaults=True) == {"a": 1, "c": 3}
    assert Excluding(a=1, b=5).by_list.uid().endswith(Excluding(a=1).by_list.uid()[-13:])


def test_exclude_from_cache_uid_errors() -> None:
    with pytest.raises(ValueError, match=r"'nope'.*method:<name>"):
        TaskInfra().apply(exclude_from_cache_uid="nope")

    class MissingMethod(pydantic.BaseModel):
        infra: TaskInfra = TaskInfra()

        @infra.apply(exclude_from_cache_uid="method:_missing")
        def process(self) -> int:
            return 1

    with pytest.raises(RuntimeError, match="MissingMethod has no method '_missing'"):
        MissingMethod().infra.uid()


def test_exclusions_apply_to_nested_dotted_fields() -> None:
    class Excl(Nested):
        infra: TaskInfra = TaskInfra()

        @infra.apply(exclude_from_cache_uid=["sub.y"])
        def process(self) -> float:
            return self.lr

    obj = Excl(lr=0.5, sub={"y": 3})
    # the sub-config left empty is kept, as exca 0.6.0 keeps it (it names the folder)
    assert obj.infra.config(uid=True, exclude_defaults=True) == {"sub": {}, "lr": 0.5}
    assert Excl(lr=0.5).infra.config(uid=True, exclude_defaults=True) == {"lr": 0.5}


# ---------- freezing ----------


def test_frozen_once_the_uid_is_computed(tmp_path: Path) -> None:
    obj = Base(x=1, infra={"folder": tmp_path})
    obj.x = 2  # fine before the uid is computed
    obj.infra.timeout_min = 4
    assert obj.process() == 2
    with pytest.raises(FrozenModelError, match=r"Base\.x.*frozen.*clone_obj"):
        obj.x = 3
    with pytest.raises(FrozenModelError, match=r"TaskInfra\.version"):
        obj.infra.version = "9"
    with pytest.raises(RuntimeError):  # FrozenModelError is a RuntimeError (as in exca 0.6)
        obj.infra.folder = tmp_path / "other"
    assert obj.x == 2 and obj.infra.version == "1"
    clone = obj.infra.clone_obj(x=3)
    clone.x = 4  # the clone is not frozen
    assert clone.process() == 4


def test_sub_models_frozen_with_their_owner(tmp_path: Path) -> None:
    obj = Nested(sub={"y": 1}, infra={"folder": tmp_path})
    obj.sub.y = 2  # fine before the uid is computed
    uid = obj.infra.uid()
    with pytest.raises(FrozenModelError, match=r"Sub\.y.*sub-config.*frozen"):
        obj.sub.y = 3
    assert obj.sub.y == 2 and obj.infra.uid() == uid
    free = Sub(y=1)
    free.y = 5  # another instance of the class is not frozen
    clone = obj.infra.clone_obj({"sub.y": 4})
    clone.sub.y = 6  # nor is a clone's sub-model
    assert clone.sub.y == 6


# ---------- clone_obj ----------


def test_clone_obj_dicts_and_dotted_keys() -> None:
    obj = Nested(lr=0.5, sub={"y": 1})
    clone = obj.infra.clone_obj({"sub.y": 3}, lr=0.2)
    assert (clone.lr, clone.sub.y) == (0.2, 3)
    assert clone.infra.obj is clone
    assert obj.infra.clone_obj({"sub": {"y": 4}}).sub.y == 4
    assert obj.infra.clone_obj({"infra.version": "7"}).infra.version == "7"
    assert obj.infra.clone_obj().sub.y == 1
    with pytest.raises(TypeError, match="dicts as positional"):
        obj.infra.clone_obj([("lr", 1)])  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError, match=r"sub\.z"):
        obj.infra.clone_obj({"sub.z": 1})


# ---------- config dumps and their check ----------


def test_config_dumps(tmp_path: Path) -> None:
    obj = Nested(lr=0.5, infra={"folder": tmp_path})
    folder = obj.infra.uid_folder()
    assert folder is not None and not folder.exists()
    assert obj.infra.uid_folder(create=True) == folder
    assert ConfDict.from_yaml(folder / "uid.yaml") == {"lr": 0.5}
    full_uid = ConfDict.from_yaml(folder / "full-uid.yaml")
    assert full_uid == {
        "lr": 0.5,
        "sub": {"y": 0, "infra": {"version": "0"}},
        "infra": {"version": "0"},
    }
    config = ConfDict.from_yaml(folder / "config.yaml")
    assert config["lr"] == 0.5 and config["infra"]["folder"] == str(tmp_path)
    assert config["sub"]["infra"]["max_jobs"] == 128  # the full config
    # the full config re-creates the object
    assert Nested.model_validate(dict(config)).infra.uid() == obj.infra.uid()
    with pytest.raises(ValueError, match="folder must be set"):
        Nested().infra.uid_folder(create=True)


def test_config_mismatch_names_the_folder_and_both_configs(tmp_path: Path) -> None:
    obj = Nested(lr=0.5, infra={"folder": tmp_path})
    obj.process()
    folder = obj.infra.uid_folder()
    assert folder is not None
    (folder / "uid.yaml").write_text("lr: 0.7\n")
    with pytest.raises(ConfigMismatchError) as info:
        Nested(lr=0.5, infra={"folder": tmp_path}).process()
    message = str(info.value)
    assert str(folder) in message and "lr: 0.7" in message and "lr: 0.5" in message


# ---------- iter_cached ----------


def test_iter_cached(tmp_path: Path) -> None:
    base = Base(infra={"folder": tmp_path, "keep_in_ram": True})
    assert list(base.infra.iter_cached()) == []
    for x in [1, 2, 3]:
        base.infra.clone_obj(x=x).process()
    base.infra.clone_obj(x=4).infra.uid_folder(create=True)  # dumps, but no result
    found = sorted(base.infra.iter_cached(), key=lambda o: o.x)
    assert [o.x for o in found] == [1, 2, 3]
    assert all(o.infra.keep_in_ram and o.infra.folder == tmp_path for o in found)
    assert [o.process() for o in found] == [1, 2, 3]
    assert len(CALLS) == 3  # read from the cache
    assert list(Base().infra.iter_cached()) == []  # no folder


# ---------- pickling and copies ----------


def test_pickling_never_carries_a_ram_cache(tmp_path: Path) -> None:
    big = Base(x=5, infra={"keep_in_ram": True})
    assert big.process() == 5
    assert big.infra.status() == "completed"
    clone = pickle.loads(pickle.dumps(big))
    assert clone.infra.status() == "not submitted"
    assert clone.infra.obj is clone
    assert clone.process() == 5
    assert len(CALLS) == 2

    mapped = Sub(infra={"keep_in_ram": True})
    list(mapped.double(range(1000)))
    assert len(mapped.infra.cache_dict) == 1000
    payload = pickle.dumps(mapped)
    restored = pickle.loads(payload)
    assert len(restored.infra.cache_dict) == 0
    assert len(payload) < 5000

    task = Nested(infra={"folder": tmp_path, "keep_in_ram": True})
    task.process()
    restored_task = pickle.loads(pickle.dumps(task))
    assert restored_task.infra.uid() == task.infra.uid()
    assert restored_task.infra._job is None and restored_task.infra._cd is None


def test_copies_bind_their_own_infra(tmp_path: Path) -> None:
    obj = Base(x=2, infra={"folder": tmp_path})
    uid = obj.infra.uid()
    deep = copy.deepcopy(obj)
    assert deep.infra is not obj.infra and deep.infra.obj is deep
    assert deep == obj  # infras compare their fields only (not their owner, caches...)
    assert deep != Base(x=2, infra={"folder": tmp_path, "timeout_min": 1})
    assert deep.infra.uid() == uid
    with pytest.raises(FrozenModelError):
        deep.x = 3
    shallow = obj.model_copy(update={"x": 7})
    assert shallow.process() == 7  # binds its own (unfrozen) infra copy
    assert shallow.infra is not obj.infra and shallow.infra.obj is shallow
    assert obj.infra.obj is obj


# ---------- misc ----------


def test_cluster_requires_a_folder_for_every_infra() -> None:
    for cls in (TaskInfra, MapInfra, SubmitInfra):
        with pytest.raises(pydantic.ValidationError, match="cluster='local' requires a folder"):
            cls(cluster="local")
    MapInfra(cluster="threadpool")  # pools can return their outputs


def test_executor(tmp_path: Path) -> None:
    assert Base().infra.executor() is None
    obj = Base(infra={"folder": tmp_path, "cluster": "local", "timeout_min": 3})
    executor = obj.infra.executor()
    assert executor.cluster == "local"
    assert executor.parameters["timeout_min"] == 3
    assert Sub(infra={"cluster": "threadpool"}).infra.executor() is None


def test_public_exports() -> None:
    assert exca.TaskInfra is TaskInfra and exca.MapInfra is MapInfra
    assert exca.SubmitInfra is SubmitInfra
    assert issubclass(TaskInfra, BaseInfra)
    from exca.task import LocalJob
    from exca.task import SubmitInfra as TaskModuleSubmitInfra

    assert TaskModuleSubmitInfra is SubmitInfra and LocalJob is not None


def test_numpy_results_roundtrip(tmp_path: Path) -> None:
    class Arr(pydantic.BaseModel):
        n: int = 3
        infra: TaskInfra = TaskInfra()

        @infra.apply
        def process(self) -> np.ndarray:
            return np.arange(self.n)

    first = Arr(infra={"folder": tmp_path}).process()
    again = Arr(infra={"folder": tmp_path}).process()
    np.testing.assert_array_equal(first, again)
    again[0] = 10  # what was returned is what is given back: a writable array


# # # # # exca 0.6.0 behaviours # # # # #


class Loose(pydantic.BaseModel):  # says nothing about extras: forbidden (infra field)
    p: int = 1
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def run(self) -> int:
        return self.p


class Allowing(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow")
    p: int = 1
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def run(self) -> int:
        return self.p


class LooseChild(Loose):
    model_config = pydantic.ConfigDict(frozen=False)  # no "extra" key


def test_models_with_an_infra_forbid_extra_parameters() -> None:
    with pytest.raises(pydantic.ValidationError, match="bogus"):
        Loose(p=2, bogus=3)  # type: ignore[call-arg]
    assert Allowing(p=2, bogus=3).run() == 2  # type: ignore[call-arg]
    assert LooseChild(p=3).run() == 3
    with pytest.raises(pydantic.ValidationError, match="bogus"):
        LooseChild(p=2, bogus=3)  # type: ignore[call-arg]


class SuperBase(pydantic.BaseModel):
    p: int = 12
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def func(self) -> int:
        CALLS.append(("SuperBase", self.p))
        return self.p


class SuperChild(SuperBase):
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def func(self) -> int:
        return super().func() + 1


def test_decorated_override_calling_super(tmp_path: Path) -> None:
    obj = SuperChild(infra={"folder": tmp_path})
    assert obj.func() == 13
    assert SuperChild(infra={"folder": tmp_path}).func() == 13  # cached: no new call
    assert CALLS == [("SuperBase", 12)]
    assert obj.infra.uid().startswith(f"{__name__}.SuperChild.func,0/")
    assert [p.name for p in tmp_path.iterdir()] == [f"{__name__}.SuperChild.func,0"]
    assert SuperBase(infra={"folder": tmp_path}).func() == 12  # the parent's own cache
    assert CALLS == [("SuperBase", 12)] * 2


class PrivateInfra(pydantic.BaseModel):
    x: int = 2
    _infra: TaskInfra = TaskInfra(version="3")

    @_infra.apply
    def run(self) -> int:
        CALLS.append(self.x)
        return 3 * self.x


def test_private_attribute_infra(tmp_path: Path) -> None:
    a, b = PrivateInfra(x=1), PrivateInfra(x=2)
    assert (a.run(), b.run(), a.run()) == (3, 6, 3)
    assert CALLS == [1, 2]  # kept in RAM without folder, per object
    assert a._infra is not b._infra and a._infra is not PrivateInfra.__private_attributes__
    assert b._infra.uid() == f"{__name__}.PrivateInfra.run,3/default"
    c = PrivateInfra(x=5)
    c._infra._update(folder=tmp_path)
    assert c.run() == 15
    assert (tmp_path / c._infra.uid() / "uid.yaml").exists()
    clone = pickle.loads(pickle.dumps(c))
    assert clone.run() == 15 and CALLS == [1, 2, 5]


class Copied(pydantic.BaseModel):
    param: int = 12
    infra: TaskInfra = TaskInfra()
    _infra: TaskInfra = TaskInfra(version="2")

    def model_post_init(self, context: tp.Any) -> None:
        super().model_post_init(context)
        self._infra._update(self.infra)  # the 0.6.0 pattern: settings of one into the other

    @infra.apply
    def func1(self) -> int:
        return self.param

    @_infra.apply
    def func2(self) -> int:
        return 2 * self.param


def test_update_copies_the_settings_of_another_infra(tmp_path: Path) -> None:
    obj = Copied(param=13, infra={"folder": tmp_path})
    assert (obj.func1(), obj.func2()) == (13, 26)
    assert obj._infra.folder == tmp_path and obj._infra.version == "0"  # all fields copied
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [f"{__name__}.Copied.func1,0", f"{__name__}.Copied.func2,0"]
    other = Copied()
    other._infra._update({"mode": "force"}, keep_in_ram=True)
    assert (other._infra.mode, other._infra.keep_in_ram) == ("force", True)
    with pytest.raises(ValueError, match="max_jobs"):
        other._infra._update(MapInfra())
    with pytest.raises(FrozenModelError):
        obj._infra._update(version="3")  # its uid is known: frozen


def test_infra_declaration_errors() -> None:
    with pytest.raises(RuntimeError) as info:  # Python < 3.12 wraps __set_name__ errors

        class NotAModel:
            infra = TaskInfra()

            @infra.apply
            def run(self) -> int:
                return 1

    assert "not a pydantic model" in str(info.value) + str(info.value.__cause__)

    class NeverApplied(pydantic.BaseModel):
        infra: TaskInfra = TaskInfra()

    with pytest.raises(RuntimeError, match=r"'infra' of .*NeverApplied was not applied"):
        NeverApplied()
    with pytest.raises(RuntimeError):

        class PrivateNeverApplied(pydantic.BaseModel):
            _infra: TaskInfra = TaskInfra()

    with pytest.raises(RuntimeError, match="not attached"):
        TaskInfra().config()


class Shared(pydantic.BaseModel):
    x: int = 1
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def run(self) -> int:
        return self.x


def test_one_infra_object_given_to_two_models(tmp_path: Path) -> None:
    shared = TaskInfra(folder=tmp_path)
    a, b = Shared(x=1, infra=shared), Shared(x=2, infra=shared)
    assert (a.run(), b.run()) == (1, 2)
    assert a.infra is not b.infra and a.infra.obj is a and b.infra.obj is b


class OrderedFields(pydantic.BaseModel):
    d: collections.OrderedDict[str, int] = collections.OrderedDict()
    p: dict[str, int] = {}
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def run(self) -> list[str]:
        return list(self.d)


def test_ordered_dict_fields_keep_their_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ConfDict, "UID_VERSION", 3)  # version 2 sorts every mapping
    order = collections.OrderedDict([("b", 1), ("a", 2)])
    obj = OrderedFields(d=order, infra={"folder": tmp_path})
    assert obj.run() == ["b", "a"]
    config = ConfDict.from_yaml(obj.infra.uid_folder() / "config.yaml")  # type: ignore[operator]
    assert list(OrderedFields(**config).d) == ["b", "a"]
    assert list(obj.infra.clone_obj(p={"x": 1}).d) == ["b", "a"]
    assert "d={b=1,a=2}" in obj.infra.uid()
    reordered = OrderedFields(d=collections.OrderedDict([("a", 2), ("b", 1)]))
    assert reordered.infra.uid() != OrderedFields(d=order).infra.uid()
    assert (
        OrderedFields(p={"x": 1, "y": 2}).infra.uid()
        == OrderedFields(p={"y": 2, "x": 1}).infra.uid()
    )


class _SubBase(pydantic.BaseModel):
    x: int = 1


class _SubA(_SubBase):
    y: int = 2


class _SubB(_SubBase):
    y: int = 3


class _HoldsSub(pydantic.BaseModel):
    sub: _SubBase = _SubBase()
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def run(self) -> int:
        return self.sub.y  # type: ignore[attr-defined]


def test_defaults_check_is_per_class_of_every_sub_model(tmp_path: Path) -> None:
    # same uid (only x differs from the defaults) but other defaults (y) in a sub-model of
    # another class: the cached result of the first is not returned for the second, even
    # after calls that memoise the check
    for _ in range(2):
        assert _HoldsSub(sub=_SubA(x=5), infra={"folder": tmp_path}).run() == 2
    other = _HoldsSub(sub=_SubB(x=5), infra={"folder": tmp_path})
    assert other.infra.uid() == _HoldsSub(sub=_SubA(x=5)).infra.uid()
    with pytest.raises(ConfigMismatchError, match="defaults of _HoldsSub changed"):
        other.run()


class _Dumped(pydantic.BaseModel):
    a: int = 1
    b: int = 0
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def run(self) -> int:
        return self.a


@pytest.mark.parametrize("name", ["uid.yaml", "full-uid.yaml"])
@pytest.mark.parametrize("how", ["replaced", "rewritten"])
def test_edited_dumps_raise_after_memoised_checks(tmp_path: Path, name: str, how: str) -> None:
    for _ in range(3):  # computed, then read twice (the checks are memoised in the process)
        assert _Dumped(a=2, infra={"folder": tmp_path}).run() == 2
    folder = _Dumped(a=2, infra={"folder": tmp_path}).infra.uid_folder()
    assert folder is not None
    path = folder / name
    text = path.read_text().replace("a: 2", "a: 2222")
    assert text != path.read_text()
    if how == "replaced":  # a new file (eg: written by an editor or another tool)
        tmp = folder / "edited.tmp"
        tmp.write_text(text)
        tmp.replace(path)
    else:  # the same file, rewritten in place
        path.write_text(text)
    with pytest.raises(ConfigMismatchError):
        _Dumped(a=2, infra={"folder": tmp_path}).run()


def _defaults_module(folder: Path, pvalue: int) -> str:
    return (
        "import typing as tp, pydantic, exca\n"
        "class T(pydantic.BaseModel):\n"
        f"    p: int = {pvalue}\n"
        "    q: int = 0\n"
        f"    infra: exca.TaskInfra = exca.TaskInfra(folder={str(folder)!r})\n"
        "    @infra.apply\n"
        "    def run(self) -> int:\n"
        "        return self.p\n"
        "class M(pydantic.BaseModel):\n"
        f"    p: int = {pvalue}\n"
        f"    infra: exca.MapInfra = exca.MapInfra(folder={str(folder)!r})\n"
        "    @infra.apply(item_uid=str)\n"
        "    def run(self, items: tp.Sequence[int]) -> tp.Iterator[int]:\n"
        "        for i in items:\n"
        "            yield i + self.p\n"
    )


def test_changed_class_defaults_raise_on_the_next_call(tmp_path: Path) -> None:
    import importlib
    import sys

    module = tmp_path / "changing_defaults.py"
    sys.path.insert(0, str(tmp_path))
    try:
        module.write_text(_defaults_module(tmp_path / "cache", 1))
        mod = importlib.import_module("changing_defaults")
        assert mod.T(q=1).run() == 1 and list(mod.M().run([1])) == [2]
        assert mod.T(q=1).run() == 1  # read from the cache: its defaults check is memoised
        module.write_text(_defaults_module(tmp_path / "cache", 2))
        # the new source may have the same size and second as the first one: Python
        # would then reuse the bytecode it cached for it (checked by mtime and size)
        shutil.rmtree(tmp_path / "__pycache__", ignore_errors=True)
        stat = module.stat()
        os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
        importlib.invalidate_caches()
        mod = importlib.reload(mod)
        with pytest.raises(ConfigMismatchError, match="defaults of T changed"):
            mod.T(q=1).run()
        with pytest.raises(ConfigMismatchError, match="defaults of M changed"):
            list(mod.M().run([1]))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("changing_defaults", None)
