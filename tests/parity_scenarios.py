"""Scenarios of the differential tests against exca 0.6.0 (``tests/test_parity_060.py``).

Each scenario is a snippet run under both packages, in a fresh process, in a fresh folder
(``TMP``), with ``CONFDICT_UID_VERSION=3``. It records what a user's code observes in
``OUT`` (results, folder names relative to ``TMP``, exception type names as
``"raise <Type>"``) and prints it as JSON with ``done()``. Both sides must print the same,
except for the keys listed in ``deliberate``: there this package differs on purpose, the
value it gives is pinned and the reason is listed on docs/coming-from-0.6.0.md.
"""

from __future__ import annotations

import dataclasses
import textwrap
import typing as tp

PRELUDE = """
import json, os, sys, typing as tp, warnings, logging, collections, pickle
from pathlib import Path
import pydantic
import exca
from exca import ConfDict, TaskInfra, MapInfra, SubmitInfra
TMP = Path.cwd()
OUT = {}
def error_type(e):
    # what user code can catch on both sides: the first builtin or pydantic class of the
    # exception's MRO (each package's own subclasses of RuntimeError... differ by name)
    for cls in type(e).__mro__:
        if cls.__module__ in ("builtins", "pydantic_core._pydantic_core"):
            return cls.__name__
def rec(key, fn):
    try:
        OUT[key] = fn()
    except Exception as e:
        OUT[key] = "raise " + error_type(e)
def rel(p):
    return str(Path(p).relative_to(TMP))
def folders(root="."):
    return sorted(
        rel(p) for p in (TMP / root).rglob("*") if p.is_dir() and "logs" not in p.parts
        and "code" not in p.parts and not p.name.startswith(".")
        and not p.name.endswith("-cache"))
def done():
    print(json.dumps(OUT, default=str, sort_keys=True))
"""


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    code: str
    # key -> (the value this package gives, why it differs from 0.6.0)
    deliberate: dict[str, tuple[tp.Any, str]] = dataclasses.field(default_factory=dict)

    def script(self) -> str:
        return PRELUDE + textwrap.dedent(self.code) + "\ndone()\n"


SCENARIOS: list[Scenario] = []


def scenario(name: str, code: str, **deliberate: tuple[tp.Any, str]) -> None:
    SCENARIOS.append(Scenario(name, code, deliberate))


# ---------------------------------------------------------------- subclassing
scenario(
    "subclass_folder_naming",
    """
    class Base(pydantic.BaseModel):
        p: int = 12
        infra: TaskInfra = TaskInfra(folder=TMP / "c")
        @infra.apply
        def func(self) -> int:
            return self.p
    class Child(Base):  # does not re-apply: shares Base's folder
        q: int = 1
    class Override(Base):
        infra: TaskInfra = TaskInfra(folder=TMP / "c")
        @infra.apply
        def func(self) -> int:
            return 2 * self.p
    class SuperCall(Base):
        infra: TaskInfra = TaskInfra(folder=TMP / "c")
        @infra.apply
        def func(self) -> int:
            return super().func() + 1
    rec("base", lambda: Base().func())
    rec("child", lambda: Child(q=2).func())
    rec("override", lambda: Override().func())
    rec("super", lambda: SuperCall().func())
    rec("child_uid", lambda: Child(q=2).infra.uid())
    rec("super_uid", lambda: SuperCall().infra.uid())
    rec("folders", lambda: [f for f in folders("c") if f.count("/") == 1])
    """,
)

scenario(
    "nested_model_own_infra",
    """
    class Xp(pydantic.BaseModel):
        a: int = 1
        infra: TaskInfra = TaskInfra(version="12")
        @infra.apply
        def run(self) -> int:
            return self.a
    class Main(pydantic.BaseModel):
        xp: Xp = Xp()
        infra: TaskInfra = TaskInfra(folder=TMP / "c")
        @infra.apply
        def run(self) -> int:
            return self.xp.run() + 10
    m = Main(xp={"a": 3})
    rec("result", m.run)
    rec("xp_uid_has_version", lambda: ",12/" in m.xp.infra.uid())
    rec("main_uid", lambda: m.infra.uid())
    rec("main_cfg", lambda: m.infra.config(uid=True, exclude_defaults=True))
    """,
)

scenario(
    "redeclared_infras",
    """
    class Base(pydantic.BaseModel):
        infra: TaskInfra = TaskInfra()
        @infra.apply
        def func(self) -> int:
            return 1
    def redeclare():
        class Child(Base):
            infra: TaskInfra = TaskInfra()
        return Child().func()
    rec("redeclared_task", redeclare)
    class MBase(pydantic.BaseModel):
        infra: MapInfra = MapInfra()
        @infra.apply(item_uid=str)
        def func(self, items: list[int]) -> tp.Iterator[int]:
            for i in items:
                yield i
    def mredeclare():
        class MChild(MBase):
            infra: MapInfra = MapInfra()
        return list(MChild().func([1]))
    rec("redeclared_map", mredeclare)
    """,
)

# ---------------------------------------------------------------- where infras live
scenario(
    "private_attribute_infra",
    """
    class P(pydantic.BaseModel):
        x: int = 2
        _infra: TaskInfra = TaskInfra(folder=TMP / "c")
        @_infra.apply
        def run(self) -> int:
            return 3 * self.x
    a, b = P(x=1), P(x=2)
    rec("a", a.run)
    rec("b", b.run)
    rec("own_copies", lambda: a._infra is not b._infra)
    rec("uid", lambda: b._infra.uid())
    rec("folders", lambda: [f for f in folders("c") if f.count("/") == 1])
    """,
)

scenario(
    "infra_on_plain_class",
    """
    def make():
        class NotModel:
            infra = TaskInfra()
            @infra.apply
            def run(self) -> int:
                return 1
        return NotModel().run()
    rec("plain_class", make)
    """,
)

scenario(
    "shared_infra_object",
    """
    class S(pydantic.BaseModel):
        x: int = 1
        infra: TaskInfra = TaskInfra()
        @infra.apply
        def run(self) -> int:
            return self.x
    shared = TaskInfra(folder=TMP / "c")
    a, b = S(x=1, infra=shared), S(x=2, infra=shared)
    rec("a", a.run)
    rec("b", b.run)
    rec("distinct", lambda: a.infra is not b.infra)
    rec("b_uid", lambda: b.infra.uid())
    rec("never_applied_config", lambda: TaskInfra().config())
    """,
)

