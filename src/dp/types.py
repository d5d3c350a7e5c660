"""The type aliases of dp's signatures: what each kind of argument may be, by name.

They say in a signature what the docstrings say in words, and mypy checks dp's own code against
them (`make test` runs mypy on src/dp). At run time they are plain names: dp never checks types
through them.

    ArrayLike  anything NumPy makes an array of: a number, a nested list, an ndarray
    Operand    what an operation takes: a Node, a Dual, or an ArrayLike (a constant)
    Tensor     what a derivative rule receives and returns: an ndarray on the ordinary
               backward pass, Nodes under `create_graph=True`, Duals in forward mode
    Gradients  what `grad(1)` returns: a named leaf's gradient under its name
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

if TYPE_CHECKING:
    from dp.forward import Dual
    from dp.node import Node

__all__ = ["ArrayLike", "DTypeLike", "Gradients", "Operand", "Tensor"]

Operand: TypeAlias = "Node | Dual | ArrayLike"
Tensor: TypeAlias = "Node | Dual | np.ndarray | np.floating"
#: An array each, of the leaf's shape and dtype; Nodes with `create_graph=True`.
Gradients: TypeAlias = "dict[str, np.ndarray | Node]"
