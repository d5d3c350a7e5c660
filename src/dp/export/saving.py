"""The parameters and buffers of a dp model in the safetensors format, for the next library.

`Model.save` / `load` stay NumPy's `.npz`. safetensors is what PyTorch's and Hugging Face's
tools read without unpickling anything: a JSON header (names, dtypes, shapes) and the raw
bytes. The `safetensors` package, kept by Hugging Face and used by most of that ecosystem, reads
and writes it from NumPy without torch, so dp uses it rather than writing the format itself.

`layout="dp"` keeps dp's names and layouts (`h1.W`, what `Model.save` writes); `layout="torch"`
writes the state dict of `to_torch(model)` (`h1.weight`, transposed), which
`module.load_state_dict(safetensors.torch.load_file(path))` loads into that module, and needs torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np

from dp.export._common import requires, write_atomically
from dp.nn import Layer
from dp.nn.model import _copy_into

__all__ = ["load_safetensors", "save_safetensors"]

Layout = Literal["dp", "torch"]


def save_safetensors(model: Layer, path: str | os.PathLike[str], *, layout: Layout = "dp") -> Path:
    """Write the model's parameters and buffers to `path` (whole, or not at all); return it."""
    safetensors = requires("safetensors.numpy", "dp.export.save_safetensors")
    if layout == "dp":
        arrays = {name: np.ascontiguousarray(array) for name, array in model._state().items()}
    elif layout == "torch":
        from dp.export.torch_bridge import to_torch

        arrays = {name: value.detach().cpu().numpy().copy() for name, value in to_torch(model).state_dict().items()}
    else:
        raise ValueError(f"save_safetensors: layout must be 'dp' or 'torch', got {layout!r}")
    return write_atomically(path, lambda temporary: safetensors.save_file(arrays, temporary))


def load_safetensors(model: Layer, path: str | os.PathLike[str], *, layout: Layout = "dp") -> Layer:
    """Read what `save_safetensors` wrote into `model`, in place, and return it: exactly the
    model's names and shapes, else a ValueError and nothing changes."""
    safetensors = requires("safetensors.numpy", "dp.export.load_safetensors")
    arrays = safetensors.load_file(os.fspath(path))
    if layout == "dp":
        _copy_into(model._state(), arrays, f"load_safetensors({os.fspath(path)!r})")
    elif layout == "torch":
        from dp.export.torch_bridge import load_torch_state_dict, torch

        load_torch_state_dict(model, {name: torch.from_numpy(array) for name, array in arrays.items()})
    else:
        raise ValueError(f"load_safetensors: layout must be 'dp' or 'torch', got {layout!r}")
    return model
