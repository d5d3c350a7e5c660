"""Model, the paper's base class for networks, and Sequential, a model that is a list of layers.

As in the paper, a network is a subclass of `Model` that creates its layers as attributes and
defines `forward(x)` and `loss(x, y)`:

    class Network(Model):
        def __init__(self):
            super().__init__()
            self.h1 = self.ReLu_Layer(784, 500, "h1")
            self.h2 = self.ReLu_Layer(500, 200, "h2")
            self.h3 = self.Linear_Layer(200, 10, "h3")
        def forward(self, x):
            return self.h3(self.h2(self.h1(x))).softmax()
        def loss(self, x, y):
            return (-1 * (y * self.forward(x).log())).sum()

A model without labels (a VAE, an autoencoder) defines `loss(self, x)` instead; then
`get_grad(x)` and `Opt(model, x_train)` need no y.

The model finds its layers (and their parameters) from its attributes, lists, tuples and dicts
of layers included, in the order they were defined; parameter names (`h1.W`, `h1.b`, ...) are
unique within a model. `get_grad`, `get_param` and `set_param` are what optimizers, and
hand-written training loops, are built on. `save` / `load` keep the parameters (and buffers such
as BatchNorm's running statistics) in a `.npz` file that loading can never execute code from.

`get_grad(x, y, compile=True)` (and `Opt(model, ..., compile=True)`, which calls it) runs the loss
through `dp.trace`: the forward and backward pass are recorded once per shape of the batch and
replayed as generated NumPy code, the same numbers without the graph's bookkeeping. What a trace
freezes, and which layers it therefore refuses, is in `get_grad`'s docstring.
"""

from __future__ import annotations

import functools
import inspect
import os
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Concatenate, Literal, NamedTuple, ParamSpec, Self, cast

import numpy as np
from numpy.typing import DTypeLike

from dp.data import GeneratorAttribute
from dp.allocator import keep_freed_memory
from dp.nn.init import Initializer, RngLike
from dp.nn.layers import Dropout, Layer, Linear, relu
from dp.node import Node
from dp.trace import Traced, trace
from dp.types import Operand

__all__ = ["Model", "Sequential"]


class _NoLabels:
    """What `get_grad` gets when y is left out: a model without labels (None can be a label)."""

    def __repr__(self) -> str:
        return "<no labels>"


_NO_LABELS: Any = _NoLabels()

#: What `compile=` takes: off, traced, or traced and checked against the dynamic engine.
CompileMode = bool | Literal["check"]


class _CompiledLoss(NamedTuple):
    """A model's traced loss, and what it was traced with: it is traced again when they change."""

    traced: Traced
    parameters: tuple[int, ...]  # the ids of the parameter Nodes it reads
    buffers: dict[str, np.ndarray]  # copies of the buffers (read as constants when traced)
    configuration: tuple[Any, ...]  # the layers' settings (Dropout's p, an activation, ...)


