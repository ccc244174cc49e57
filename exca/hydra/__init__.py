"""The Hydra/OmegaConf bridge of exca.

- :func:`from_omegaconf`, :func:`to_omegaconf`, :func:`to_hydra_yaml`,
  :func:`apply_overrides`: ``ConfDict`` <-> ``DictConfig`` (same uid both ways),
  Hydra-loadable YAML, Hydra override strings applied to a ``ConfDict``;
- :func:`schema`, :func:`schema_report`, :func:`register`, :func:`register_group`: pydantic models ->
  structured-config dataclasses stored in Hydra's ConfigStore, discriminated
  unions of sub-models and DiscriminatedModel hierarchies -> config groups;
  :class:`SchemaError` for a field a config cannot carry unchanged;
- :func:`to_model`, :func:`compose`, :func:`main`: a composed config ->
  a validated model, with errors naming the key, the value and the expected type.

This subpackage imports omegaconf and hydra; ``import exca`` never imports it.
"""

from .convert import (
    apply_overrides,
    from_omegaconf,
    omegaconf_to_dict,
    suggest_on_override_errors,
    to_hydra_yaml,
    to_omegaconf,
)
from .errors import ConfigError, SchemaError
from .schema import Loosened, Registration, register, register_group, schema, schema_report
from .validate import compose, main, to_model

__all__ = [
    "ConfigError",
    "Loosened",
    "Registration",
    "SchemaError",
    "apply_overrides",
    "compose",
    "from_omegaconf",
    "main",
    "omegaconf_to_dict",
    "register",
    "register_group",
    "schema",
    "schema_report",
    "suggest_on_override_errors",
    "to_hydra_yaml",
    "to_model",
    "to_omegaconf",
]
