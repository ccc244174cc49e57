"""Built-in storage formats, one class each, registered by name at import.

==========================  ==========================================================
name                        storage
==========================  ==========================================================
``MemmapArray``             numpy arrays appended to a per-writer data file, read as
                            memory-mapped arrays (default for ``np.ndarray``)
``NumpyArray``              one ``.npy`` file per array
``Pickle``                  one pickle file per value
``Json``                    JSON inline in the index (shared file when large)
``String``                  text inline in the index or in a shared UTF-8 file
                            (default for ``str``)
``Auto``                    dicts/lists/tuples of mixed values, each value with its
                            own format (default for containers and unknown types)
``PandasDataFrame``         one ``.csv`` per DataFrame
``ParquetPandasDataFrame``  one ``.parquet`` per DataFrame (default for DataFrames)
``TorchTensor``             tensors through ``MemmapArray`` (default for tensors)
``exca060``                 values written by exca 0.6.0 (read only)
==========================  ==========================================================
"""

from .arrays import MemmapArray, NumpyArray
from .basic import Auto, Json, Pickle, String
from .dataframes import PandasDataFrame, ParquetPandasDataFrame
from .exca060 import Exca060
from .tensors import TorchTensor

__all__ = [
    "Auto",
    "Exca060",
    "Json",
    "MemmapArray",
    "NumpyArray",
    "PandasDataFrame",
    "ParquetPandasDataFrame",
    "Pickle",
    "String",
    "TorchTensor",
]