scenario(
    "exclude_method_missing",
    """
    def make():
        class E(pydantic.BaseModel):
            x: int = 1
            infra: TaskInfra = TaskInfra()
            @infra.apply(exclude_from_cache_uid="method:does_not_exist")
            def run(self) -> int:
                return self.x
        return E
    rec("class_creation", lambda: make().__name__)
    rec("uid", lambda: make()().infra.uid())
    rec("call", lambda: make()().run())
    """,
)

# ---------------------------------------------------------------- ConfDict operations
scenario(
    "confdict_ops",
    """
    ops = ConfDict.ops
    def upd(base, *updates):
        cd = ConfDict(base)
        for u in updates:
            cd.update(u)
        return [cd, list(cd)]
    rec("replace", lambda: upd({"a": {"b": 1, "c": 2}}, {"a": {ops.REPLACE: True, "d": 3}}))
    rec("replace_position", lambda: upd({"a": {"x": 1}, "b": {"x": 2}}, {"a": {ops.REPLACE: True, "y": 4}, "b.y": 12}))
    rec("pending_tokens", lambda: upd({"a": 1}, {"=delete=": 1}, {"zz": ops.DELETE}, {"c": {ops.BEFORE: "zz"}}))
    rec("replace_top", lambda: upd({"a": 1, "b": 2}, {ops.REPLACE: True, "c": 3}))
    rec("delete", lambda: upd({"a": {"b": 1, "c": 2}}, {"a": {"b": ops.DELETE}}))
    rec("before", lambda: upd({"a": 1, "b": 2, "c": 3}, {"c": {ops.BEFORE: "a"}}))
    rec("after", lambda: upd({"a": 1, "b": 2, "c": 3}, {"a": {ops.AFTER: "b"}}))
    def invalid(update):
        cd = ConfDict({"a": 1, "b": {"x": 1}, "c": 3})
        before = cd.to_yaml()
        try:
            cd.update(update)
        except Exception as e:
            return [type(e).__name__, cd.to_yaml() == before]
        return ["no error", cd]
    rec("both", lambda: invalid({"c": {ops.BEFORE: "a", ops.AFTER: "b"}}))
    rec("self", lambda: invalid({"c": {ops.BEFORE: "c"}}))
    rec("op_value", lambda: invalid({"a": ops.REPLACE}))
    rec("op_key", lambda: invalid({ops.DELETE: 1}))
    rec("unknown_token", lambda: invalid({"a": {"=x=": 1}}))
    rec("partial", lambda: invalid({"a": 12, "c": {ops.BEFORE: "c"}}))
    def override():
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            value = ConfDict.OVERRIDE
        return [value == ops.REPLACE, [x.category.__name__ for x in w]]
    rec("override_alias", override)
    def list_key():
        cd = ConfDict({"a": [1, 2]})
        cd["a.x"] = 3
        return cd
    rec("list_key", list_key)
    def list_ok():
        cd = ConfDict({"a": [{"b": 1}, 2]})
        cd["a.0.b"] = 3
        return cd
    rec("list_ok", list_ok)
    """,
    **{
        key: (
            ["ValueError", True],
            "a patch that raises leaves the ConfDict unchanged; 0.6.0 leaves it half-updated",
        )
        for key in ("both", "self", "unknown_token", "partial")
    },
)

# ---------------------------------------------------------------- ordered mappings
scenario(
    "ordered_dict_fields",
    """
    class Sub(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        k: int = 0
    class O(pydantic.BaseModel):
        d: collections.OrderedDict[str, int] = collections.OrderedDict()
        p: dict[str, int] = {}
        s: collections.OrderedDict[str, Sub] = collections.OrderedDict()
        infra: TaskInfra = TaskInfra(folder=TMP / "c")
        @infra.apply
        def run(self) -> list:
            return list(self.d)
    o = O(d=collections.OrderedDict([("b", 1), ("a", 2)]), s={"a": {"k": 12}})
    rec("type", lambda: type(o.d).__name__)
    rec("order", lambda: list(o.d))
    rec("run", o.run)
    rec("yaml", lambda: (o.infra.uid_folder() / "config.yaml").read_text().replace(str(TMP), "TMP"))
    rec("uid_cfg", lambda: o.infra.config(uid=True, exclude_defaults=True).to_uid())
    def reload():
        cfg = ConfDict.from_yaml(o.infra.uid_folder() / "config.yaml")
        return list(O(**cfg).d)
    rec("reload", reload)
    rec("clone", lambda: list(o.infra.clone_obj(p={"y": 1, "x": 2}).d))
    o2 = O(d=collections.OrderedDict([("a", 2), ("b", 1)]), s={"a": {"k": 12}})
    rec("reorder_changes_uid", lambda: o.infra.uid() != o2.infra.uid())
    p1 = O(p={"x": 1, "y": 2})
    p2 = O(p={"y": 2, "x": 1})
    rec("dict_reorder_same_uid", lambda: p1.infra.uid() == p2.infra.uid())
    """,
)

# ---------------------------------------------------------------- uid conventions
scenario(
    "uid_conventions",
    """
    class Sub(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        _exclude_from_cls_uid = ("b",)
        a: int = 1
        b: int = 2
    class M(pydantic.BaseModel):
        sub: Sub = Sub()
        opt_sub: Sub | None = None
        infra: TaskInfra = TaskInfra()
        @infra.apply
        def run(self) -> int:
            return 1
    m = M(sub={"b": 3}, opt_sub={"b": 4})
    rec("cfg", lambda: m.infra.config(uid=True, exclude_defaults=True))
    rec("uid", lambda: m.infra.uid())
    class Sub2(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        a: int = 1
        b: int = 2
        def _exclude_from_cls_uid(self) -> list[str]:
            return ["b"]
    class M2(pydantic.BaseModel):
        sub: Sub2 = Sub2()
        opt_sub: Sub2 | None = None
        other: Sub2 = Sub2(a=5)
        infra: TaskInfra = TaskInfra()
        @infra.apply
        def run(self) -> int:
            return 1
    m2 = M2(sub={"b": 3}, opt_sub={"b": 4}, other={"b": 1})
    rec("cfg_method", lambda: m2.infra.config(uid=True, exclude_defaults=True))
    rec("full_method", lambda: m2.infra.config(uid=True, exclude_defaults=False))
    rec("uid_method", lambda: m2.infra.uid())
    rec("cfg_nouid", lambda: m2.infra.config(uid=False, exclude_defaults=True))
    """,
    cfg_nouid=(
        {"opt_sub": {"b": 4}, "other": {"b": 1}, "sub": {"b": 3}},
        "with exclude_defaults=True, an infra at its defaults is left out like any other "
        "sub-config at its defaults (0.6.0 lists it as 'infra: {}'); both rebuild the same "
        "object",
    ),
)