class Model(Layer):
    """Base class of networks: subclass it, create layers as attributes, define `forward(x)` and
    `loss(x, y)` (a Node holding one number), or `loss(x)` for a model without labels.

    `rng` (a seed or a `numpy.random.Generator`) and `dtype` are what the layer factories
    `ReLu_Layer` / `Linear_Layer` initialise weights with; use `dtype=np.float32` for speed.
    """

    rng = GeneratorAttribute()  # where the layers made by ReLu_Layer and Linear_Layer draw their weights

    def __init__(self, *, rng: RngLike = None, dtype: DTypeLike = np.float64) -> None:
        super().__init__()
        self.rng = rng
        self.dtype = np.dtype(dtype)

    def __setattr__(self, key: str, value: Any) -> None:
        if isinstance(value, Layer) and "_param_keys" not in self.__dict__:
            raise TypeError(
                f"{type(self).__name__}: call super().__init__() at the start of __init__, before creating layers"
            )
        object.__setattr__(self, key, value)
        if not key.startswith("_") and isinstance(value, Layer | list | tuple | dict):
            self._walk()  # name the new layers after the attribute now, before any forward pass

    def _items(self) -> Iterator[tuple[str | None, Node | Layer]]:
        yield from super()._items()
        for key, value in vars(self).items():
            if key.startswith("_"):
                continue
            if isinstance(value, Layer):
                yield key, value
            elif isinstance(value, list | tuple) and value and callable(value[0]):
                # Layers (and functions) in a list; a list of data (a loss history...) is skipped
                # at its first item rather than scanned at every step.
                for index, item in enumerate(value):
                    if isinstance(item, Layer):
                        yield f"{key}.{index}", item
            elif isinstance(value, dict) and any(isinstance(item, Layer) for item in value.values()):
                # Layers in a dict, as in PyTorch's ModuleDict: `self.heads = {"cls": Linear(...)}`
                # owns `heads.cls.W`.
                for name, item in value.items():
                    if isinstance(item, Layer):
                        yield f"{key}.{name}", item
            elif isinstance(value, Node) and value.name is not None and value.op == "leaf" and value.requires_grad:
                # A named leaf kept as an attribute (`self.w = Node(w0, "w")`) is a parameter under
                # its own name: low-level models need no layer classes.
                yield None, value

    # -- the paper's layer factories ------------------------------------------------------------

    def __getattr__(self, key: str) -> Any:
        # Only reached when an attribute is missing; these two are set by Model.__init__.
        if key in ("rng", "dtype"):
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() at the start of __init__, before creating layers"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {key!r}")

    def ReLu_Layer(self, n_in: int, n_out: int, name: str | None = None, *, init: Initializer | None = None) -> Linear:
        """The paper's ReLU layer: relu(x @ W + b), W of shape (n_in, n_out) He-initialised."""
        return Linear(n_in, n_out, name, activation=relu, init=init, rng=self.rng, dtype=self.dtype)

    def Linear_Layer(
        self, n_in: int, n_out: int, name: str | None = None, *, init: Initializer | None = None
    ) -> Linear:
        """The paper's linear layer: x @ W + b, W of shape (n_in, n_out) Xavier-initialised."""
        return Linear(n_in, n_out, name, init=init, rng=self.rng, dtype=self.dtype)

    # -- what subclasses define -----------------------------------------------------------------

    def loss(self, x: Any, y: Any = None) -> Node:
        raise NotImplementedError(
            f"{type(self).__name__} must define loss(self, x, y), returning a Node "
            "that holds one number, e.g. dp.nn.cross_entropy(self.forward(x), y), "
            "or loss(self, x) for a model without labels"
        )

    # -- gradients and parameters ---------------------------------------------------------------

    def get_grad(
        self, x: Any, y: Any = _NO_LABELS, *, compile: CompileMode = False
    ) -> tuple[dict[str, np.ndarray], float]:
        """(dict name -> gradient of loss(x, y), the loss as a float), one entry per parameter
        (zeros for a parameter the loss does not depend on).

        Leave y out for a model whose loss takes only x (`loss(self, x)`): `get_grad(x)`.

        `compile=True` computes the same numbers through `dp.trace`: the first call on a batch of
        a new shape (or dtype) records `loss` and compiles its forward and backward pass to NumPy
        code, and later calls replay that code, reading the parameters' arrays as they are then
        (so optimizers' in-place updates are seen). The programs are kept in the model, one per
        shape, training mode and set of parameter Nodes; a last minibatch of another size traces
        once more. `compile="check"` also runs the loss dynamically at every call and raises an
        error where the two differ (slow: use it to try a model out).

        A trace freezes what the loss computes in Python on the trace's data, so the replay is
        wrong wherever that changes from call to call. Refused, with an error that says why (in the
        current mode): Dropout in training mode (its random mask would be the trace's at every
        step), and a layer with buffers in training mode (BatchNorm: its running statistics are
        updated by Python side effects of forward, which a replay skips). In evaluation mode
        BatchNorm's statistics are read as constants, and the loss is traced again when they
        change (`load`). An integer x that `Node` would turn into floats is refused by the trace
        (pass floats). Not detectable, so documented: a loss that draws random numbers itself (a
        VAE's noise) or converts the data with plain NumPy before dp sees it freezes the trace's
        values; `compile="check"` catches both.

        A loss that depends on none of the parameters (one computed from copies of their values,
        `Node(self.h1.W.value)`) gives zero gradients and a warning that says so.
        """
        keep_freed_memory()  # dp trains here: a step reuses the memory the last one freed (dp/allocator.py)
        labelled = y is not _NO_LABELS
        mode = _compile_mode(compile, f"{type(self).__name__}.get_grad")
        self._check_loss_arguments(labelled)
        params = self.parameters()
        batch = (x, y) if labelled else (x,)
        if mode:
            batch = tuple(map(_as_argument, batch))
            value, grads = self._compiled_loss(batch, params, mode)(*batch)
        else:
            loss = self._checked_loss(self.loss(*batch), labelled)
            if loss.requires_grad:
                value, grads = loss.value, cast("dict[str, np.ndarray]", loss.grad(1))  # arrays: no create_graph
            else:  # said here rather than by grad, so that the warning names the caller's line
                warnings.warn(
                    f"{type(self).__name__}.get_grad: the loss depends on none of the model's "
                    f"parameters {list(params)}, so every gradient is zero; compute it from the "
                    "layers (self.h1(x)) or from named Nodes kept as attributes, not from copies of "
                    "their values (.value, np.asarray)",
                    UserWarning,
                    stacklevel=2,
                )
                value, grads = loss.value, {}
        return (
            {name: grads[name] if name in grads else np.zeros_like(node.value) for name, node in params.items()},
            np.asarray(value).item(),
        )

    def _checked_loss(self, loss: Any, labelled: bool) -> Node:
        if not isinstance(loss, Node) or loss.size != 1:
            got = f"shape {loss.shape}" if isinstance(loss, Node) else type(loss).__name__
            call = "loss(x, y)" if labelled else "loss(x)"
            raise TypeError(f"{type(self).__name__}.{call} must return a Node holding one number, got {got}")
        return loss

    def _compiled_loss(self, batch: tuple[Any, ...], params: dict[str, Node], mode: CompileMode) -> Traced:
        """The traced loss for the model as it is now, traced on `batch` if it must be: at the first
        call, and when the layers' modes, the parameter Nodes or the buffers' values differ from
        the trace's (the Traced itself traces again for a batch of another shape or dtype)."""
        layers = self._walk()[0]
        cache: dict[tuple[Any, ...], _CompiledLoss] = self.__dict__.setdefault("_compiled", {})
        labelled = len(batch) == 2
        key = (labelled, mode, tuple(layer.training for layer in layers))
        ids = tuple(map(id, params.values()))
        entry = cache.get(key)
        configuration = _configuration(layers)
        if (
            entry is not None
            and entry.parameters == ids
            and entry.configuration == configuration
            and all(np.array_equal(array, entry.buffers[name]) for name, array in _buffers(layers).items())
        ):
            return entry.traced
        refusal = self._compile_refusal(layers, training=None)
        if refusal:
            raise ValueError(f"{type(self).__name__}.get_grad(compile={mode!r}): {refusal}")

        def loss(*batch: Any) -> Node:
            return self._checked_loss(self.loss(*batch), labelled)

        traced = trace(loss, *batch, check=mode == "check")
        cache[key] = _CompiledLoss(
            traced, ids, {name: array.copy() for name, array in _buffers(layers).items()}, configuration
        )
        return traced

    def _compile_refusal(self, layers: list[Layer] | None = None, training: bool | None = None) -> str | None:
        """Why a traced loss would be wrong for this model (None: it would not), with each layer in
        its current mode, or in the mode `training` says."""
        for layer in self._walk()[0] if layers is None else layers:
            if not (layer.training if training is None else training):
                continue
            where = f"{layer!r}" + (f" at {layer._prefix!r}" if layer._prefix else "")
            if isinstance(layer, Dropout) and layer.p > 0:
                return (
                    f"{where} draws a new random mask at every step in training mode, but a traced program "
                    "would replay the mask drawn when it was traced; train without compile, or set p=0 "
                    "(in evaluation mode Dropout is the identity, and compile works)"
                )
            if layer._buffer_keys:
                return (
                    f"{where} updates its buffers ({', '.join(layer._buffer_keys)}) in training mode, by "
                    "Python side effects of forward, which a replayed trace would skip; train without compile "
                    "(in evaluation mode the buffers are only read, and compile works)"
                )
        return None

    def _check_loss_arguments(self, labelled: bool) -> None:
        """Refuse, before any computation, labels for a loss(self, x) or none for a loss(self, x, y)."""
        try:
            signature = inspect.signature(self.loss)
        except (TypeError, ValueError):  # a callable without a readable signature: let the call decide
            return
        try:
            signature.bind(*((None, None) if labelled else (None,)))
        except TypeError:
            name = type(self).__name__
            if labelled:
                raise TypeError(
                    f"{name}.loss{signature} takes no labels, but y was given: call get_grad(x) "
                    "and Opt(model, x_train), or define loss(self, x, y)"
                ) from None
            raise TypeError(
                f"{name}.loss{signature} needs labels, but no y was given: call get_grad(x, y) and "
                "Opt(model, x_train, y_train), or define loss(self, x) for a model without labels "
                "(such as a VAE)"
            ) from None

    def get_param(self) -> dict[str, np.ndarray]:
        """dict name -> the parameter's current array.

        These are the live arrays, not copies (like PyTorch's `state_dict`): an optimizer step
        changes them in place. Copy them (`{k: v.copy() for k, v in ...}`) to keep a snapshot.
        """
        return {name: node.value for name, node in self.parameters().items()}  # type: ignore[misc]  # a parameter's value is an array: Layer._walk makes it one

    def set_param(self, values: Mapping[str, Any]) -> None:
        """Copy new values into the parameters. `values` must have exactly the parameters' names
        and shapes; otherwise a ValueError (or TypeError) says what is wrong and nothing changes."""
        _copy_into(self.get_param(), values, f"{type(self).__name__}.set_param")

    # -- saving and loading ---------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the parameters and buffers to `path` (exactly that name), NumPy's `.npz` format."""
        # What np.savez writes (a zip of one .npy per name), written by hand: np.savez takes the
        # names as keyword arguments, so a parameter named "file" or "allow_pickle" would clash
        # with its own arguments (the second silently: it would not be saved).
        with open(path, "wb") as file, zipfile.ZipFile(file, "w", allowZip64=True) as archive:
            for name, array in self._state().items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as entry:
                    np.lib.format.write_array(entry, np.asanyarray(array), allow_pickle=False)

    def load(self, path: str | os.PathLike[str]) -> Self:
        """Read what `save` wrote into this model, and return it.

        The file must hold exactly this model's names and shapes, else a ValueError and nothing
        changes. Loading never unpickles (`allow_pickle=False`): a file holding Python objects is
        refused, since unpickling can run arbitrary code.
        """
        try:
            archive = np.load(path, allow_pickle=False)
        except ValueError as error:
            raise ValueError(f"{path}: not a .npz file of arrays (pickled data is never loaded): {error}") from None
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise ValueError(f"{path}: not a .npz file of named arrays, as Model.save writes")
        with archive:
            try:
                values = {name: archive[name] for name in archive.files}
            except ValueError as error:
                raise ValueError(f"{path}: holds Python objects, which are never unpickled: {error}") from None
        _copy_into(self._state(), values, f"{type(self).__name__}.load({os.fspath(path)!r})")
        return self

    def __repr__(self) -> str:
        return _listing(self, ((key, item) for key, item in self._items() if isinstance(item, Layer)))  # type: ignore[misc]  # a layer inside a layer always has a key


