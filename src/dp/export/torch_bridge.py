"""`to_torch` and `from_torch`: a dp model as a `torch.nn.Module` and back, weights and all.

A layer of a supported class becomes PyTorch's module of that layer (`torch_layers.PAIRS`); a
`Sequential` becomes `torch.nn.Sequential`. Everything whose forward is Python of its own, a
`Model` subclass, a custom `Layer`, a plain function in a `Sequential`, becomes a `Replayed`
module: its layers are its submodules (the same names, so `h1.W` becomes `h1.weight`), its own
parameters are its parameters, and its forward replays what the dp forward computes. At the
first call on inputs of a new shape (or in the other mode), the dp forward is run once on them
and recorded, as `dp.trace` records (its operations are `dp.trace`'s `_Application`s); each
call of one of its layers is recorded as that call, so the layer runs as the torch module
(Dropout draws torch's masks, BatchNorm updates torch's statistics), and every other operation
is replayed in torch (`torch_ops`). What the recording freezes is what `dp.trace` freezes:
control flow on the data, and numbers computed from it in plain NumPy; what `dp.trace` refuses
(a comparison's mask used as numbers, a `where` condition made in NumPy, `Node(int_array)`) is
refused here with its error.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import operator
import os
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from dp.export._common import Unsupported, leaves, refuse_what_a_trace_refuses, requires, reshaped_argument
from dp.export.torch_layers import (
    activation_from_torch,
    activation_to_torch,
    pair_of_layer,
    pair_of_module,
    refuse_dtypes_numpy_lacks,
    tensor,
)
from dp.export.torch_ops import TORCH_OPERATIONS
from dp.nn import Activation, Layer, Linear, Sequential
from dp.node import Node
from dp.trace import _Application, _Comparison, _recording

torch = requires("torch", "dp.export.to_torch")
tnn = torch.nn

__all__ = ["Replayed", "Unsupported", "from_torch", "load_torch_state_dict", "to_torch"]

#: id of a dp parameter Node -> its tensor, in dp's layout, in the converted module
Sources = dict[int, Callable[[], Any]]


# ------------------------------------------------------------------------------------------------
# dp -> torch


def to_torch(model: Layer, *example_inputs: Any) -> Any:
    """`model` (any dp layer, `Model` or `Sequential`) as a `torch.nn.Module` with copies of its
    weights, in each layer's mode (train or eval).

    The module computes what the dp model's forward computes, gradients included. Given
    `example_inputs` (arrays or tensors), it is run once on them, so that a forward pass that
    cannot be replayed in torch is refused now rather than at the first call. That run is no
    step of training: the module's buffers (BatchNorm's statistics) and torch's random state are
    as they were before it.
    """
    if not isinstance(model, Layer):
        raise TypeError(f"to_torch: expected a dp layer, Model or Sequential, got {type(model).__name__}")
    module = _convert(model, {})
    if example_inputs:
        buffers = [(buffer, buffer.clone()) for buffer in module.buffers()]
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            module(*(_as_tensor(x) for x in example_inputs))
            for buffer, before in buffers:
                buffer.copy_(before)
    return module


def _as_tensor(x: Any) -> Any:
    return x if torch.is_tensor(x) or x is None else torch.as_tensor(np.asarray(x))


def _convert(item: Any, memo: dict[int, Any]) -> Any:
    """The torch module of a dp layer or function (a layer used twice: one module, shared)."""
    if id(item) in memo:
        return memo[id(item)][1]
    if not isinstance(item, Layer):
        module = activation_to_torch(item, {}) or Replayed(item)
    elif (pair := pair_of_layer(item)) is not None:
        module = pair.to(item)
        if isinstance(item, Linear) and item.activation is not None:
            module.activation = _convert(item.activation, memo)
    elif isinstance(item, Activation) and type(item).forward is Activation.forward:
        module = activation_to_torch(item.function, item.options) or Replayed(item)
    elif type(item) is Sequential:
        module = tnn.Sequential(*(_convert(layer, memo) for layer in item.layers))
        module.dp_loss = item.loss_function  # what from_torch gives the Sequential back (not part of the state)
    else:
        module = _replayed_layer(item, memo)
    memo[id(item)] = (item, module)  # the item too: its id stays its own while the conversion runs
    if isinstance(item, Layer):
        module.training = item.training
    return module


def _replayed_layer(layer: Layer, memo: dict[int, Any]) -> Replayed:
    if layer._buffer_keys:
        raise Unsupported(
            f"to_torch: {type(layer).__name__} has buffers ({', '.join(layer._buffer_keys)}), which "
            "its own Python forward updates; a replay in torch cannot: it has no torch counterpart"
        )
    module = Replayed(layer)
    for key, item in layer._items():
        if isinstance(item, Node):
            module._own_parameter(key or item.name, item)  # type: ignore[arg-type]  # a Node's key or its own name: one is set
        else:
            module._child(key, _convert(item, memo))  # type: ignore[arg-type]  # a layer inside a layer always has a key
    return module


def _pairs(layer: Any, module: Any) -> Iterator[tuple[Any, Any]]:
    """Each dp layer of the tree under `layer` with its torch module, found by the structure
    (not by identity: a deep copy of the module still finds its own copy of the dp model)."""
    yield layer, module
    if isinstance(module, Replayed) and isinstance(layer, Layer):
        for key, item in layer._items():
            if isinstance(item, Layer):
                yield from _pairs(item, module._submodule_of[key])  # type: ignore[index]  # a layer inside a layer always has a key
    elif isinstance(module, tnn.Sequential) and isinstance(layer, Sequential):
        for item, part in zip(layer.layers, module):
            yield from _pairs(item, part)


def _dp_view(module: Any, key: str) -> Any:
    """A supported layer's parameter `key` as its torch module holds it, in dp's layout."""
    return pair_of_module(module).views(module)[key]  # type: ignore[union-attr]  # called for supported layers only


def _sources(layer: Any, module: Any) -> Sources:
    """Where each dp parameter of the tree lies in the torch modules."""
    sources: Sources = {}
    for inner, part in _pairs(layer, module):
        if isinstance(part, Replayed) and isinstance(inner, Layer):
            for key, item in inner._items():
                if isinstance(item, Node):
                    sources[id(item)] = functools.partial(getattr, part, part._parameter_names[key or item.name])  # type: ignore[index]  # a Node's key or its own name: one is set
        elif isinstance(inner, Layer) and pair_of_module(part) is not None:
            for key in inner._param_keys:
                sources[id(getattr(inner, key))] = functools.partial(_dp_view, part, key)
    return sources


# ------------------------------------------------------------------------------------------------
# The replayed forward pass


class _Call(NamedTuple):
    """A call of one of the layer's layers, made before the recorded operation number `position`."""

    position: int
    module: Any
    inputs: tuple[Any, ...]
    options: dict[str, Any]
    output: Any


