"""The type aliases of dp's signatures: what each kind of argument may be, by name.

They say in a signature what the docstrings say in words, and mypy checks dp's own code against
them (`make test` runs mypy on src/dp). At run time they are plain names: dp never checks types
through them.

- `ArrayLike` (NumPy's): anything NumPy makes an array of: a number, a nested list, an ndarray.
- `DTypeLike` (NumPy's): anything `np.dtype` takes: `np.float32`, `"float64"`, ...
- `Operand`: what an operation takes: a Node, a Dual, or an ArrayLike (a constant).
- `Tensor`: what a derivative rule receives and returns: an ndarray (or a NumPy scalar) on the
  ordinary backward pass, Nodes under `create_graph=True`, Duals in forward mode.
- `Gradients`: what `grad(1)` returns: each named leaf's gradient under its name, an array of
  the leaf's shape and dtype (a Node under `create_graph=True`).
- `RngLike`: where random numbers come from: a Generator, a seed (an int >= 0), NumPy's other
  sources (a BitGenerator, a SeedSequence), or None for fresh entropy (`dp.data.as_generator`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

if TYPE_CHECKING:
    from dp.forward import Dual
    from dp.node import Node

__all__ = ["ArrayLike", "DTypeLike", "Gradients", "Operand", "RngLike", "Tensor"]

Operand: TypeAlias = "Node | Dual | ArrayLike"
Tensor: TypeAlias = "Node | Dual | np.ndarray | np.floating"
Gradients: TypeAlias = "dict[str, np.ndarray | Node]"
RngLike: TypeAlias = "np.random.Generator | np.random.BitGenerator | np.random.SeedSequence | int | np.integer | None"
