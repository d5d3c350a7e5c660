"""dp.export: the bridge to the next library. PyTorch, ONNX and safetensors are optional extras
(`pip install 'dp[export]'`); dp itself never imports them, and this package imports each only
when a function that needs it is first used.

- `to_torch(model)`: a dp `Model`, `Sequential` or layer as a `torch.nn.Module` with the same
  weights, outputs and gradients; `from_torch(module)` the way back; `load_torch_state_dict(model,
  state_or_path)` loads what `torch.save(module.state_dict(), path)` wrote (`torch_bridge`).
- `to_onnx(step_or_function, *example_args, path=...)`: the forward graph `dp.trace` records as an
  ONNX model, opset `OPSET` (`onnx_export`).
- `save_safetensors(model, path)` / `load_safetensors(model, path)`: the parameters and buffers in
  the safetensors format (`saving`).

docs/export.md says what each supports and how far the results agree.
"""

from __future__ import annotations

import importlib
from typing import Any

from dp.export._common import Unsupported

_HOMES = {
    "to_torch": "torch_bridge",
    "from_torch": "torch_bridge",
    "load_torch_state_dict": "torch_bridge",
    "Replayed": "torch_bridge",
    "to_onnx": "onnx_export",
    "OPSET": "onnx_export",
    "save_safetensors": "saving",
    "load_safetensors": "saving",
}

__all__ = ["Unsupported", *_HOMES]


def __getattr__(name: str) -> Any:
    # Each name from its module on first use, so that ONNX export needs no torch, and the reverse.
    if name not in _HOMES:
        raise AttributeError(f"module 'dp.export' has no attribute {name!r}")
    return getattr(importlib.import_module(f"dp.export.{_HOMES[name]}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