DEFAULTS_CHANGE = """
import subprocess
MOD = (
    "import pydantic, exca\\n"
    "class T(pydantic.BaseModel):\\n"
    "    p: int = PVALUE\\n"
    "    q: int = 0\\n"
    "    infra: exca.TaskInfra = exca.TaskInfra(folder=FOLDER)\\n"
    "    @infra.apply\\n"
    "    def run(self) -> int:\\n"
    "        return self.q\\n"
    "class M(pydantic.BaseModel):\\n"
    "    p: int = PVALUE\\n"
    "    infra: exca.MapInfra = exca.MapInfra(folder=FOLDER)\\n"
    "    @infra.apply(item_uid=str)\\n"
    "    def run(self, items: list[int]):\\n"
    "        for i in items:\\n"
    "            yield i + self.p\\n"
)
CODE = (
    "import json, mod_dc\\n"
    "out = {}\\n"
    "for name, fn in [('task', lambda: mod_dc.T(q=1).run()),"
    " ('map', lambda: list(mod_dc.M().run([1])))]:\\n"
    "    try:\\n"
    "        out[name] = fn()\\n"
    "    except Exception as e:\\n"
    "        out[name] = 'raise ' + [c.__name__ for c in type(e).__mro__ if c.__module__ == 'builtins'][0]\\n"
    "print(json.dumps(out))\\n"
)
def call(pvalue):
    (TMP / "mod_dc.py").write_text(
        MOD.replace("PVALUE", str(pvalue)).replace("FOLDER", repr(str(TMP / "c"))))
    proc = subprocess.run([sys.executable, "-c", CODE], cwd=TMP, capture_output=True,
                          text=True)
    return json.loads(proc.stdout.splitlines()[-1]) if proc.stdout else proc.stderr[-300:]
rec("first", lambda: call(1))
rec("changed_default", lambda: call(2))
"""
scenario("changed_class_defaults", DEFAULTS_CHANGE)

# ---------------------------------------------------------------- helpers
scenario(
    "discriminated_model",
    """
    from exca.helpers import DiscriminatedModel
    class Base(DiscriminatedModel):
        pass
    class Hello(Base):
        x: int = 1
    class World(Base):
        y: str = "w"
    class Other(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        z: int = 0
    class Holder(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        sub: Base
        u: Other | Base = Other()
    rec("plain_string", lambda: type(Holder(sub="World").sub).__name__)
    rec("dict", lambda: Holder(sub={"type": "Hello", "x": 3}).sub.x)
    rec("union_model", lambda: type(Holder(sub="Hello", u={"type": "World"}).u).__name__)
    rec("union_other", lambda: type(Holder(sub="Hello", u={"z": 2}).u).__name__)
    def unknown():
        try:
            Holder(sub={"type": "Nope"})
        except pydantic.ValidationError as e:
            return ["ValidationError", "type" in str(e)]
    rec("unknown", unknown)
    def clash():
        class Clash(Base):
            type: int = 1
        return Clash().type
    rec("clash", clash)
    rec("dump", lambda: Holder(sub="World").model_dump())
    """,
)

scenario(
    "to_config_and_kwargs",
    """
    from exca.helpers import to_config, validate_kwargs
    def func(a: int, b: str = "x") -> str:
        return b * a
    def kw(a: int, **kwargs: int) -> int:
        return a
    cfg = to_config(func, a=2)
    rec("build", cfg.build)
    rec("pickles", lambda: type(pickle.loads(pickle.dumps(cfg))).__name__)
    rec("validate_kw", lambda: validate_kwargs(kw, {"a": 1, "z": 2}))
    rec("validate_bad", lambda: validate_kwargs(func, {"a": 1, "z": 2}))
    rec("validate_missing", lambda: validate_kwargs(func, {"b": "y"}))
    """,
)

scenario(
    "find_slurm_job_local",
    """
    from exca.helpers import find_slurm_job
    class T(pydantic.BaseModel):
        p: int = 1
        infra: TaskInfra = TaskInfra(folder=TMP / "c", cluster="local")
        @infra.apply
        def run(self) -> int:
            return self.p
    class M(pydantic.BaseModel):
        p: int = 1
        infra: MapInfra = MapInfra(folder=TMP / "c", cluster="local")
        @infra.apply(item_uid=str)
        def run(self, items: list[int]) -> tp.Iterator[int]:
            for i in items:
                yield i * self.p
    t = T(p=3)
    job = t.infra.job()
    rec("task_result", job.result)
    def found_task():
        found = find_slurm_job(job_id=str(job.job_id), folder=TMP / "c")
        return found is not None and dict(found.uid_config) == dict(t.infra.config(uid=True, exclude_defaults=True))
    rec("task_found", found_task)
    m = M(p=2)
    rec("map", lambda: list(m.run([1, 2])))
    def found_map():
        jobs = [p.name for p in (TMP / "c" / "logs").rglob("*") if p.is_dir()] if (TMP / "c" / "logs").exists() else []
        for p in (TMP / "c").rglob("*_submitted.pkl"):
            jid = p.name.split("_")[0]
            found = find_slurm_job(job_id=jid, folder=TMP / "c")
            if found is not None and "infra" not in found.uid_config:
                if dict(found.uid_config) == dict(m.infra.config(uid=True, exclude_defaults=True)):
                    return True
        return False
    rec("map_found", found_map)
    """,
)

# ---------------------------------------------------------------- calls
scenario(
    "map_calls",
    """
    class M(pydantic.BaseModel):
        p: int = 1
        infra: MapInfra = MapInfra()
        @infra.apply(item_uid=str)
        def process(self, nums: tp.Sequence[int]) -> tp.Iterator[int]:
            for n in nums:
                yield n * 2
    m = M()
    rec("positional", lambda: list(m.process([1, 2])))
    rec("keyword", lambda: list(m.process(nums=[12])))
    rec("wrong_name", lambda: list(m.process(items=[12])))
    rec("extra_arg", lambda: list(m.process([12], [13])))
    rec("extra_kw", lambda: list(m.process([12], other=1)))
    """,
)

