"""dp.nn's layers and their PyTorch counterparts, both ways, through docs/layers.md's layouts.

Each supported layer is one `Pair`: how to make the torch module from the dp layer (`to`), how
to make an empty dp layer of the same configuration from a torch module (`back`), and the dp
layer's parameters and buffers as the torch module holds them, in dp's layout (`views`:
`Linear.W` is `weight.T`, an LSTM's `b` is `bias_ih_l0 + bias_hh_l0`, ...). `views` is what
`from_torch` copies into the dp layer, and what a replayed forward pass reads where it uses a
layer's parameter itself (tied weights).

The torch modules are PyTorch's own; where dp's call differs from PyTorch's, a subclass keeps
the state dict's names and takes dp's call: `_Linear` (an activation fused in, the paper's
`ReLu_Layer`), `_BatchNorm` (one module for (N, C), (N, C, L) and (N, C, H, W), as dp's),
`_RNN` / `_LSTM` / `_GRU` (batch first, states (N, H) rather than (1, N, H)) and
`_MultiheadAttention` (batch first, `mha(q, k, v, mask)` returning the output only).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from dp import nn as dnn
from dp.export._common import Unsupported, requires
from dp.nn.recurrent import _Sequence

torch = requires("torch", "dp.export.to_torch")
tnn = torch.nn


def torch_dtype(dtype: Any) -> Any:
    return getattr(torch, np.dtype(dtype).name)


def numpy_dtype(module: Any) -> np.dtype:
    """The dtype of a torch module's parameters, as NumPy's (float32 for a module without any)."""
    parameter = next(module.parameters(), None)
    return np.dtype(str(parameter.dtype).removeprefix("torch.")) if parameter is not None else np.dtype(np.float32)


def refuse_dtypes_numpy_lacks(module: Any) -> None:
    """An error naming the first floating parameter or buffer in a dtype that is no NumPy float,
    which dp computes in: bfloat16 (NumPy has none, or ml_dtypes' of another kind)."""
    for name, value in [*module.named_parameters(), *module.named_buffers()]:
        if value.is_floating_point() and str(value.dtype) not in ("torch.float16", "torch.float32", "torch.float64"):
            raise Unsupported(
                f"from_torch: {name!r} is {value.dtype}, which is no NumPy float, as dp computes in: "
                "convert the module first (module.float() or module.double())"
            )


def tensor(array: Any, dtype: Any = None) -> Any:
    """A torch parameter's new value: a copy of a dp array (contiguous, writable)."""
    return torch.tensor(np.array(array, dtype=dtype))


def _set(parameter: Any, array: Any) -> None:
    with torch.no_grad():
        parameter.copy_(torch.as_tensor(np.ascontiguousarray(array)))


# ------------------------------------------------------------------------------------------------
# Activations: dp's functions (relu) and activation layers (ReLU()) <-> torch's modules


def _softplus(beta: float) -> Any:
    # dp's softplus is exact everywhere; torch's switches to x above `threshold`, off by
    # exp(-threshold): 40 puts that below float64's resolution of the result.
    return tnn.Softplus(beta=beta, threshold=40.0)


def _softplus_options(module: Any) -> dict[str, Any]:
    # torch's Softplus is x where beta x > threshold, off from the exact softplus (dp's) by up to
    # exp(-threshold) / beta: 2e-9 at the default 20, but 5e-2 at threshold 3.
    if module.threshold < 20:
        raise Unsupported(
            f"{module!r}: a threshold below PyTorch's default 20 changes the function by up to "
            f"exp(-threshold) / beta = {np.exp(-module.threshold) / module.beta:.1e}; dp's softplus is "
            "exact, with none: use threshold >= 20"
        )
    return {"beta": module.beta}


class _Activation(NamedTuple):
    make: Callable[..., Any]  # dp's options -> the torch module
    torch_type: type
    dp_type: type  # dp's activation layer, taking the same options
    options: Callable[[Any], dict[str, Any]]  # the torch module -> dp's options


def _none(module: Any) -> dict[str, Any]:
    return {}


#: dp's activation functions and their torch modules
ACTIVATIONS: dict[Callable[..., Any], _Activation] = {
    dnn.relu: _Activation(lambda: tnn.ReLU(), tnn.ReLU, dnn.ReLU, _none),
    dnn.sigmoid: _Activation(lambda: tnn.Sigmoid(), tnn.Sigmoid, dnn.Sigmoid, _none),
    dnn.tanh: _Activation(lambda: tnn.Tanh(), tnn.Tanh, dnn.Tanh, _none),
    dnn.silu: _Activation(lambda: tnn.SiLU(), tnn.SiLU, dnn.SiLU, _none),
    dnn.leaky_relu: _Activation(
        lambda alpha=0.01: tnn.LeakyReLU(alpha), tnn.LeakyReLU, dnn.LeakyReLU, lambda m: {"alpha": m.negative_slope}
    ),
    dnn.elu: _Activation(lambda alpha=1.0: tnn.ELU(alpha), tnn.ELU, dnn.ELU, lambda m: {"alpha": m.alpha}),
    dnn.gelu: _Activation(
        lambda approximate="none": tnn.GELU(approximate), tnn.GELU, dnn.GELU, lambda m: {"approximate": m.approximate}
    ),
    dnn.softplus: _Activation(lambda beta=1.0: _softplus(beta), tnn.Softplus, dnn.Softplus, _softplus_options),
    dnn.softmax: _Activation(lambda axis=-1: tnn.Softmax(axis), tnn.Softmax, dnn.Softmax, lambda m: {"axis": m.dim}),
    dnn.log_softmax: _Activation(
        lambda axis=-1: tnn.LogSoftmax(axis), tnn.LogSoftmax, dnn.LogSoftmax, lambda m: {"axis": m.dim}
    ),
}
_OF_MODULE = {entry.torch_type: entry for entry in ACTIVATIONS.values()}


def activation_to_torch(function: Callable[..., Any], options: dict[str, Any]) -> Any | None:
    """The torch module of a dp activation function with its options, or None if it has none."""
    entry = ACTIVATIONS.get(function)
    return None if entry is None else entry.make(**options)


def activation_from_torch(module: Any) -> dnn.Activation | None:
    """The dp activation layer of a torch activation module, or None if it is not one."""
    entry = _OF_MODULE.get(type(module))
    if entry is None:
        return None
    options = entry.options(module)
    if "axis" in options and options["axis"] is None:
        raise Unsupported(f"{module!r}: softmax without dim has no dp counterpart: give dim")
    return entry.dp_type(**options)


# ------------------------------------------------------------------------------------------------
# The torch modules that take dp's call


class _Linear(tnn.Linear):  # type: ignore[name-defined]  # torch is imported lazily: tnn is a module object
    """nn.Linear with an activation after it, a module (the paper's ReLu_Layer); state dict nn.Linear's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.activation: Any = None

    def forward(self, x: Any) -> Any:
        out = super().forward(x)
        return out if self.activation is None else self.activation(out)


class _BatchNorm(tnn.modules.batchnorm._BatchNorm):  # type: ignore[name-defined]  # torch is imported lazily: tnn is a module object
    """Batch normalisation of (N, C), (N, C, L) or (N, C, H, W), as dp's BatchNorm is one layer
    for all three; state dict nn.BatchNorm1d's (and 2d's)."""

    def _check_input_dim(self, x: Any) -> None:
        if x.dim() not in (2, 3, 4):
            raise ValueError(f"BatchNorm: expected (N, C), (N, C, L) or (N, C, H, W), got {tuple(x.shape)}")


def _state(state: Any) -> Any:
    """dp's state (N, H) (or (h, c)) as torch's (1, N, H)."""
    if state is None:
        return None
    return tuple(s.unsqueeze(0) for s in state) if isinstance(state, tuple | list) else state.unsqueeze(0)


def _recurrent(base: type) -> type:
    class Recurrent(base):
        __doc__ = f"nn.{base.__name__}(batch_first=True) called as dp's: states (N, H), not (1, N, H)."

        def forward(self, x: Any, state: Any = None) -> Any:
            outputs, final = super().forward(x, _state(state))
            return outputs, (tuple(s.squeeze(0) for s in final) if isinstance(final, tuple) else final.squeeze(0))

    Recurrent.__name__ = Recurrent.__qualname__ = f"_{base.__name__}"
    return Recurrent


_RNN, _LSTM, _GRU = _recurrent(tnn.RNN), _recurrent(tnn.LSTM), _recurrent(tnn.GRU)


class _MultiheadAttention(tnn.MultiheadAttention):  # type: ignore[name-defined]  # torch is imported lazily: tnn is a module object
    """nn.MultiheadAttention(batch_first=True) called as dp's: mha(query, key, value, mask) -> output."""

    def forward(self, query: Any, key: Any, value: Any, mask: Any = None) -> Any:
        if mask is not None and mask.dim() == 3:
            # torch wants (N * heads, L, S); dp also takes (1, L, S), one mask for the batch
            mask = mask.expand(query.shape[0], -1, -1).repeat_interleave(self.num_heads, dim=0)
        return super().forward(query, key, value, attn_mask=mask, need_weights=False)[0]


