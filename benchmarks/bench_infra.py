"""Infras: model instantiation and uid, TaskInfra cached calls, MapInfra over 10,000 items.

Ours vs the reference release (exca==0.6.0, its own venv created by the harness), in the
same run; baseline: ``joblib.Memory`` for the cached call of a task (run in the reference
venv, where the harness installs joblib). Run with
``.venv/bin/python benchmarks/bench_infra.py`` (``--help`` for options).

Our default uid version is 2, the reference's is 3: rows computing uids say which version
each side uses, and the ``v3 vs v3`` rows compare exactly the same work (same uids,
checked).
"""

import sys
import textwrap

from harness import REF_VENV, Case, Script, Snippet, main

N = 10_000

MODEL = """
import os
import tempfile
import typing as tp

import numpy as np
import pydantic

import exca


class Optim(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    lr: float = 1e-3
    weight_decay: float = 0.0


class Train(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    seed: int = 0
    epochs: int = 10
    name: str = "train"
    optim: Optim = Optim()
    infra: exca.TaskInfra = exca.TaskInfra(version="1")

    @infra.apply
    def run(self) -> int:
        return self.seed


class Mapper(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    scale: int = 1
    infra: exca.MapInfra = exca.MapInfra(version="1")

    @infra.apply(item_uid=str)
    def process(self, items: tp.Sequence[int]) -> tp.Iterator[np.ndarray]:
        for item in items:
            yield np.full(16, item * self.scale, dtype=np.float32)
"""

N_LOOP = f"N = {N}\n"
UID_CHECK = "CHECK = Train(seed=3, optim={'lr': 0.1}).infra.uid().split('/')[1]\n"
V3 = "exca.ConfDict.UID_VERSION = 3  # the reference's default\n"


def model_snippet(stmt: str, check: bool = False, v3: bool = False) -> Snippet:
    setup = MODEL + (V3 if v3 else "") + N_LOOP + (UID_CHECK if check else "")
    return Snippet(setup=setup, stmt=stmt)


INSTANTIATE = "for k in range(N):\n    Train(seed=k, optim={'lr': 0.1})"
FIRST_UID = "for k in range(N):\n    Train(seed=k, optim={'lr': 0.1}).infra.uid()"

TASK_SETUP = (
    MODEL
    + """
FOLDER = tempfile.mkdtemp()
Train(seed=3, infra={"folder": FOLDER}).run()
SAME = Train(seed=3, infra={"folder": FOLDER, "keep_in_ram": True})
SAME.run()
CHECK = Train(seed=3, infra={"folder": FOLDER}).run()
"""
)

JOBLIB_SETUP = """
import tempfile
import joblib

memory = joblib.Memory(tempfile.mkdtemp(), verbose=0)


@memory.cache
def run(seed: int, epochs: int = 10, name: str = "train", lr: float = 1e-3) -> int:
    return seed


CHECK = run(3)
"""

# ---------- MapInfra over 10,000 items: two fresh processes ----------

MAP_HEAD = MODEL + N_LOOP + 'FOLDER = os.path.join(os.environ["BENCH_WORKDIR"], "cache")\n'

MAP_WRITE = MAP_HEAD + textwrap.dedent(
    """
    items = list(range(N))
    with timed("compute and store"):
        mapper = Mapper(infra={"folder": FOLDER})
        outputs = list(mapper.process(items))
    assert len(outputs) == N and float(outputs[-1][0]) == N - 1
    with timed("in-RAM calls (same object, 10,000 items)"):
        total = 0.0
        for out in mapper.process(items):
            total += float(out[0])
    """
)

MAP_READ = MAP_HEAD + textwrap.dedent(
    """
    items = list(range(N))
    with timed("cached reload (fresh process, 10,000 items)"):
        mapper = Mapper(infra={"folder": FOLDER})
        total = 0.0
        for out in mapper.process(items):
            total += float(out[0])
    assert total == sum(items)
    with timed("1,000 single-item cached calls (same object)"):
        for k in range(1000):
            for out in mapper.process([k]):
                total += float(out[0])
    with timed("20 single-item cached calls (fresh objects)"):
        for k in range(20):
            for out in Mapper(infra={"folder": FOLDER}).process([k]):
                total += float(out[0])
    """
)

# ---------- a MapInfra folder written by exca 0.6.0, read by each side ----------

