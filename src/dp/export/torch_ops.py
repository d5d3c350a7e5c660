"""dp's operations in PyTorch: how `to_torch` replays a recorded forward pass.

`TORCH_OPERATIONS[name](operands, params, tensor)` computes in torch what dp's primitive `name`
computes, operands being tensors (or Python numbers), `params` the primitive's parameters as
dp recorded them, and `tensor(value)` turning a parameter that holds an array (an index, a
mask) into a tensor. Each keeps dp's semantics exactly where PyTorch's differ: a window's
maximum gives its gradient to the first maximum (a `max` reduction shares a tie's, as
`torch.amax`), softplus has no threshold, and a root's gradient at 0 is 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dp.export._common import requires

torch = requires("torch", "dp.export.to_torch")
F = torch.nn.functional

Operation = Callable[[list[Any], dict[str, Any], Callable[[Any], Any]], Any]


def _dims(axis: Any, x: Any) -> tuple[int, ...]:
    """A NumPy axis argument (None, an int, a tuple) as torch's dim tuple."""
    if axis is None:
        return tuple(range(x.ndim))
    return tuple(np.atleast_1d(axis).tolist())


def _reduction(function: Callable[..., Any]) -> Operation:
    return lambda xs, p, tensor: function(xs[0], dim=_dims(p["axis"], xs[0]), keepdim=bool(p["keepdims"]))


def _first_max(x: Any, dim: tuple[int, ...]) -> Any:
    """The maximum over `dim`, its gradient going to the first maximum as dp's window_max (and
    max_pool2d) gives it: torch.max along one axis of the flattened axes does; torch.amax would
    share a tie's gradient out, as dp's `max` reduction does."""
    dims = tuple(sorted(d % max(x.ndim, 1) for d in dim)) if x.ndim else ()
    if not dims:
        return x
    rest = [d for d in range(x.ndim) if d not in dims]
    flat = x.permute(*rest, *dims).reshape(*[x.shape[d] for d in rest], -1)
    return flat.max(dim=-1).values


def _root(x: Any, degree: Any) -> Any:
    # dp's root (std, norms) has gradient 0 where x = 0, where x ** (1 / degree)'s is infinite:
    # the power is taken of 1 there, and its result not used.
    zero = x == 0
    safe = torch.where(zero, torch.ones_like(x), x)
    root = torch.sqrt(safe) if degree == 2 else safe ** (1 / degree)
    return torch.where(zero, torch.zeros_like(x), root)


def _index(key: Any, tensor: Callable[[Any], Any]) -> Any:
    """A NumPy index as torch takes it: integer arrays (and lists) as long tensors."""
    if isinstance(key, tuple):
        return tuple(_index(part, tensor) for part in key)
    if isinstance(key, np.ndarray | list):
        return tensor(np.asarray(key)).long()
    return key


def _pad(xs: list[Any], p: dict[str, Any], tensor: Callable[[Any], Any]) -> Any:
    widths = np.broadcast_to(np.asarray(p["pad_width"]), (xs[0].ndim, 2))
    value = np.asarray(p["constant_values"]).reshape(-1)
    if value.size > 1 and not np.all(value == value[0]):
        raise ValueError("to_torch: np.pad with different constants per side has no torch counterpart")
    flat = [int(n) for pair in widths[::-1] for n in pair]  # F.pad starts at the last axis
    return F.pad(xs[0], flat, value=float(value[0]) if value.size else 0.0)


def _windows(xs: list[Any], p: dict[str, Any], tensor: Callable[[Any], Any]) -> Any:
    x = xs[0]
    first = x.ndim - len(p["window_shape"])
    for offset, (size, step) in enumerate(zip(p["window_shape"], p["strides"])):
        x = x.unfold(first + offset, size, step)  # each appends its window axis at the end
    return x


def _where(xs: list[Any], p: dict[str, Any], tensor: Callable[[Any], Any]) -> Any:
    condition = tensor(p["condition"]).bool()
    return torch.where(condition, *(x if torch.is_tensor(x) else torch.tensor(x, dtype=_dtype(xs)) for x in xs))


def _dtype(xs: list[Any]) -> Any:
    return next((x.dtype for x in xs if torch.is_tensor(x) and x.is_floating_point()), torch.get_default_dtype())


def _unary(function: Callable[[Any], Any]) -> Operation:
    return lambda xs, p, tensor: function(xs[0])