scenario(
    "submit_calls",
    """
    class S(pydantic.BaseModel):
        infra: SubmitInfra = SubmitInfra()
        @infra.apply
        @staticmethod
        def add(a: int, b: int) -> int:
            return a + b
    class B(pydantic.BaseModel):
        p: int = 1
        infra: SubmitInfra = SubmitInfra(folder=TMP / "c", cluster="local")
        @infra.apply
        def mul(self, a: int) -> int:
            return a * self.p
    rec("static", lambda: S().add(1, 2))
    b = B(p=3)
    def in_batch():
        with b.infra.batch():
            b.mul(2)
    rec("direct_in_batch", in_batch)
    def batch():
        with b.infra.batch():
            jobs = [b.infra.submit(k) for k in range(3)]
        return [j.result() for j in jobs]
    rec("batch", batch)
    """,
    static=(
        3,
        "0.6.0 fails on a SubmitInfra-decorated @staticmethod (TypeError: cannot pickle "
        "'staticmethod' object); here it runs",
    ),
)

# ---------------------------------------------------------------- TaskInfra
scenario(
    "task_failures",
    """
    COUNT = {"n": 0}
    class F(pydantic.BaseModel):
        x: int = 1
        infra: TaskInfra = TaskInfra()
        @infra.apply
        def run(self) -> int:
            COUNT["n"] += 1
            if COUNT["n"] < 3:
                raise ValueError("boom")
            return COUNT["n"]
    f = F()
    rec("first", f.run)
    rec("status_nofolder", f.infra.status)
    g = F(x=2, infra={"folder": TMP / "c"})
    rec("g_first", g.run)
    rec("g_status", g.infra.status)
    rec("g_second", g.run)
    rec("count_after_cached_failure", lambda: COUNT["n"])
    g2 = F(x=2, infra={"folder": TMP / "c"})
    rec("g2_cached_failure", g2.run)
    g3 = F(x=2, infra={"folder": TMP / "c", "mode": "retry"})
    rec("g3_retry", g3.run)
    rec("g3_status", g3.infra.status)
    rec("count", lambda: COUNT["n"])
    """,
)

scenario(
    "task_misc",
    """
    class T(pydantic.BaseModel):
        x: int = 1
        infra: TaskInfra = TaskInfra(folder=TMP / "c", cluster="local", tasks_per_node=2)
        @infra.apply
        def run(self) -> int:
            return self.x
    rec("tasks_per_node", lambda: T(x=5).run())
    class A(pydantic.BaseModel):
        x: int = 1
        infra: TaskInfra = TaskInfra(folder=TMP / "a", cluster="local")
        @infra.apply
        def run(self) -> int:
            return self.x
    records = []
    class H(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())
    logging.getLogger("exca").addHandler(H())
    logging.getLogger("exca").setLevel(logging.INFO)
    def array():
        a = A()
        with a.infra.job_array(allow_repeated_tasks=True) as arr:
            for x in [1, 2, 1, 2, 3]:
                arr.append(A(x=x))
        return [o.run() for o in arr]
    rec("array", array)
    rec("submitted_log", lambda: [r.split(" (")[0] for r in records if r.startswith("Submitted")])
    def version(v):
        try:
            infra = TaskInfra(version=v)
            class V(pydantic.BaseModel):
                infra: TaskInfra = TaskInfra()
                @infra.apply
                def run(self) -> int:
                    return 1
            return V(infra=infra).infra.uid()
        except Exception as e:
            return [error_type(e), "must not contain" in str(e)]
    rec("dots_version", lambda: version(".."))
    rec("slash_version", lambda: version("a/b"))
    """,
    slash_version=(
        ["ValidationError", True],
        "a version is one folder name: 0.6.0 accepts 'a/b' and nests the cache one folder "
        "deeper, where nothing finds it by its method folder; rejected when the infra is "
        "created",
    ),
)

# ---------------------------------------------------------------- extra fields
scenario(
    "extra_forbid",
    """
    class W(pydantic.BaseModel):
        p: int = 1
        infra: TaskInfra = TaskInfra()
        @infra.apply
        def run(self) -> int:
            return self.p
    class A(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="allow")
        p: int = 1
        infra: TaskInfra = TaskInfra()
        @infra.apply
        def run(self) -> int:
            return self.p
    class Sub(W):
        model_config = pydantic.ConfigDict(frozen=False)
    class NoInfra(pydantic.BaseModel):
        p: int = 1
    rec("bogus", lambda: W(p=2, bogus=3).run())
    rec("allow", lambda: A(p=2, bogus=3).run())
    rec("sub_no_extra_key", lambda: Sub(p=2).run())
    rec("sub_bogus", lambda: Sub(p=2, bogus=3).run())
    rec("no_infra", lambda: NoInfra(p=2, bogus=3).p)
    rec("extra_cfg", lambda: W.model_config.get("extra"))
    """,
)

scenario(
    "infra_update_pattern",
    """
    class U(pydantic.BaseModel):
        p: int = 1
        infra: TaskInfra = TaskInfra()
        _infra: TaskInfra = TaskInfra(version="2")
        def model_post_init(self, log__):
            super().model_post_init(log__)
            self._infra._update(self.infra)
        @infra.apply
        def run1(self) -> int:
            return self.p
        @_infra.apply
        def run(self) -> int:
            return 2 * self.p
    u = U(p=3, infra={"folder": TMP / "c"})
    rec("run", u.run)
    rec("folder", lambda: rel(u._infra.uid_folder()))
    rec("run1", u.run1)
    rec("direct", lambda: (u._infra._update(version="3"), u._infra.version)[1])
    v = U(p=4, infra={"folder": TMP / "c"})
    rec("before_uid", lambda: (v._infra._update(version="3"), v._infra.version)[1])
    """,
    direct=(
        "raise RuntimeError",
        "an infra is frozen once the uid of its object is computed (its folder is named "
        "after it); 0.6.0 lets the version change afterwards, making the folder and the "
        "object disagree. Update infras before the first call (eg: in model_post_init).",
    ),
)