_P = ParamSpec("_P")  # Sequential.__init__'s own parameters, which mypy and help() see through the check


def _one_list_of_layers(
    init: Callable[Concatenate[Sequential, _P], None],
) -> Callable[Concatenate[Sequential, _P], None]:
    """Sequential's `__init__`, for which PyTorch's nn.Sequential(a, b, c) gets the message that
    Sequential(a, b) gets, not Python's count of arguments. `help` shows `init`'s signature."""

    @functools.wraps(init)
    def checked(self: Sequential, /, *args: _P.args, **kwargs: _P.kwargs) -> None:
        if len(args) > 2 and callable(args[0]):  # a layer first: `init` refuses it, saying how to write the list
            init(self, *args[:1])  # type: ignore[arg-type, call-arg]  # raises, as for Sequential(a, b)
        init(self, *args, **kwargs)

    return checked


class Sequential(Model):
    """A model that applies its layers in order: `Sequential([Linear(784, 100), relu, Linear(100, 10)])`.

    Items are layers or plain functions of a Node (activation functions). Unnamed layers are named
    by their index: `0.W`, `0.b`, `2.W`, ... `loss`, if given, makes `model.loss(x, y)` =
    `loss(model(x), y)`, so optimizers can train the model directly.
    """

    @_one_list_of_layers
    def __init__(
        self, layers: Iterable[Callable[[Any], Node]], loss: Callable[[Node, Any], Node] | None = None
    ) -> None:
        if callable(layers):  # PyTorch's nn.Sequential(a, b, c) takes the layers one by one
            raise TypeError(
                f"Sequential takes one list of layers, Sequential([Linear(2, 3), relu, ...]), "
                f"not the layers as separate arguments; got {_called(layers)} first"
            )
        layers = list(layers)
        for index, layer in enumerate(layers):
            if isinstance(layer, type):  # the class itself would be called with the batch, as Linear(x)
                raise TypeError(
                    f"Sequential: item {index} is the class {layer.__name__}, not a layer; "
                    f"create the layer: {_constructor(layer)}"
                )
            if not callable(layer):
                raise TypeError(f"Sequential: item {index} is a {type(layer).__name__}, not a layer or function")
        if loss is not None and not callable(loss):
            raise TypeError(f"Sequential: loss must be a function loss(prediction, y), such as dp.nn.mse, got {loss!r}")
        super().__init__()
        self.loss_function = loss
        self.layers = layers

    def _items(self) -> Iterator[tuple[str | None, Node | Layer]]:
        for index, layer in enumerate(self.layers):
            if isinstance(layer, Layer):
                yield str(index), layer

    def forward(self, x: Operand) -> Node:
        for layer in self.layers:
            x = layer(x)
        return x  # type: ignore[return-value]  # a Node, except from an empty Sequential: its input as it came

    def loss(self, x: Any, y: Any) -> Node:  # type: ignore[override]  # a Sequential's loss needs its labels
        if self.loss_function is None:
            raise NotImplementedError(
                "this Sequential has no loss: give one, Sequential(layers, loss=dp.nn.cross_entropy)"
            )
        return self.loss_function(self.forward(x), y)

    def __getitem__(self, index: int) -> Callable[[Any], Node]:
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        return _listing(self, ((str(index), layer) for index, layer in enumerate(self.layers)))