def _binary(function: Callable[[Any, Any], Any]) -> Operation:
    return lambda xs, p, tensor: function(xs[0], xs[1])


def _logistic_loss(z: Any, y: Any) -> Any:
    # torch gives the labels no gradient; dp gives them -z: added as a term whose value is 0.
    return F.binary_cross_entropy_with_logits(z, y.detach(), reduction="none") - z.detach() * (y - y.detach())


def _tensors(function: Callable[[Any, Any], Any]) -> Operation:
    """A binary operation torch takes of two tensors only: a Python number as a tensor of the other's dtype."""

    def apply(xs: list[Any], p: dict[str, Any], tensor: Callable[[Any], Any]) -> Any:
        a, b = xs
        if not torch.is_tensor(a):
            a = torch.tensor(a, dtype=b.dtype)
        elif not torch.is_tensor(b):
            b = torch.tensor(b, dtype=a.dtype)
        return function(a, b)

    return apply


TORCH_OPERATIONS: dict[str, Operation] = {
    "add": _binary(lambda a, b: a + b),
    "subtract": _binary(lambda a, b: a - b),
    "multiply": _binary(lambda a, b: a * b),
    "divide": _binary(lambda a, b: a / b),
    "power": _binary(lambda a, b: a**b),
    "maximum": _tensors(torch.maximum),
    "minimum": _tensors(torch.minimum),
    "logaddexp": _tensors(torch.logaddexp),
    "binary_cross_entropy_with_logits": _tensors(_logistic_loss),
    "einsum": lambda xs, p, tensor: torch.einsum(p["subscripts"], *xs),
    "matmul": _binary(torch.matmul),
    "negative": _unary(torch.neg),
    "abs": _unary(torch.abs),
    "exp": _unary(torch.exp),
    "expm1": _unary(torch.expm1),
    "log": _unary(torch.log),
    "log1p": _unary(torch.log1p),
    "sqrt": _unary(torch.sqrt),
    "square": _unary(torch.square),
    "reciprocal": _unary(torch.reciprocal),
    "sin": _unary(torch.sin),
    "tan": _unary(torch.tan),
    "sign": _unary(torch.sign),
    "cos": _unary(torch.cos),
    "tanh": _unary(torch.tanh),
    "sinh": _unary(torch.sinh),
    "cosh": _unary(torch.cosh),
    "arctan": _unary(torch.arctan),
    "sigmoid": _unary(torch.sigmoid),
    "relu": _unary(torch.relu),
    "erf": _unary(torch.erf),
    "erfc": _unary(torch.erfc),
    "softplus": _unary(lambda x: torch.logaddexp(x, torch.zeros_like(x))),  # exact everywhere, as dp's
    "leaky_relu": lambda xs, p, tensor: F.leaky_relu(xs[0], p["alpha"]),
    "elu": lambda xs, p, tensor: F.elu(xs[0], p["alpha"]),
    "softmax": lambda xs, p, tensor: torch.softmax(xs[0], p["axis"]),
    "log_softmax": lambda xs, p, tensor: torch.log_softmax(xs[0], p["axis"]),
    "clip": lambda xs, p, tensor: torch.clamp(xs[0], xs[1], xs[2]),
    "sum": _reduction(torch.sum),
    "mean": _reduction(torch.mean),
    "max": _reduction(torch.amax),
    "min": _reduction(torch.amin),
    "logsumexp": _reduction(torch.logsumexp),
    "window_max": lambda xs, p, tensor: _first_max(xs[0], tuple(range(-p["k"], 0))),
    "root": lambda xs, p, tensor: _root(xs[0], p["degree"]),
    "reshape": lambda xs, p, tensor: xs[0].reshape(p["shape"]),
    "transpose": lambda xs, p, tensor: xs[0].permute(*p["axes"]),
    "broadcast_to": lambda xs, p, tensor: xs[0].expand(*p["shape"]),
    "getitem": lambda xs, p, tensor: xs[0][_index(p["key"], tensor)],
    "stack": lambda xs, p, tensor: torch.stack(xs, p["axis"]),
    "concatenate": lambda xs, p, tensor: torch.cat(xs, p["axis"]),
    "astype": lambda xs, p, tensor: xs[0].to(getattr(torch, np.dtype(p["dtype"]).name)),
    "where": _where,
    "pad": _pad,
    "sliding_windows": _windows,
    "correlate2d": lambda xs, p, tensor: F.conv2d(xs[0], xs[1], stride=p["stride"]),
}
