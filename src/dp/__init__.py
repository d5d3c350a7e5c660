"""dp: differentiable programming on NumPy, small enough to read in an afternoon.

A leaf with a name is a variable; operations on Nodes build a graph; `grad(1)` differentiates
it in reverse mode and returns the gradients by name (the DP paper's example):

    >>> import numpy as np
    >>> from dp import Node
    >>> a = Node(np.array([[1, 1, 1], [2, 2, 2]]), "A")
    >>> b = Node(np.array([[1, 2, 3]]), "B")
    >>> grads = (a * b).exp().sum().grad(1)
    >>> np.round(grads["B"], 2)
    array([[ 17.5 , 116.59, 826.94]])

Forward mode: `Dual` and `jvp`; functions of functions: `grad`, `jacobian`, `hessian`; the
static graph: `trace`; the slides' tables: `node.explain()`; networks: `dp.nn` (the paper's
`Model`, `Sequential`, layers, losses, optimizers); data: `dp.data`; PyTorch and ONNX:
`dp.export`. The course is in the repository's notebooks/.

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
from dp import export, nn  # dp.export loads torch and onnx only when one of its functions is used
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
    "export",
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
from dp._api import VERSION as __version__  # noqa: F401  the installed package's version (its metadata)
