"""dp: differentiable programming on NumPy, small enough to read in an afternoon.

The public API, re-exported from the modules that define it; nothing is defined here.
"""

from dp.check import gradcheck, numerical_grad
from dp.explain import Explanation, explain_forward  # also gives Node its explain() method
from dp.forward import Dual, jvp
from dp import ops
from dp.ops import concatenate, maximum, stack, where
from dp.functional import grad, hessian, jacobian, value_and_grad, vjp
from dp.graph import to_dot, to_svg
from dp.trace import Traced, trace
from dp.node import Node, Primitive, as_node, backpropagate, primitive, topological_order, unbroadcast
# The paper's high-level names at the top level too: `from dp import Model, SGD`.
from dp import nn
from dp.nn import SGD, SGD_Momentum, Adam, AdamW, Model, Momentum, Optimizer, RMSProp, Sequential

__all__ = [
    "Adam",
    "AdamW",
    "Dual",
    "Explanation",
    "Model",
    "Momentum",
    "Node",
    "Optimizer",
    "Primitive",
    "RMSProp",
    "SGD",
    "SGD_Momentum",
    "Sequential",
    "Traced",
    "as_node",
    "backpropagate",
    "concatenate",
    "explain_forward",
    "grad",
    "gradcheck",
    "hessian",
    "jacobian",
    "jvp",
    "maximum",
    "nn",
    "numerical_grad",
    "ops",
    "primitive",
    "stack",
    "to_dot",
    "to_svg",
    "topological_order",
    "trace",
    "unbroadcast",
    "value_and_grad",
    "vjp",
    "where",
]
__version__ = "0.1.0"