# ------------------------------------------------------------------------------------------------
# The pairs


class Pair(NamedTuple):
    dp_type: type
    torch_types: tuple[type, ...]
    to: Callable[[Any], Any]  # dp layer -> torch module (weights copied)
    back: Callable[[Any], Any]  # torch module -> dp layer of the same configuration
    views: Callable[[Any], dict[str, Any]]  # torch module -> {dp key: tensor in dp's layout}


def _linear_to(layer: dnn.Linear) -> Any:
    # the activation, a module of its own, is the bridge's to convert (it may be any function)
    module = _Linear(layer.n_in, layer.n_out, bias=layer.b is not None, dtype=torch_dtype(layer.W.dtype))
    _set(module.weight, layer.W.value.T)
    if layer.b is not None:
        _set(module.bias, layer.b.value)
    return module


def _linear_back(module: Any) -> dnn.Linear:
    return dnn.Linear(module.in_features, module.out_features, bias=module.bias is not None, dtype=numpy_dtype(module))


def _with_bias(views: dict[str, Any], module: Any, key: str = "b", name: str = "bias") -> dict[str, Any]:
    if getattr(module, name) is not None:
        views[key] = getattr(module, name)
    return views


def _conv_to(layer: dnn.Conv2d) -> Any:
    module = tnn.Conv2d(
        layer.in_channels,
        layer.out_channels,
        layer.kernel_size,
        layer.stride,
        layer.padding,
        bias=layer.b is not None,
        dtype=torch_dtype(layer.W.dtype),
    )
    _set(module.weight, layer.W.value)
    if layer.b is not None:
        _set(module.bias, layer.b.value)
    return module