scenario(
    "subconfig_without_forbid",
    """
    class Loose(pydantic.BaseModel):
        k: int = 0
    class M(pydantic.BaseModel):
        sub: Loose = Loose()
        infra: TaskInfra = TaskInfra(folder=TMP / "c")
        @infra.apply
        def run(self) -> int:
            return self.sub.k
    rec("run", lambda: M(sub={"k": 3}).run())
    """,
    run=(
        3,
        "0.6.0 refuses to compute the uid of a model with a sub-model that does not set "
        "extra='forbid' (RuntimeError); here the sub-model's own config decides",
    ),
)

scenario(
    "job_inside_job",
    """
    class J(pydantic.BaseModel):
        x: int = 1
        infra: TaskInfra = TaskInfra(folder=TMP / "c", cluster="local")
        @infra.apply
        def run(self) -> list:
            job = self.infra.job()
            link = Path(self.infra.folder) / "symlink.log"
            link.symlink_to(job.paths.stdout)
            print("hello from the job", flush=True)
            return [type(job).__name__, str(job.job_id) == str(job.job_id)]
    j = J()
    rec("run", j.run)
    rec("log", lambda: "hello from the job" in (TMP / "c" / "symlink.log").read_text())
    rec("submitit_link", lambda: (j.infra.uid_folder() / "submitit").is_symlink())
    rec("link_target", lambda: (j.infra.uid_folder() / "submitit" / f"{j.infra.job().job_id}_0_log.out").exists())
    """,
)

# ---------------------------------------------------------------- everyday API
scenario(
    "task_everyday",
    """
    class Opt(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        lr: float = 0.1
        name: str = "sgd"
    class T(pydantic.BaseModel):
        x: int = 1
        opt: Opt = Opt()
        infra: TaskInfra = TaskInfra(folder=TMP / "c", version="2")
        @infra.apply
        def run(self) -> dict:
            return {"x": self.x, "lr": self.opt.lr}
    t = T(x=3, opt={"lr": 0.5})
    rec("status_before", t.infra.status)
    rec("run", t.run)
    rec("status_after", t.infra.status)
    rec("uid", t.infra.uid)
    rec("folder", lambda: rel(t.infra.uid_folder()))
    rec("files", lambda: sorted(p.name for p in t.infra.uid_folder().iterdir() if p.name in ("uid.yaml", "full-uid.yaml", "config.yaml")))
    rec("uid_yaml", lambda: (t.infra.uid_folder() / "uid.yaml").read_text())
    rec("full_uid_yaml", lambda: (t.infra.uid_folder() / "full-uid.yaml").read_text())
    rec("cfg", lambda: t.infra.config(uid=True, exclude_defaults=True))
    rec("cfg_full", lambda: t.infra.config(uid=True, exclude_defaults=False))
    rec("clone", lambda: t.infra.clone_obj({"opt.lr": 0.2}, x=4).run())
    rec("clone_frozen", lambda: setattr(t, "x", 5))
    rec("sub_frozen", lambda: setattr(t.opt, "lr", 5.0))
    rec("iter_cached", lambda: sorted(o.x for o in t.infra.iter_cached()))
    rec("read_only_missing", lambda: T(x=99, infra={"mode": "read-only"}).run())
    rec("read_only_hit", lambda: T(x=3, opt={"lr": 0.5}, infra={"mode": "read-only"}).run())
    COUNT = []
    class F(pydantic.BaseModel):
        x: int = 1
        infra: TaskInfra = TaskInfra(folder=TMP / "f")
        @infra.apply
        def run(self) -> int:
            COUNT.append(1)
            return len(COUNT)
    rec("f1", F().run)
    rec("f_force", lambda: F(infra={"mode": "force"}).run())
    rec("f_cached", lambda: F().run())
    f = F(infra={"mode": "force"})
    rec("force_twice", lambda: [f.run(), f.run()])
    rec("clear", lambda: (F().infra.clear_job(), F().run())[1])
    rec("obj_infras", lambda: sorted(t.infra.obj_infras()))
    rec("infra_repr", lambda: repr(T().infra).replace(str(TMP), "TMP"))
    rec("bad_type", lambda: T(x="nope"))
    rec("bad_infra_field", lambda: T(infra={"bogus": 1}))
    rec("bad_cluster", lambda: T(infra={"cluster": "nope"}))
    rec("bad_mode", lambda: T(infra={"mode": "nope"}))
    """,
    clone=(
        {"lr": 0.2, "x": 4},
        "clone_obj takes dicts and keywords together (applied in order); 0.6.0 raises "
        "ValueError for both",
    ),
    iter_cached=([3, 4], "follows from the clone above being computed"),
)

scenario(
    "map_everyday",
    """
    CALLS = []
    class M(pydantic.BaseModel):
        p: int = 1
        infra: MapInfra = MapInfra(folder=TMP / "c", version="1")
        @infra.apply(item_uid=lambda i: f"item{i}")
        def process(self, items: tp.Sequence[int]) -> tp.Iterator[int]:
            CALLS.append(list(items))
            for i in items:
                yield i * self.p
    m = M(p=3)
    import numpy
    numpy.random.seed(0)  # 0.6.0 shuffles the missing items with numpy: [3, 2, 1] here
    rec("first", lambda: list(m.process([1, 2, 3])))
    rec("second", lambda: list(m.process([3, 4, 1])))
    rec("calls", lambda: CALLS)
    rec("uid", m.infra.uid)
    rec("item_uid", lambda: m.infra.item_uid(5))
    rec("keys", lambda: sorted(m.infra.cache_dict.keys()))
    rec("len", lambda: len(m.infra.cache_dict))
    rec("in", lambda: "item4" in m.infra.cache_dict)
    rec("value", lambda: m.infra.cache_dict["item4"])
    rec("read_only", lambda: list(M(p=3, infra={"mode": "read-only"}).process([1, 9])))
    rec("read_only_hit", lambda: list(M(p=3, infra={"mode": "read-only"}).process([1, 2])))
    rec("force", lambda: (list(M(p=3, infra={"mode": "force"}).process([1])), CALLS[-1])[1])
    rec("empty", lambda: list(m.process([])))
    rec("generator_items", lambda: list(m.process(i for i in [1, 2])))
    rec("dupes", lambda: list(m.process([7, 7, 7])))
    rec("calls_after", lambda: CALLS[-1])
    class Bad(pydantic.BaseModel):
        infra: MapInfra = MapInfra()
        @infra.apply(item_uid=str)
        def process(self, items: tp.Sequence[int]) -> tp.Iterator[int]:
            yield 1
    rec("too_few", lambda: list(Bad().process([1, 2])))
    def bad_sig():
        class B2(pydantic.BaseModel):
            infra: MapInfra = MapInfra()
            @infra.apply(item_uid=str)
            def process(self, a, b):
                yield 1
    rec("bad_signature", bad_sig)
    rec("folders", lambda: [f for f in folders("c") if f.count("/") == 1])
    """,
    calls=(
        [[1, 2, 3], [4], [1], [7]],
        "missing items are computed in the order given; 0.6.0 passes them in a random order",
    ),
)

