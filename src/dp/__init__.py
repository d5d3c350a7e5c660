"""dp: differentiable programming on NumPy, small enough to read in an afternoon.

The public API, re-exported from the modules that define it; nothing is defined here.
"""

from dp.node import Node, as_node, backpropagate, concatenate, maximum, stack, topological_order, unbroadcast, where

__all__ = [
    "Node",
    "as_node",
    "backpropagate",
    "concatenate",
    "maximum",
    "stack",
    "topological_order",
    "unbroadcast",
    "where",
]
__version__ = "0.1.0"