class _Program(NamedTuple):
    """A forward pass as recorded: the operations between the layers' calls, and the calls."""

    applications: list[_Application]
    calls: list[_Call]
    masks: dict[int, _Comparison]
    arguments: tuple[Any, ...]  # what the dp forward got (kept: their ids identify them)
    output: Any
    sources: Sources  # the dp parameters' tensors in the modules


_COMPARE = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class Replayed(tnn.Module):  # type: ignore[name-defined]  # torch is imported lazily: tnn is a module object
    """A dp layer (or function) whose forward is Python of its own, as a torch module: its layers
    are submodules, its own parameters are parameters, and its forward replays the dp forward,
    recorded once per shape of the inputs and mode. `dp_layer` is the dp layer it came from."""

    def __init__(self, dp_layer: Any) -> None:
        super().__init__()
        self.dp_layer = dp_layer
        self._parameter_names: dict[str, str] = {}  # dp key -> torch name
        self._submodule_of: dict[str, Any] = {}  # dp key -> module
        self._programs: dict[Any, _Program] = {}

    def _own_parameter(self, key: str, node: Node) -> None:
        name = key.replace(".", "_")
        self.register_parameter(name, tnn.Parameter(tensor(node.value)))
        self._parameter_names[key] = name

    def _child(self, key: str, module: Any) -> None:
        """Register `module` under dp's key: `h1`; `blocks.2` and `heads.cls` in a ModuleDict."""
        top, _, rest = key.partition(".")
        if rest:
            if top not in self._modules:
                self.add_module(top, tnn.ModuleDict())
            self._modules[top][rest] = module
        else:
            self.add_module(top, module)
        self._submodule_of[key] = module

    def extra_repr(self) -> str:
        return f"dp: {getattr(self.dp_layer, '__name__', type(self.dp_layer).__name__)}"

    def forward(self, *inputs: Any, **options: Any) -> Any:
        key = (self.training, _shapes(inputs), _shapes(options))
        program = self._programs.get(key)
        if program is None:
            program = self._programs[key] = self._record(inputs, options)
        return self._replay(program, inputs, options)

    def _record(self, inputs: tuple[Any, ...], options: dict[str, Any]) -> _Program:
        arguments = _to_numpy(inputs)
        keywords = _to_numpy(options)
        layer = self.dp_layer
        children = (
            {id(item): self._submodule_of[key] for key, item in layer._items() if isinstance(item, Layer)}  # type: ignore[index]  # a layer inside a layer always has a key
            if isinstance(layer, Layer)
            else {}
        )
        with self._as_the_modules(), _recording() as record, _intercepting(children, record) as calls:
            forward = layer.forward if isinstance(layer, Layer) else layer
            output = forward(*arguments, **keywords)
        refuse_what_a_trace_refuses(
            f"to_torch: the forward of {_describe(layer)}", record, list(leaves(output)), forward, arguments, keywords
        )
        for application in record.applications:
            if application.primitive.name not in TORCH_OPERATIONS:
                raise Unsupported(
                    f"to_torch: the forward of {_describe(layer)} applies dp's operation "
                    f"{application.primitive.name!r}, which has no torch counterpart in dp.export"
                )
        return _Program(record.applications, calls, record.masks, (arguments, keywords), output, _sources(layer, self))

    @contextlib.contextmanager
    def _as_the_modules(self) -> Iterator[None]:
        """The dp layers in the modules' modes while the forward is recorded, their buffers as they
        were after it (the recording is not a step of training)."""
        pairs = [(layer, module) for layer, module in _pairs(self.dp_layer, self) if isinstance(layer, Layer)]
        modes = [layer.training for layer, _ in pairs]
        buffers = [(layer, key, getattr(layer, key).copy()) for layer, _ in pairs for key in layer._buffer_keys]
        try:
            for layer, module in pairs:
                layer.training = module.training
            yield
        finally:
            for (layer, _), mode in zip(pairs, modes):
                layer.training = mode
            for layer, key, value in buffers:
                getattr(layer, key)[...] = value

    def _replay(self, program: _Program, inputs: tuple[Any, ...], options: dict[str, Any]) -> Any:
        values: dict[int, Any] = {}
        arguments = [array for array in leaves(program.arguments) if isinstance(array, np.ndarray)]
        given = {}
        for array, value in zip(leaves(program.arguments), leaves((inputs, options))):
            if isinstance(array, np.ndarray):
                given[id(array)] = _as_tensor(value)

        def torch_value(x: Any) -> Any:
            if isinstance(x, Node):
                if id(x) in values:
                    return values[id(x)]
                if id(x) in program.sources:
                    return program.sources[id(x)]()
                if id(x.value) in given:
                    return given[id(x.value)]
                if x.requires_grad:
                    raise Unsupported(
                        f"to_torch: the forward of {_describe(self.dp_layer)} uses the parameter "
                        f"{x.name!r}, which is not one of the converted model's"
                    )
                x = x.value
                if not isinstance(x, np.ndarray | np.generic):
                    return x
            if isinstance(x, np.ndarray | np.generic):
                if id(x) in given:
                    return given[id(x)]
                comparison = program.masks.get(id(x))
                if comparison is not None:
                    return _COMPARE[comparison.symbol](torch_value(comparison.left), torch_value(comparison.right))
                source = reshaped_argument(x, arguments, "to_torch")
                if source is not None:
                    return given[id(source)].reshape(x.shape)
                return torch.as_tensor(np.array(x))
            if isinstance(x, tuple | list):
                return type(x)(torch_value(item) for item in x)
            if isinstance(x, dict):
                return {key: torch_value(item) for key, item in x.items()}
            return x

        def bind(dp_value: Any, value: Any) -> None:
            if isinstance(dp_value, Node):
                values[id(dp_value)] = value
            elif isinstance(dp_value, tuple | list):
                for item, part in zip(dp_value, value):
                    bind(item, part)

        calls = iter(program.calls)
        call = next(calls, None)
        for position, application in enumerate([*program.applications, None]):
            while call is not None and call.position == position:
                bind(call.output, call.module(*torch_value(call.inputs), **torch_value(call.options)))
                call = next(calls, None)
            if application is not None:
                operands = [torch_value(x) for x in application.operands]
                values[id(application.result)] = TORCH_OPERATIONS[application.primitive.name](
                    operands, application.params, torch_value
                )
        return torch_value(program.output)


