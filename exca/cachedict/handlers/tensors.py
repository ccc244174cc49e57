"""Format for torch tensors (torch is imported only when such values are seen)."""

from __future__ import annotations

import typing as tp

from ..registry import DumpContext, Handler, LoadContext, register
from .arrays import MemmapArray


@register(default_for="torch.Tensor")
class TorchTensor(Handler):
    """Tensors stored through ``MemmapArray`` (shared data file), loaded back as
    CPU tensors (a copy of the mapped data, so they are writable).
    bfloat16 tensors are stored as their raw 16-bit words."""

    @classmethod
    def dump(cls, ctx: DumpContext, value: tp.Any) -> dict[str, tp.Any]:
        """Stores the tensor's data (moved to CPU, made contiguous)."""
        import torch

        tensor = value.detach().cpu().contiguous()
        info: dict[str, tp.Any] = {}
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.view(torch.int16)
            info["torch_dtype"] = "bfloat16"
        info.update(MemmapArray.dump(ctx, tensor.numpy()))
        return info

    @classmethod
    def load(cls, ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
        """Reads the tensor back."""
        import numpy as np
        import torch

        array = np.array(MemmapArray.load(ctx, info))
        tensor = torch.from_numpy(array)
        if info.get("torch_dtype") == "bfloat16":
            tensor = tensor.view(torch.bfloat16)
        return tensor
