"""uid computation: ``ConfDict.to_uid()`` and ``ConfDict.from_model(...).to_uid()``.

Ours vs the reference release (exca==0.6.0) vs plain-Python baselines. Run with
``.venv/bin/python benchmarks/bench_uid.py`` (``--help`` for options).

Our default uid version is 2, the reference's is 3: every case says which version each
side computes; ``v3 vs v3`` and ``v2 vs v2`` rows compare exactly the same work.
"""

import sys
from pathlib import Path

from harness import Case, Snippet, main

VECTORS = Path(__file__).resolve().parent.parent / "tests" / "data" / "uid-vectors.json"

# --- 41 vector inputs ------------------------------------------------------------------

LOAD_VECTORS = f"""
import json
VECTORS = json.loads(open({str(VECTORS)!r}).read())
INPUTS = [v["input"] for v in VECTORS]
assert len(INPUTS) == 41, len(INPUTS)
"""


def confdict_side(call: str, expected_key: str, check: bool = True) -> Snippet:
    """Hash the 41 inputs with ``ConfDict(x).<call>``, checked once against the vectors.

    With ``check``, the uids are also compared across sides (same-version rows only).
    """
    setup = f"""
from exca import ConfDict
{LOAD_VECTORS}
got = [ConfDict(x).{call} for x in INPUTS]
bad = [i for i, (g, v) in enumerate(zip(got, VECTORS)) if g != v[{expected_key!r}]]
assert not bad, f"uids differ from {expected_key} for vectors {{bad}}"
"""
    if check:
        setup += "CHECK = got\n"
    return Snippet(setup=setup, stmt=f"for x in INPUTS:\n    ConfDict(x).{call}")


JSON_BASELINE = Snippet(
    setup=f"import hashlib\n{LOAD_VECTORS}",
    stmt=("for x in INPUTS:\n    hashlib.md5(json.dumps(x, sort_keys=True).encode()).hexdigest()"),
)

# --- a model: 3 nested sub-models (data, training, training.optim) + a discriminated union

MODEL = """
import typing as tp
import pydantic


class Base(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


class Optim(Base):
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)


class Data(Base):
    path: str = "/data"
    batch_size: int = 32
    shuffle: bool = True
    split: list[float] = [0.8, 0.1, 0.1]


class Training(Base):
    optim: Optim = Optim()
    epochs: int = 10
    seed: int = 0


class Conv(Base):
    kind: tp.Literal["conv"] = "conv"
    channels: int = 16
    kernel: int = 3


class Mlp(Base):
    kind: tp.Literal["mlp"] = "mlp"
    hidden: list[int] = [64, 64]
    dropout: float = 0.1


class Experiment(Base):
    data: Data = Data()
    training: Training = Training()
    net: tp.Annotated[Conv | Mlp, pydantic.Field(discriminator="kind")] = Conv()
    name: str = "exp"
    tags: dict[str, str] = {}


MODEL = Experiment(
    data={"batch_size": 64},
    training={"optim": {"lr": 0.01}, "epochs": 20},
    net={"kind": "mlp", "hidden": [128, 128]},
    name="bench",
)
"""


def model_side(to_uid: str, check: bool) -> Snippet:
    """``ConfDict.from_model(MODEL, uid=True, exclude_defaults=True).<to_uid>``."""
    call = f"ConfDict.from_model(MODEL, uid=True, exclude_defaults=True).{to_uid}"
    setup = f"from exca import ConfDict\n{MODEL}\nUID = {call}\n"
    if check:
        setup += "CHECK = UID\n"
    return Snippet(setup=setup, stmt=call)


MODEL_BASELINE = Snippet(
    setup=f"import hashlib\n{MODEL}",
    stmt="hashlib.md5(MODEL.model_dump_json(exclude_defaults=True).encode()).hexdigest()",
)

CASES = [
    Case(
        "ConfDict(x).to_uid() x 41 vectors — ours default v2, ref default v3",
        ours=confdict_side("to_uid()", "uid_v2", check=False),
        reference=confdict_side("to_uid()", "uid_v3", check=False),
        baseline=JSON_BASELINE,
    ),
    Case(
        "ConfDict(x).to_uid() x 41 vectors — ours version=3, ref default v3",
        ours=confdict_side("to_uid(version=3)", "uid_v3"),
        reference=confdict_side("to_uid()", "uid_v3"),
        baseline=JSON_BASELINE,
    ),
    Case(
        "ConfDict(x).to_uid() x 41 vectors — v2 both (ref version=2)",
        ours=confdict_side("to_uid()", "uid_v2"),
        reference=confdict_side("to_uid(version=2)", "uid_v2"),
        baseline=JSON_BASELINE,
    ),
    Case(
        "from_model(m, uid=True, exclude_defaults=True).to_uid() — ours default v2, ref default v3",
        ours=model_side("to_uid()", check=False),
        reference=model_side("to_uid()", check=False),
        baseline=MODEL_BASELINE,
    ),
    Case(
        "from_model(m, uid=True, exclude_defaults=True).to_uid() — ours version=3, ref default v3",
        ours=model_side("to_uid(version=3)", check=True),
        reference=model_side("to_uid()", check=True),
        baseline=MODEL_BASELINE,
    ),
    Case(
        "from_model(m, uid=True, exclude_defaults=True).to_uid() — v2 both (ref version=2)",
        ours=model_side("to_uid()", check=True),
        reference=model_side("to_uid(version=2)", check=True),
        baseline=MODEL_BASELINE,
    ),
]

NOTES = [
    "times are per call: one full pass over the 41 inputs of tests/data/uid-vectors.json, "
    "or one from_model(...).to_uid() on a model with 3 nested sub-models and a "
    "discriminated union (defined identically on every side)",
    "uid versions: ours defaults to v2, the reference to v3; 'v2 both' forces the reference "
    "to version=2, 'ours version=3' forces ours to v3, so those rows compare the same work",
    "ConfDict baseline: hashlib.md5(json.dumps(x, sort_keys=True)) per input; model baseline: "
    "hashlib.md5(model.model_dump_json(exclude_defaults=True))",
    "every side's uids are checked against the vectors (ConfDict rows) or against the "
    "other side (model rows with the same version) before timing",
]

if __name__ == "__main__":
    sys.exit(main(CASES, name="uid", notes=NOTES))