def _called(item: Any) -> str:
    """How an item of a Sequential reads in a message: a layer's repr, a function's name."""
    return repr(item) if isinstance(item, Layer) else getattr(item, "__name__", repr(item))


def _constructor(cls: type) -> str:
    """`Linear(n_in, n_out)`: the class called with its required arguments, as a hint."""
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return f"{cls.__name__}(...)"
    required = [
        p.name for p in parameters if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    return f"{cls.__name__}({', '.join(required)})"


def _compile_mode(compile: Any, who: str) -> CompileMode:
    """`compile=` checked: False, True or "check"."""
    if isinstance(compile, bool) or (isinstance(compile, str) and compile == "check"):
        return compile  # type: ignore[return-value]  # a str here is "check"
    raise ValueError(f'{who}: compile must be False, True or "check", got {compile!r}')


def _as_argument(value: Any) -> Any:
    """A batch as a trace takes it: a list or tuple of numbers as the array Node would make of it."""
    return np.asarray(value) if isinstance(value, list | tuple) else value


def _configuration(layers: list[Layer]) -> tuple[Any, ...]:
    """What a trace of the loss takes as fixed in each layer (and the model): its settings, plain
    numbers and strings (Dropout's p, eps, a temperature), and which functions and layers it
    holds (an activation, a Sequential's items), by identity. A change traces again."""

    def setting(value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float | str | np.number):
            return value
        if isinstance(value, list | tuple):
            return tuple(map(setting, value))
        if isinstance(value, dict):  # an Activation's options, a dict of layers
            return tuple((key, setting(item)) for key, item in value.items())
        return None if isinstance(value, Node | np.ndarray) else id(value)

    return tuple(
        (
            id(layer),
            tuple((key, setting(value)) for key, value in vars(layer).items() if key not in ("_compiled", "training")),
        )
        for layer in layers
    )


def _buffers(layers: list[Layer]) -> dict[str, np.ndarray]:
    return {f"{index}.{key}": getattr(layer, key) for index, layer in enumerate(layers) for key in layer._buffer_keys}


def _listing(model: Model, items: Iterable[tuple[str, Any]]) -> str:
    lines = [
        f"({key}) {item!r}" if isinstance(item, Layer) else f"({key}) {getattr(item, '__name__', item)}"
        for key, item in items
    ]
    body = "".join("\n  " + line.replace("\n", "\n  ") for line in lines)
    return f"{type(model).__name__}({body}\n)" if lines else f"{type(model).__name__}()"


def _copy_into(targets: dict[str, np.ndarray], values: Mapping[str, Any], what: str) -> None:
    """Copy each of `values` into the array of the same name in `targets`, in place, after checking
    all of them first (names, numeric type, shape), so that a bad dict changes nothing."""
    if not isinstance(values, Mapping):
        raise TypeError(f"{what}: expected a dict name -> array, got {type(values).__name__}")
    missing, extra = targets.keys() - values.keys(), values.keys() - targets.keys()
    if missing or extra:
        problems = ([f"missing {sorted(missing)}"] if missing else []) + ([f"unknown {sorted(extra)}"] if extra else [])
        raise ValueError(f"{what}: the names must be exactly the model's: {'; '.join(problems)}")
    arrays = {}
    for name, target in targets.items():
        value = values[name]
        array = value.value if isinstance(value, Node) else np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{what}: {name!r} must be numbers, got dtype {array.dtype}")
        if array.shape != target.shape:
            raise ValueError(f"{what}: {name!r} has shape {array.shape}, expected {target.shape}")
        arrays[name] = array
    for name, array in arrays.items():
        if array is not targets[name]:
            np.copyto(targets[name], array)