scenario(
    "confdict_everyday",
    """
    cd = ConfDict({"a.b": 1, "a.c": [1, {"d": 2}], "e": None, "f": "x"})
    rec("nested", lambda: cd)
    rec("flat", cd.flat)
    rec("get_dotted", lambda: cd["a.b"])
    rec("get_list", lambda: cd["a.c.1.d"])
    rec("contains", lambda: ["a.b" in cd, "a.z" in cd, "a.c.1.d" in cd])
    rec("missing", lambda: cd["a.z"])
    rec("get_default", lambda: cd.get("a.z", 12))
    rec("yaml", cd.to_yaml)
    rec("from_yaml", lambda: ConfDict.from_yaml(cd.to_yaml()))
    rec("uid", cd.to_uid)
    rec("uid_empty", ConfDict().to_uid)
    rec("from_args", lambda: ConfDict.from_args(["--a.b=2", "--c=[1,2]", "--d.e=x"]))
    rec("pop", lambda: [cd.copy().pop("a.b"), cd.copy().pop("a.z", 3)])
    def delete():
        c = cd.copy()
        del c["a.b"]
        return c
    rec("delete", delete)
    rec("int_key", lambda: ConfDict({1: 2}))
    rec("setdefault", lambda: (lambda c: [c.setdefault("a.b", 5), c.setdefault("z.y", 6), c])(cd.copy()))
    rec("or", lambda: ConfDict({"a": {"b": 1}}) | {"a": {"c": 2}})
    rec("uid_float", lambda: ConfDict({"lr": 0.001, "big": 1e20, "neg": -1.5}).to_uid())
    rec("uid_long", lambda: ConfDict({"k" * 30: "v" * 300, "l": list(range(50))}).to_uid())
    rec("uid_path", lambda: ConfDict({"p": Path("/a/b")}).to_uid())
    """,
    setdefault=(
        [1, 6, {"a": {"b": 1, "c": [1, {"d": 2}]}, "e": None, "f": "x", "z": {"y": 6}}],
        "setdefault reads and writes dotted keys like [] does; 0.6.0 adds a literal 'a.b' "
        "key that no dotted access reaches",
    ),
    **{
        "or": (
            {"a": {"b": 1, "c": 2}},
            "| and |= merge like update and give a ConfDict; 0.6.0 applies plain dict union "
            "(sub-dicts replaced, dotted keys left unsplit)",
        )
    },
)

scenario(
    "exclusions_and_discriminators",
    """
    from exca.helpers import DiscriminatedModel
    class Opt(DiscriminatedModel, discriminator_key="name"):
        pass
    class Adam(Opt):
        lr: float = 0.1
    class Sgd(Opt):
        momentum: float = 0.0
    class T(pydantic.BaseModel):
        x: int = 1
        y: int = 2
        z: int = 3
        opt: Opt = Adam()
        infra: TaskInfra = TaskInfra()
        @infra.apply(exclude_from_cache_uid=("y",))
        def run(self) -> int:
            return self.x
    class U(T):
        infra: TaskInfra = TaskInfra()
        @infra.apply(exclude_from_cache_uid=lambda self: ["z"])
        def run(self) -> int:
            return self.x
    class V(T):
        infra: TaskInfra = TaskInfra()
        def _skip(self) -> list:
            return ["x", "opt.lr"]
        @infra.apply(exclude_from_cache_uid="method:_skip")
        def run(self) -> int:
            return self.x
    rec("t", lambda: T(x=5, y=6, z=7, opt={"name": "Sgd", "momentum": 0.5}).infra.uid())
    rec("t_default_opt", lambda: T(opt={"name": "Adam"}).infra.uid())
    rec("t_cfg", lambda: T(x=5, y=6, opt={"name": "Adam", "lr": 0.2}).infra.config(uid=True, exclude_defaults=True))
    rec("t_full", lambda: T(opt={"name": "Sgd"}).infra.config(uid=False, exclude_defaults=False))
    rec("u", lambda: U(x=5, y=6, z=7).infra.uid())
    rec("v", lambda: V(x=5, y=6, opt={"name": "Adam", "lr": 0.3}).infra.uid())
    rec("opt_plain", lambda: type(T(opt="Sgd").opt).__name__)
    rec("opt_dump", lambda: T(opt="Sgd").model_dump(exclude={"infra"}))
    rec("bad_exclusion", lambda: T.model_validate({"x": 1}).infra.config())
    """,
)

scenario(
    "submit_and_array_local",
    """
    class S(pydantic.BaseModel):
        p: int = 2
        infra: SubmitInfra = SubmitInfra(folder=TMP / "s", cluster="local")
        @infra.apply
        def mul(self, a: int, b: int = 1) -> int:
            return a * b * self.p
    s = S()
    rec("call", lambda: s.mul(3, b=2))
    rec("submit", lambda: s.infra.submit(4).result())
    class A(pydantic.BaseModel):
        x: int = 1
        infra: TaskInfra = TaskInfra(folder=TMP / "a", cluster="local")
        @infra.apply
        def run(self) -> int:
            if self.x == 2:
                raise ValueError("two")
            return self.x
    def array():
        a = A()
        with a.infra.job_array() as arr:
            for x in [1, 2, 3]:
                arr.append(A(x=x))
        out = []
        for o in arr:
            try:
                out.append(o.run())
            except Exception as e:
                out.append(type(e).__name__)
        return out
    rec("array", array)
    rec("statuses", lambda: [A(x=x).infra.status() for x in [1, 2, 3, 4]])
    rec("empty_array", lambda: A().infra.job_array().__enter__() and None)
    def empty():
        with A().infra.job_array() as arr:
            pass
    rec("empty", empty)
    def dupes():
        with A().infra.job_array() as arr:
            arr.extend([A(x=5), A(x=5)])
    rec("dupes", dupes)
    rec("retry", lambda: A(x=2, infra={"mode": "retry"}).infra.status())
    """,
)