def _refuse(module: Any, **expected: Any) -> None:
    """An error naming the module and each setting dp lacks (the setting's value differs from dp's)."""
    wrong = [
        f"{name}={getattr(module, name)!r} (dp has {value!r} only)"
        for name, value in expected.items()
        if getattr(module, name) != value
    ]
    if wrong:
        raise Unsupported(f"{module!r} has no dp counterpart: {', '.join(wrong)}")


def _conv_back(module: Any) -> dnn.Conv2d:
    _refuse(module, dilation=(1, 1), groups=1, padding_mode="zeros", transposed=False, output_padding=(0, 0))
    if isinstance(module.padding, str):
        raise Unsupported(f"{module!r} has no dp counterpart: padding={module.padding!r} (dp takes numbers)")
    return dnn.Conv2d(
        module.in_channels,
        module.out_channels,
        module.kernel_size,
        module.stride,
        module.padding,
        bias=module.bias is not None,
        dtype=numpy_dtype(module),
    )


def _pool_to(kind: type) -> Callable[[Any], Any]:
    def to(layer: Any) -> Any:
        extra = {"count_include_pad": True} if kind is tnn.AvgPool2d else {}
        return kind(layer.kernel_size, layer.stride, layer.padding, **extra)

    return to


def _pool_back(dp_type: type) -> Callable[[Any], Any]:
    def back(module: Any) -> Any:
        if isinstance(module, tnn.MaxPool2d):
            _refuse(module, dilation=1, ceil_mode=False, return_indices=False)
        else:
            _refuse(module, ceil_mode=False, count_include_pad=True, divisor_override=None)
        return dp_type(module.kernel_size, module.stride, module.padding)

    return back


