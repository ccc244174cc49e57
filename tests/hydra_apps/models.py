"""Pydantic models named by the ``_target_`` of the launcher tests' configs."""

import typing as tp

import pydantic


class Train(pydantic.BaseModel):
    """A model with defaults; ``seed`` does not change the result (excluded from the uid)."""

    model_config = pydantic.ConfigDict(extra="forbid")
    _exclude_from_cls_uid: tp.ClassVar[list[str]] = ["seed"]

    lr: float = 0.1
    epochs: int = 3
    seed: int = 0


class OtherTrain(pydantic.BaseModel):
    """Same fields as :class:`Train`: its results must never share Train's cache entries."""

    model_config = pydantic.ConfigDict(extra="forbid")

    lr: float = 0.1
    epochs: int = 3
    seed: int = 0


class Fit(pydantic.BaseModel):
    """A model told where to write (its ``output_dir`` interpolates Hydra's)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    lr: float = 0.1
    output_dir: str = "out"