# ------------------------------------------- cache folder naming of 0.6.0 (issue 26)
scenario(
    "subclass_overrides_and_reapplied_infras",
    """
    CALLS = []
    class Base(pydantic.BaseModel):
        p: int = 12
        infra: TaskInfra = TaskInfra(folder=TMP / "c", version="12")
        @infra.apply
        def func(self) -> int:
            CALLS.append("base")
            return self.p
    class Plain(Base):  # overrides without the infra: cached in the parent's folder
        q: int = 0
        def func(self) -> int:
            CALLS.append("plain")
            return super().func() + 1
    class Second(Base):  # another infra on the override: each infra its own folder
        infra2: TaskInfra = TaskInfra(folder=TMP / "c", version="1")
        @infra2.apply
        def func(self) -> int:
            CALLS.append("second")
            return super().func() + 2
    class Reapplied(Base):  # the same infra re-applied: the subclass's folder
        infra: TaskInfra = TaskInfra(folder=TMP / "c", version="12")
        @infra.apply
        def func(self) -> int:
            CALLS.append("reapplied")
            return super().func() + 3
    class Deeper(Plain):  # not overriding Plain's override: still the parent's folder
        r: int = 0
    for cls, kw in [(Base, {}), (Plain, {"q": 1}), (Plain, {}), (Second, {"p": 3}),
                    (Reapplied, {}), (Deeper, {"r": 2}), (Second, {"p": 3})]:
        name = cls.__name__ + "".join(f",{k}={v}" for k, v in kw.items())
        obj = cls(**kw)
        rec(name, obj.func)
        rec(name + " uids", lambda: sorted(i.uid() for i in obj.infra.obj_infras().values()))
    OUT["calls"] = CALLS
    rec("folders", lambda: [f for f in folders("c") if f.count("/") == 1])
    """,
)

scenario(
    "excluded_subconfigs_kept_empty",
    """
    class Sub(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        x: int = 1
        y: int = 2
        inner: dict = {}
    class M(pydantic.BaseModel):
        sub: Sub = Sub()
        opt: Sub | None = None
        infra: TaskInfra = TaskInfra(folder=TMP / "c", version="1")
        @infra.apply(exclude_from_cache_uid=("sub.y", "opt.y", "sub.inner.z"))
        def run(self) -> int:
            return self.sub.x
    for name, kw in {"sub_y": {"sub": {"y": 5}}, "opt_y": {"opt": {"y": 5}},
                     "both": {"sub": {"y": 5}, "opt": {"y": 3}}, "none": {},
                     "inner": {"sub": {"inner": {"z": 1}}},
                     "inner_kept": {"sub": {"inner": {"z": 1, "w": 2}}},
                     "sub_x": {"sub": {"x": 4, "y": 5}}}.items():
        m = M(**kw)
        rec(name, lambda: [m.infra.config(uid=True, exclude_defaults=True), m.infra.uid(), m.run()])
    rec("folders", lambda: [f for f in folders("c") if f.count("/") == 2])
    rec("uid_yaml", lambda: (TMP / "c" / M(sub={"y": 5}).infra.uid() / "uid.yaml").read_text())
    """,
)

scenario(
    "ordered_dicts_yaml_and_ops",
    """
    OD = collections.OrderedDict
    B, A, D = ConfDict.ops.BEFORE, ConfDict.ops.AFTER, ConfDict.ops.DELETE
    def show(cd):
        return [cd.to_yaml(), cd.to_uid(version=3), cd.to_uid(version=2)]
    rec("subs", lambda: show(ConfDict({"a": OD([("0", {"k": 0}), ("1", {"k": 1})])})))
    rec("single", lambda: show(ConfDict({"a": OD([("b", {"c": 12})])})))
    rec("nested", lambda: show(ConfDict({"a": OD([("b", OD([("c", {"d": 1})]))]), "z": {"y": 1}})))
    rec("flat", lambda: show(ConfDict({"a": OD([("x", 1), ("y", 2)])})))
    def steps():
        return ConfDict({"steps": OD([("a", {"k": 1}), ("b", {"k": 2}), ("c", {"k": 3})]), "x": 1})
    def patched(*patches):
        cd = steps()
        for p in patches:
            cd.update(p)
        return [type(cd["steps"]).__name__, list(cd["steps"]), *show(cd)]
    rec("after", lambda: patched({"steps": {"c": {A: "a"}}}))
    rec("before", lambda: patched({"steps": {"c": {B: "a"}}}))
    rec("new_entry_after", lambda: patched({"steps": {"d": {"k": 4, A: "a"}}}))
    rec("delete_and_move", lambda: patched({"steps": {"a": D, "c": {B: "b"}}}))
    rec("move_and_delete", lambda: patched({"steps": {"c": {B: "a"}, "b": D}}))
    rec("replace_entry", lambda: patched({"steps": {"b": {ConfDict.ops.REPLACE: True, "z": 0}}}))
    rec("dotted_into", lambda: patched({"steps.b.k": 20}))
    rec("plain_patch", lambda: patched({"steps": {"b": {"k": 5}}, "x": 2}))
    rec("anchor_missing", lambda: patched({"steps": {"c": {A: "zz"}}}))
    rec("flat_op", lambda: patched({"steps.c." + A: "a"}))
    class Step(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        k: int = 0
    class Pipe(pydantic.BaseModel):
        steps: collections.OrderedDict[str, Step] = collections.OrderedDict()
        infra: TaskInfra = TaskInfra(folder=TMP / "c")
        @infra.apply
        def run(self) -> list:
            return list(self.steps)
    def pipe(patch):
        cfg = ConfDict({"steps": OD([("a", {"k": 1}), ("b", {"k": 2})])})
        cfg.update(patch)
        p = Pipe(**cfg)
        return [p.run(), p.infra.uid(), (TMP / "c" / p.infra.uid() / "uid.yaml").read_text(),
                (TMP / "c" / p.infra.uid() / "full-uid.yaml").read_text()]
    rec("pipe", lambda: pipe({}))
    rec("pipe_moved", lambda: pipe({"steps": {"b": {B: "a"}}}))
    """,
)