def _flatten_back(module: Any) -> dnn.Flatten:
    _refuse(module, end_dim=-1)
    return dnn.Flatten(module.start_dim)


def _dropout_back(module: Any) -> dnn.Dropout:
    return dnn.Dropout(module.p)  # inplace= only saves torch's memory: dp computes the same (as for activations)


def _batchnorm_to(layer: dnn.BatchNorm) -> Any:
    module = _BatchNorm(layer.n_features, eps=layer.eps, momentum=layer.momentum, dtype=torch_dtype(layer.gamma.dtype))
    for name, value in (
        ("weight", layer.gamma.value),
        ("bias", layer.beta.value),
        ("running_mean", layer.running_mean),
        ("running_var", layer.running_var),
    ):
        _set(getattr(module, name), value)
    return module


def _batchnorm_back(module: Any) -> dnn.BatchNorm:
    if module.momentum is None:
        raise Unsupported(
            f"{module!r} has no dp counterpart: momentum=None (a cumulative average); dp's BatchNorm takes a number"
        )
    _refuse(module, affine=True, track_running_stats=True)
    return dnn.BatchNorm(module.num_features, momentum=module.momentum, eps=module.eps, dtype=numpy_dtype(module))


def _embedding_back(module: Any) -> dnn.Embedding:
    _refuse(module, padding_idx=None, max_norm=None, scale_grad_by_freq=False, sparse=False)
    return dnn.Embedding(module.num_embeddings, module.embedding_dim, dtype=numpy_dtype(module))


def _embedding_to(layer: dnn.Embedding) -> Any:
    module = tnn.Embedding(layer.num_embeddings, layer.embedding_dim, dtype=torch_dtype(layer.W.dtype))
    _set(module.weight, layer.W.value)
    return module


def _layernorm_to(layer: dnn.LayerNorm) -> Any:
    module = tnn.LayerNorm(layer.normalized_shape, eps=layer.eps, dtype=torch_dtype(layer.gamma.dtype))
    _set(module.weight, layer.gamma.value)
    _set(module.bias, layer.beta.value)
    return module


def _layernorm_back(module: Any) -> dnn.LayerNorm:
    if not module.elementwise_affine or module.bias is None:
        raise Unsupported(f"{module!r} has no dp counterpart: dp's LayerNorm always has a weight and a bias")
    return dnn.LayerNorm(tuple(module.normalized_shape), eps=module.eps, dtype=numpy_dtype(module))


# -- recurrent layers: weight_ih = Wx.T, weight_hh = Wh.T; one bias b = bias_ih + bias_hh (not the GRU's)

_RECURRENT = {
    dnn.RNN: (_RNN, tnn.RNN),
    dnn.LSTM: (_LSTM, tnn.LSTM),
    dnn.GRU: (_GRU, tnn.GRU),
    dnn.RNNCell: (tnn.RNNCell, tnn.RNNCell),
    dnn.LSTMCell: (tnn.LSTMCell, tnn.LSTMCell),
    dnn.GRUCell: (tnn.GRUCell, tnn.GRUCell),
}


