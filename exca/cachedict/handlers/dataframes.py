"""Formats for pandas DataFrames (pandas is imported only when such values are seen)."""

from __future__ import annotations

import importlib.util
import typing as tp

from ..registry import DumpContext, KeyFileHandler, LoadContext, register


def _has_parquet_engine() -> bool:
    return any(importlib.util.find_spec(m) is not None for m in ("pyarrow", "fastparquet"))


@register
class PandasDataFrame(KeyFileHandler):
    """One ``.csv`` file per DataFrame (read back with its index as first column).

    CSV loses dtypes beyond numbers and strings: prefer the default
    (``ParquetPandasDataFrame``) or ``Pickle`` for exact round trips.
    """

    @classmethod
    def dump(cls, ctx: DumpContext, value: tp.Any) -> dict[str, tp.Any]:
        """Writes the DataFrame as CSV."""
        name, path = ctx.key_file(".csv")
        value.to_csv(path, index=True)
        return {"filename": name}

    @classmethod
    def load(cls, ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
        """Reads the CSV back."""
        import pandas as pd

        return pd.read_csv(ctx.path(info["filename"]), index_col=0)


@register(default_for="pandas.DataFrame")  # the class, whatever module it reports
class ParquetPandasDataFrame(KeyFileHandler):
    """One ``.parquet`` file per DataFrame (default for DataFrames).

    Falls back to ``Pickle`` when no parquet engine (pyarrow, fastparquet) is
    installed or when column names are not all strings (parquet cannot hold them).
    """

    @classmethod
    def dump(cls, ctx: DumpContext, value: tp.Any) -> dict[str, tp.Any]:
        """Writes the DataFrame as parquet (or pickles it, see the class doc)."""
        columns_ok = all(isinstance(c, str) for c in value.columns)
        if not columns_ok or not _has_parquet_engine():
            return ctx.dump(value, "Pickle")
        name, path = ctx.key_file(".parquet")
        value.to_parquet(path)
        return {"filename": name}

    @classmethod
    def load(cls, ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
        """Reads the parquet file back."""
        import pandas as pd

        return pd.read_parquet(ctx.path(info["filename"]))