scenario(
    "infra_objects_and_helpers_access",
    """
    import importlib
    rec("helpers_after_import_exca", lambda: callable(importlib.import_module("exca").helpers.with_infra))
    def bad_format():
        class A(pydantic.BaseModel):
            infra: TaskInfra = TaskInfra()
            @infra.apply(exclude_from_cache_uid="bad-format")
            def f(self) -> int:
                return 1
    rec("bad_exclude_format", bad_format)
    class Two(pydantic.BaseModel):
        infra: TaskInfra = TaskInfra(folder=TMP / "c")
        infra2: TaskInfra = TaskInfra(folder=TMP / "c")
        @infra.apply
        def f(self) -> int:
            return 1
        @infra2.apply
        def g(self) -> int:
            return 2
    def two_fields():
        shared = TaskInfra(version="3", folder=TMP / "c")
        t = Two(infra=shared, infra2=shared)
        return [t.infra is t.infra2, t.f(), t.g(), t.infra.uid(), t.infra2.uid()]
    rec("one_infra_two_fields", two_fields)
    def given_then_unapplied():
        shared = TaskInfra(version="3")
        Two(infra=shared)
        return shared.config()
    rec("given_then_unapplied", given_then_unapplied)
    class Priv(pydantic.BaseModel):
        x: int = 1
        infra: TaskInfra = TaskInfra()
        _infra: TaskInfra = TaskInfra(version="2")
        sub: tp.Any = None
        @infra.apply
        def f(self) -> int:
            return 1
        @_infra.apply
        def g(self) -> int:
            return 2
    rec("obj_infras", lambda: sorted(Priv().infra.obj_infras()))
    rec("obj_infras_versions", lambda: sorted(i.version for i in Priv().infra.obj_infras().values()))
    rec("obj_infras_of_private", lambda: sorted(Priv()._infra.obj_infras()))
    """,
    given_then_unapplied=(
        {"infra": {"version": "3"}, "infra2": {"version": "0"}},
        "the infra object given to a model is bound to it (the model's own copy is made "
        "only when it is given to a second model or field)",
    ),
    obj_infras_of_private=(
        "raise RuntimeError",
        "a private-attribute infra is bound to its object when its method is first called",
    ),
)

scenario(
    "discriminated_models_and_find_slurm_job_in_logs",
    """
    from exca import helpers
    class Base(helpers.DiscriminatedModel, discriminator_key="kind"):
        pass
    class Hello(Base):
        x: int = 1
    class Other(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        y: int = 2
    class M(pydantic.BaseModel):
        b: Base = Hello()
        infra: TaskInfra = TaskInfra()
        @infra.apply
        def run(self) -> int:
            return 1
    def unknown():
        try:
            M(b={"kind": "Nope"})
        except pydantic.ValidationError as e:
            return ["kind" in str(e), "Nope" in str(e)]
    rec("unknown_subclass_names_key", unknown)
    class U(pydantic.BaseModel):
        u: Base | Other = Other()
        infra: TaskInfra = TaskInfra(folder=TMP / "c")
        @infra.apply
        def run(self) -> int:
            return 1
    rec("union_other", lambda: [U(u={"y": 5}).infra.uid(), U(u={"y": 5}).run()])
    rec("union_discriminated", lambda: [U(u={"kind": "Hello", "x": 3}).infra.uid(), U(u={"kind": "Hello", "x": 3}).infra.config(uid=True, exclude_defaults=True)])
    # a job whose logs are in its uid folder: <uid folder>/logs/<user>/<job id>/
    uid_folder = TMP / "cache" / "mod.Cls.run,0" / "x=1-abc"
    logs = uid_folder / "logs" / "someone" / "12345"
    logs.mkdir(parents=True)
    (uid_folder / "config.yaml").write_text("x: 1\\ny: 2\\n")
    (uid_folder / "uid.yaml").write_text("x: 1\\n")
    (logs / "12345_0_log.out").write_text("hello\\n")
    (logs / "12345_0_log.err").write_text("")
    def find(folder):
        job = helpers.find_slurm_job(job_id="12345", folder=folder)
        if job is None:
            return None
        return [job.job_id, job.stdout(), dict(job.config), dict(job.uid_config)]
    rec("find_in_uid_folder_logs", lambda: find(uid_folder))
    rec("find_from_cache_folder", lambda: find(TMP / "cache"))
    rec("not_found", lambda: helpers.find_slurm_job(job_id="999", folder=TMP / "cache"))
    """,
)

scenario(
    "debug_cluster_and_repeated_job_array",
    """
    def local_class():
        class Local(pydantic.BaseModel):
            x: int = 1
            infra: TaskInfra = TaskInfra(folder=TMP / "c", cluster="debug")
            @infra.apply
            def run(self) -> int:
                return 2 * self.x
        first = Local(x=3).run()
        return [first, Local(x=3).run(), Local(x=3).infra.status()]
    rec("debug_local_class", local_class)
    MSGS = []
    class Handler(logging.Handler):
        def emit(self, record):
            MSGS.append(record.getMessage())
    log = logging.getLogger("exca")
    log.addHandler(Handler())
    log.setLevel(logging.INFO)
    class A(pydantic.BaseModel):
        x: int = 1
        infra: TaskInfra = TaskInfra(folder=TMP / "a", cluster="local")
        @infra.apply
        def run(self) -> int:
            return self.x
    def repeated():
        with A().infra.job_array(allow_repeated_tasks=True) as arr:
            arr.extend([A(x=1), A(x=2), A(x=1), A(x=2), A(x=3)])
        return [o.run() for o in arr]
    rec("repeated", repeated)
    rec("submitted", lambda: [" ".join(m.split()[:3]) for m in MSGS if m.startswith("Submitted")])
    """,
)

scenario(
    "cachedict_clear_leaves_an_empty_folder",
    """
    import numpy as np
    from exca.cachedict import CacheDict
    cd = CacheDict(TMP / "cd")
    with cd.write():
        cd["a"] = np.arange(3)
        cd["b"] = {"x": 1}
    rec("read", lambda: [cd["a"].tolist(), dict(cd["b"])])
    rec("before", lambda: sorted(p.name for p in (TMP / "cd").iterdir() if not p.name.endswith("-info.jsonl")))
    cd.clear()
    rec("after", lambda: sorted(str(p.relative_to(TMP / "cd")) for p in (TMP / "cd").rglob("*")))
    rec("keys", lambda: [list(cd.keys()), list(CacheDict(TMP / "cd").keys())])
    with cd.write():
        cd["c"] = 3
    rec("again", lambda: [CacheDict(TMP / "cd")["c"], sorted(CacheDict(TMP / "cd").keys())])
    """,
)