MODS060 = textwrap.dedent(
    """
    import typing as tp
    import numpy as np
    import pydantic
    import exca


    class Mapper060(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        scale: int = 2
        infra: exca.MapInfra = exca.MapInfra(version="1")

        @infra.apply(item_uid=str)
        def process(self, items: tp.Sequence[int]) -> tp.Iterator[np.ndarray]:
            for item in items:
                yield np.full(16, item * self.scale, dtype=np.float32)
    """
)

# stage 1, on both sides: the real exca 0.6.0 writes the folder (not timed)
WRITE_060 = textwrap.dedent(
    f"""
    import os, subprocess
    from pathlib import Path
    work = Path(os.environ["BENCH_WORKDIR"])
    (work / "mods060.py").write_text({MODS060!r})
    code = (
        "import sys; sys.path.insert(0, '.'); import mods060\\n"
        "m = mods060.Mapper060(infra={{'folder': 'cache060'}})\\n"
        "assert len(list(m.process(list(range({N}))))) == {N}\\n"
    )
    env = {{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CONFDICT_UID_VERSION")}}
    subprocess.run([{str(REF_VENV / "bin" / "python")!r}, "-I", "-c", code], cwd=work, env=env,
                   check=True)
    """
)

READ_060 = textwrap.dedent(
    f"""
    import os, sys
    sys.path.insert(0, os.environ["BENCH_WORKDIR"])
    os.chdir(os.environ["BENCH_WORKDIR"])
    import mods060
    items = list(range({N}))
    with timed("read (fresh process, read-only mode)"):
        mapper = mods060.Mapper060(infra={{"folder": "cache060", "mode": "read-only"}})
        total = 0.0
        for out in mapper.process(items):
            total += float(out[0])
    assert total == 2 * sum(items)
    """
)

CASES = [
    Case(
        f"{N:,} model instantiations (with a default TaskInfra field)",
        ours=model_snippet(INSTANTIATE),
        reference=model_snippet(INSTANTIATE),
    ),
    Case(
        f"{N:,} instantiations + first uid() (ours v2, reference v3)",
        ours=model_snippet(FIRST_UID),
        reference=model_snippet(FIRST_UID),
        repeats=5,
    ),
    Case(
        f"{N:,} instantiations + first uid() (v3 vs v3, same uids)",
        ours=model_snippet(FIRST_UID, check=True, v3=True),
        reference=model_snippet(FIRST_UID, check=True),
        repeats=5,
    ),
    Case(
        "TaskInfra cached call, fresh object (baseline: joblib.Memory cached call)",
        ours=Snippet(setup=TASK_SETUP, stmt='Train(seed=3, infra={"folder": FOLDER}).run()'),
        reference=Snippet(setup=TASK_SETUP, stmt='Train(seed=3, infra={"folder": FOLDER}).run()'),
        baseline=Snippet(setup=JOBLIB_SETUP, stmt="run(3)", env="reference"),
    ),
    Case(
        "TaskInfra cached call, same object (keep_in_ram)",
        ours=Snippet(setup=TASK_SETUP, stmt="SAME.run()"),
        reference=Snippet(setup=TASK_SETUP, stmt="SAME.run()"),
    ),
    Case(
        f"MapInfra over {N:,} items (float32 arrays of 16, default storage)",
        ours=Script(MAP_WRITE, MAP_READ),
        reference=Script(MAP_WRITE, MAP_READ),
        repeats=5,
    ),
    Case(
        f"MapInfra folder of {N:,} items written by exca 0.6.0 (ours: uid v2, found in 0.6.0's v3 folder)",
        ours=Script(WRITE_060, READ_060),
        reference=Script(WRITE_060, READ_060),
        repeats=5,
    ),
]

NOTES = [
    "model: 3 fields, a sub-model and a TaskInfra(version='1') field; uid() of a fresh object",
    "v3 row: ours sets ConfDict.UID_VERSION = 3 (the reference's default), uids checked equal",
    "TaskInfra cached call: result stored by the first call; each timed call creates the "
    "object and reads the result (ours: Pickle in the uid folder's CacheDict; reference: "
    "job.pkl)",
    "MapInfra: stage 1 computes and stores 10,000 items then reads them again from RAM; stage "
    "2 is a fresh process reloading them, then cached calls of single items",
    "0.6.0 folder: stage 1 (not timed) runs exca 0.6.0 to fill a MapInfra folder with 10,000 "
    "float32 arrays; stage 2 reads them all in a fresh process of each side (read-only mode)",
]

if __name__ == "__main__":
    sys.exit(main(CASES, name="infra", notes=NOTES, extra_requirements=["joblib==1.4.2"]))