def _suffix(module: Any) -> str:
    return "" if isinstance(module, tnn.RNNCellBase) else "_l0"


def _recurrent_to(layer: Any) -> Any:
    kind = _RECURRENT[type(layer)][0]
    cell = layer.cell if isinstance(layer, _Sequence) else layer
    options = {"batch_first": True} if isinstance(layer, _Sequence) else {}
    if hasattr(cell, "nonlinearity"):
        options["nonlinearity"] = cell.nonlinearity
    module = kind(layer.input_size, layer.hidden_size, dtype=torch_dtype(cell.Wx.dtype), **options)
    s = _suffix(module)
    _set(getattr(module, f"weight_ih{s}"), cell.Wx.value.T)
    _set(getattr(module, f"weight_hh{s}"), cell.Wh.value.T)
    if isinstance(cell, dnn.GRUCell):
        _set(getattr(module, f"bias_ih{s}"), cell.bx.value)
        _set(getattr(module, f"bias_hh{s}"), cell.bh.value)
    else:  # PyTorch only ever uses the sum of its two biases
        _set(getattr(module, f"bias_ih{s}"), cell.b.value)
        _set(getattr(module, f"bias_hh{s}"), np.zeros_like(cell.b.value))
    return module


def _recurrent_back(dp_type: type) -> Callable[[Any], Any]:
    def back(module: Any) -> Any:
        if not module.bias:
            raise Unsupported(f"{module!r} has no dp counterpart: bias=False (dp's recurrent layers have biases)")
        options = {}
        if not isinstance(module, tnn.RNNCellBase):
            if not module.batch_first:
                raise Unsupported(
                    f"{module!r} has no dp counterpart: batch_first=False (dp's sequences are "
                    "(N, T, features): make it with batch_first=True)"
                )
            _refuse(module, num_layers=1, bidirectional=False, proj_size=0)
        if hasattr(module, "nonlinearity"):
            options["nonlinearity"] = module.nonlinearity
        return dp_type(module.input_size, module.hidden_size, dtype=numpy_dtype(module), **options)

    return back


def _recurrent_views(module: Any) -> dict[str, Any]:
    s = _suffix(module)
    views = {"Wx": getattr(module, f"weight_ih{s}").T, "Wh": getattr(module, f"weight_hh{s}").T}
    bias_ih, bias_hh = getattr(module, f"bias_ih{s}"), getattr(module, f"bias_hh{s}")
    if isinstance(module, tnn.GRU | tnn.GRUCell):
        views.update(bx=bias_ih, bh=bias_hh)
    else:
        views["b"] = bias_ih + bias_hh
    return views


# -- attention: in_proj_weight = [Wq.T; Wk.T; Wv.T], out_proj.weight = Wo.T


def _mha_to(layer: dnn.MultiheadAttention) -> Any:
    module = _MultiheadAttention(layer.embed_dim, layer.num_heads, batch_first=True, dtype=torch_dtype(layer.Wq.dtype))
    _set(module.in_proj_weight, np.concatenate([layer.Wq.value.T, layer.Wk.value.T, layer.Wv.value.T]))
    _set(module.in_proj_bias, np.concatenate([layer.bq.value, layer.bk.value, layer.bv.value]))
    _set(module.out_proj.weight, layer.Wo.value.T)
    _set(module.out_proj.bias, layer.bo.value)
    return module


def _mha_back(module: Any) -> dnn.MultiheadAttention:
    if not module.batch_first:
        raise Unsupported(f"{module!r} has no dp counterpart: batch_first=False (dp's sequences are (N, L, E))")
    if (
        not module._qkv_same_embed_dim
        or module.in_proj_bias is None
        or module.bias_k is not None
        or module.add_zero_attn
        or module.dropout
    ):
        raise Unsupported(
            f"{module!r} has no dp counterpart: dp's MultiheadAttention has kdim = vdim = embed_dim, "
            "biases, no bias_kv, no add_zero_attn and no dropout"
        )
    return dnn.MultiheadAttention(module.embed_dim, module.num_heads, dtype=numpy_dtype(module))