@contextlib.contextmanager
def _intercepting(children: dict[int, Any], record: Any) -> Iterator[list[_Call]]:
    """Record each call of one of `children` (ids of dp layers) as a call, not as its operations."""
    calls: list[_Call] = []
    original = Layer.__call__
    depth = 0

    def call(layer: Layer, *inputs: Any, **options: Any) -> Any:
        nonlocal depth
        if depth or id(layer) not in children:
            return original(layer, *inputs, **options)
        depth += 1
        start = len(record.applications)
        try:
            output = original(layer, *inputs, **options)
        finally:
            depth -= 1
        del record.applications[start:]  # the layer's own operations: its torch module computes them
        calls.append(_Call(start, children[id(layer)], inputs, options, output))
        return output

    Layer.__call__ = call  # type: ignore[assignment, method-assign]  # patched while tracing, restored below
    try:
        yield calls
    finally:
        Layer.__call__ = original  # type: ignore[method-assign]  # restored


def _describe(layer: Any) -> str:
    return getattr(layer, "__name__", None) or type(layer).__name__


def _shapes(x: Any) -> Any:
    """What a recording is specialised to: each tensor's shape and dtype, every other value itself."""
    if torch.is_tensor(x):
        return ("tensor", tuple(x.shape), x.dtype)
    if isinstance(x, np.ndarray):
        return ("array", x.shape, x.dtype)
    if isinstance(x, tuple | list):
        return tuple(map(_shapes, x))
    if isinstance(x, dict):
        return tuple((key, _shapes(value)) for key, value in sorted(x.items()))
    return x


