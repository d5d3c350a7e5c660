"""The catalogue of operations: every primitive dp differentiates, beyond node.py's dozen examples.

Each module holds one family, each operation defined once (`dp.primitive`: its NumPy forward, its
VJP rules, its tangent rule), registered as the NumPy function it stands for (`implements`) and,
where ndarray has one, as a method of Node and Dual (`method`):

    elementwise.py   unary and binary element-wise functions, activations
    reductions.py    sum's relatives: mean, max, min, prod, var, std, cumsum, logsumexp, norms
    shape.py         reshaping, transposing, joining, splitting, indexing, padding
    linalg.py        products (dot, inner, outer, tensordot, einsum, kron) and linear algebra
    windows.py       sliding windows, the operation under convolution and pooling
    convolution.py   2-d cross-correlation (convolution layers), with its derivatives as operations

`dp.ops.<name>` is each operation here as a function, for Nodes, Duals and arrays alike (node.py's own
dozen are Node's operators and methods: `x + y`, `x.exp()`, `x.sum()`).
"""

from dp.node import PRIMITIVES, primitive  # noqa: F401  re-exported: dp.ops.primitive, dp.ops.PRIMITIVES
from dp.ops.elementwise import *  # noqa: F401,F403
from dp.ops.reductions import *  # noqa: F401,F403
from dp.ops.shape import *  # noqa: F401,F403
from dp.ops.linalg import *  # noqa: F401,F403
from dp.ops.windows import *  # noqa: F401,F403
from dp.ops.convolution import *  # noqa: F401,F403

from dp.ops import convolution, elementwise, linalg, reductions, shape, windows  # noqa: E402

#: dp.ops.<name>: each family's public operations (the API snapshot lists them from here).
__all__ = [
    "PRIMITIVES",
    "primitive",
    *elementwise.__all__,
    *reductions.__all__,
    *shape.__all__,
    *linalg.__all__,
    *windows.__all__,
    *convolution.__all__,
]