def _mha_views(module: Any) -> dict[str, Any]:
    E = module.embed_dim
    weights, biases = module.in_proj_weight, module.in_proj_bias
    views = {f"W{part}": weights[i * E : (i + 1) * E].T for i, part in enumerate("qkv")}
    views["Wo"] = module.out_proj.weight.T
    views.update({f"b{part}": biases[i * E : (i + 1) * E] for i, part in enumerate("qkv")})
    views["bo"] = module.out_proj.bias
    return views


def _no_views(module: Any) -> dict[str, Any]:
    return {}


PAIRS: list[Pair] = [
    Pair(dnn.Linear, (tnn.Linear,), _linear_to, _linear_back, lambda m: _with_bias({"W": m.weight.T}, m)),
    Pair(dnn.Conv2d, (tnn.Conv2d,), _conv_to, _conv_back, lambda m: _with_bias({"W": m.weight}, m)),
    Pair(dnn.MaxPool2d, (tnn.MaxPool2d,), _pool_to(tnn.MaxPool2d), _pool_back(dnn.MaxPool2d), _no_views),
    Pair(dnn.AvgPool2d, (tnn.AvgPool2d,), _pool_to(tnn.AvgPool2d), _pool_back(dnn.AvgPool2d), _no_views),
    Pair(dnn.Flatten, (tnn.Flatten,), lambda layer: tnn.Flatten(layer.start_dim), _flatten_back, _no_views),
    Pair(dnn.Dropout, (tnn.Dropout,), lambda layer: tnn.Dropout(layer.p), _dropout_back, _no_views),
    Pair(
        dnn.BatchNorm,
        (tnn.modules.batchnorm._BatchNorm,),
        _batchnorm_to,
        _batchnorm_back,
        lambda m: {"gamma": m.weight, "beta": m.bias, "running_mean": m.running_mean, "running_var": m.running_var},
    ),
    Pair(dnn.Embedding, (tnn.Embedding,), _embedding_to, _embedding_back, lambda m: {"W": m.weight}),
    Pair(
        dnn.LayerNorm, (tnn.LayerNorm,), _layernorm_to, _layernorm_back, lambda m: {"gamma": m.weight, "beta": m.bias}
    ),
    *(
        Pair(dp_type, (torch_type,), _recurrent_to, _recurrent_back(dp_type), _recurrent_views)
        for dp_type, (_, torch_type) in _RECURRENT.items()
    ),
    Pair(dnn.MultiheadAttention, (tnn.MultiheadAttention,), _mha_to, _mha_back, _mha_views),
]


def pair_of_layer(layer: Any) -> Pair | None:
    """The pair of a dp layer of exactly a supported class (a subclass may compute anything)."""
    return next((pair for pair in PAIRS if type(layer) is pair.dp_type), None)


def pair_of_module(module: Any) -> Pair | None:
    """The pair of a torch module of exactly PyTorch's class, or of one of the subclasses above
    (a subclass of the user's may compute anything)."""
    kind = type(module)
    if kind.__module__ == __name__:
        kind = kind.__bases__[0]
    if kind in (tnn.BatchNorm1d, tnn.BatchNorm2d):
        kind = tnn.modules.batchnorm._BatchNorm
    return next((pair for pair in PAIRS if kind in pair.torch_types), None)


__all__ = [
    "ACTIVATIONS",
    "PAIRS",
    "Pair",
    "Unsupported",
    "activation_from_torch",
    "activation_to_torch",
    "pair_of_layer",
    "pair_of_module",
    "refuse_dtypes_numpy_lacks",
]