def _to_numpy(x: Any) -> Any:
    if torch.is_tensor(x):
        return x.detach().cpu().numpy().copy()
    if isinstance(x, tuple | list):
        return type(x)(map(_to_numpy, x))
    if isinstance(x, dict):
        return {key: _to_numpy(value) for key, value in x.items()}
    return x


# ------------------------------------------------------------------------------------------------
# torch -> dp


def from_torch(module: Any) -> Any:
    """A torch module as a new dp layer (a `Sequential` for `torch.nn.Sequential`) with copies of
    its weights, in its mode; a module `to_torch` made gives back a copy of the dp model it came
    from, with the module's weights.

    A module with no dp counterpart (another class, or a setting dp lacks) is refused with an
    error naming it; nothing is returned then, never part of a model.
    """
    if not isinstance(module, tnn.Module):
        raise TypeError(f"from_torch: expected a torch.nn.Module, got {type(module).__name__}")
    refuse_dtypes_numpy_lacks(module)
    if isinstance(module, Replayed):
        if not isinstance(module.dp_layer, Layer):
            return module.dp_layer  # a function: it has no weights
        layer = copy.deepcopy(module.dp_layer)
        for inner in layer._walk()[0]:
            inner.__dict__.pop("_compiled", None)  # traced losses read the original's parameters
    elif type(module) is tnn.Sequential:
        return Sequential([from_torch(item) for item in module], loss=getattr(module, "dp_loss", None))
    elif (pair := pair_of_module(module)) is not None:
        layer = pair.back(module)
        if getattr(module, "activation", None) is not None:  # a Linear with its activation
            layer.activation = _as_function(from_torch(module.activation))
    elif (layer := activation_from_torch(module)) is None:
        raise Unsupported(
            f"from_torch: {type(module).__name__} has no dp counterpart ({module!r}); dp.export "
            f"converts {_supported()}, and the modules to_torch makes"
        )
    _copy_weights(module, layer)
    return layer


def _as_function(activation: Any) -> Any:
    """An activation layer without options as its function (`relu`, as the paper's ReLu_Layer has it)."""
    plain = isinstance(activation, Activation) and type(activation).forward is Activation.forward
    return activation.function if plain and not activation.options else activation


def _supported() -> str:
    from dp.export.torch_layers import ACTIVATIONS, PAIRS

    names = sorted(
        {kind.__name__ for pair in PAIRS for kind in pair.torch_types}
        | {entry.torch_type.__name__ for entry in ACTIVATIONS.values()}
        | {"Sequential"}
    )
    return ", ".join(name.replace("_BatchNorm", "BatchNorm1d/2d") for name in names)


def _copy_weights(module: Any, layer: Any) -> None:
    """Copy the torch module's weights and buffers, and its mode, into the dp layer of the same
    structure, in place (the dp layer `to_torch` or `from_torch` made it from or of)."""
    if not isinstance(layer, Layer):
        return  # a function: nothing to copy
    if isinstance(module, Replayed):
        for key, item in layer._items():
            if isinstance(item, Node):
                _write(item, getattr(module, module._parameter_names[key or item.name]))  # type: ignore[index]  # a Node's key or its own name: one is set
            else:
                _copy_weights(module._submodule_of[key], item)  # type: ignore[index]  # a layer inside a layer always has a key
    elif isinstance(module, tnn.Sequential):
        for item, part in zip(layer.layers, module):  # type: ignore[attr-defined]  # the module is a Sequential: so is the layer
            _copy_weights(part, item)
    elif (pair := pair_of_module(module)) is not None:
        for key, value in pair.views(module).items():
            _write(getattr(layer, key), value)
    layer.training = module.training


def _write(target: Any, value: Any) -> None:
    array = value.detach().cpu().numpy()
    destination = target.value if isinstance(target, Node) else target
    if destination.shape != array.shape:
        raise ValueError(
            f"from_torch: {getattr(target, 'name', 'a buffer')!r} has shape {destination.shape} in dp, "
            f"{array.shape} in torch"
        )
    np.copyto(destination, array, casting="same_kind")  # type: ignore[arg-type]  # parameters and buffers are arrays, never 0-d scalars


# ------------------------------------------------------------------------------------------------
# PyTorch's state dicts


def load_torch_state_dict(model: Layer, state: Any) -> Layer:
    """Load a PyTorch state dict (a dict of tensors, or a file `torch.save` wrote) into `model`,
    in place, and return it. The names and shapes are those of `to_torch(model).state_dict()`
    (`h1.weight` for `h1.W`, transposed); a missing, unknown or misshapen entry is an error and
    nothing changes. Files are read with `weights_only=True`: nothing in them is executed."""
    if isinstance(state, str | os.PathLike):
        state = torch.load(state, map_location="cpu", weights_only=True)
    module = to_torch(model)
    try:
        module.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"load_torch_state_dict: the state dict does not fit {type(model).__name__} "
            f"(its names are to_torch(model).state_dict()'s): {error}"
        ) from None
    _copy_weights(module, model)
    return model
