"""Recurrent layers: the RNN, LSTM and GRU cells, and the sequence layers that loop over them.

A cell is the lecture slides' gate equation, g = x·Wx + h·Wh + b, followed by element-wise
operations (sigmoid, tanh, products); a sequence layer applies its cell at each time step. Both
are made of dp's elementary operations only, so their gradients (and forward mode, and second
derivatives) come from the operations' own rules: there is no hand-written backward pass here.

Conventions follow PyTorch's `nn.RNN` / `nn.LSTM` / `nn.GRU` with `batch_first=True`, and its
cells, so that code and weights map one to one:

| layer | parameters (shapes) | call | returns |
|---|---|---|---|
| `RNNCell(in, H)` | `Wx` (in, H), `Wh` (H, H), `b` (H,) | `cell(x, h)`, x (N, in) | h (N, H) |
| `LSTMCell(in, H)` | `Wx` (in, 4H), `Wh` (H, 4H), `b` (4H,) | `cell(x, (h, c))` | (h, c) |
| `GRUCell(in, H)` | `Wx` (in, 3H), `Wh` (H, 3H), `bx`, `bh` (3H,) | `cell(x, h)` | h |
| `RNN`, `LSTM`, `GRU` | those of their cell | `layer(x, state)`, x (N, T, in) | (outputs (N, T, H), state) |

The state is optional everywhere (zeros by default). The gates of the wider matrices lie side by
side in PyTorch's order: i, f, g, o for the LSTM and r, z, n for the GRU, each H columns wide.

Mapping onto PyTorch: dp computes x @ W where PyTorch computes x @ W.T, so `Wx = weight_ih.T`
and `Wh = weight_hh.T` (`weight_ih_l0` / `weight_hh_l0` in the sequence layers). The RNN and the
LSTM have one bias, `b = bias_ih + bias_hh` (PyTorch's two only ever appear as their sum); the
GRU keeps both, `bx = bias_ih` and `bh = bias_hh`, because its candidate n uses bh inside the
reset gate: n = tanh(x·Wx_n + bx_n + r * (h·Wh_n + bh_n)). Every parameter starts as PyTorch's,
uniform in (-1/sqrt(H), 1/sqrt(H)); the one bias `b` too (PyTorch's effective bias, the sum of
two such draws, is spread a little wider).

    >>> lstm = LSTM(3, 5, rng=0)
    >>> sorted(lstm.parameters())
    ['Wh', 'Wx', 'b']
    >>> outputs, (h, c) = lstm(np.ones((2, 7, 3)))
    >>> outputs.shape, h.shape, c.shape
    ((2, 7, 5), (2, 5), (2, 5))
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from dp.data import as_generator
from dp.forward import Dual
from dp.nn.init import RngLike
from dp.nn.layers import Layer, _count
from dp.node import Node
from dp.ops import stack
from dp.types import Operand

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNCell"]

#: A cell's state: h for the RNN and the GRU, (h, c) for the LSTM.
State = Any


def _operand(x: Any, where: str, dtype: np.dtype) -> Any:
    """x as something dp computes with: Nodes and Duals as they are, anything else as a NumPy
    array, integers in the parameters' dtype (as dp does when they meet a Node)."""
    if isinstance(x, Node | Dual):
        return x
    array = np.asarray(x)
    if array.dtype.kind in "biu":
        return array.astype(dtype)
    if array.dtype.kind != "f":
        raise TypeError(f"{where}: expected an array of numbers, got {type(x).__name__} of dtype {array.dtype}")
    return array


def _sizes(who: str, input_size: int, hidden_size: int) -> tuple[int, int]:
    return _count(input_size, f"{who}: input_size"), _count(hidden_size, f"{who}: hidden_size")


def _nonlinearity(who: str, nonlinearity: str) -> str:
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{who}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    return nonlinearity


# ------------------------------------------------------------------------------------------------
# Cells: one time step


class _Cell(Layer):
    """What the three cells share: the sizes, the parameters, the checks. A subclass says how many
    gates it has and names its biases, and defines `_step(x, state)` from the gate equation."""

    _gates: int  # how many blocks of H columns Wx and Wh have
    _bias_keys: tuple[str, ...]
    b: Node  # the bias of RNNCell and LSTMCell (GRUCell has two), set from _bias_keys

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        name: str | None = None,
        *,
        rng: RngLike = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        super().__init__(name)
        self.input_size, self.hidden_size = _sizes(type(self).__name__, input_size, hidden_size)
        width = self._gates * self.hidden_size
        rng = as_generator(rng, f"{type(self).__name__}: rng")
        bound = 1 / math.sqrt(self.hidden_size)  # PyTorch's default for every recurrent parameter

        def uniform(*shape: int) -> np.ndarray:
            return rng.uniform(-bound, bound, shape).astype(dtype, copy=False)

        # In PyTorch's order (weight_ih, weight_hh, bias_ih, bias_hh): one seed gives one layout.
        self.Wx = self._param("Wx", uniform(self.input_size, width))
        self.Wh = self._param("Wh", uniform(self.hidden_size, width))
        for key in self._bias_keys:
            setattr(self, key, self._param(key, uniform(width)))

    def forward(self, x: Operand, state: State = None) -> State:
        """One time step: the new state from the input x (N, input_size) and the state (zeros if None)."""
        x = _operand(x, repr(self), self.Wx.dtype)
        shape = np.shape(x)
        if len(shape) != 2 or shape[1] != self.input_size:
            raise ValueError(f"{self!r}: expected an input of shape (N, {self.input_size}), got {shape}")
        return self._step(x, self._initial_state(state, shape[0], x.dtype, repr(self)))

    def _step(self, x: Any, state: State) -> State:
        """The new state from x and a state already checked: the cell's equations."""
        return self._recur(self._input_share(x), state)

    def _input_share(self, x: Any) -> Any:
        """x's share of the gate equation, x·Wx + b: it does not depend on the state, so a
        sequence layer computes it for all time steps at once, in one matrix product."""
        return x @ self.Wx + self.b

    def _recur(self, gx: Any, state: State) -> State:
        """The new state from the input's share of the gates, gx, and the state."""
        raise NotImplementedError(f"{type(self).__name__} must define _recur(gx, state)")

    def _initial_state(self, state: State, batch: int, dtype: np.dtype, who: str) -> State:
        """The state checked against the batch size, or zeros (in the computation's dtype) if None;
        errors name `who` (this cell, or the sequence layer around it)."""
        if state is None:
            return np.zeros((batch, self.hidden_size), np.result_type(dtype, self.Wh.dtype))
        return self._checked_hidden(state, batch, "h", who)

    def _checked_hidden(self, h: Any, batch: int, label: str, who: str) -> Any:
        h = _operand(h, who, self.Wh.dtype)
        if np.shape(h) != (batch, self.hidden_size):
            raise ValueError(
                f"{who}: expected the state {label} of shape (N, hidden_size) = "
                f"({batch}, {self.hidden_size}), got {np.shape(h)}"
            )
        return h

    def _describe(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class RNNCell(_Cell):
    """The Elman cell, as PyTorch's `nn.RNNCell`: h' = act(x·Wx + h·Wh + b), act tanh or relu.

    Parameters `Wx` (input_size, H), `Wh` (H, H), `b` (H,). Call `cell(x, h)` with x (N, in) and
    h (N, H) (zeros if left out); it returns the new h (N, H).
    """

    _gates = 1
    _bias_keys = ("b",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        name: str | None = None,
        *,
        nonlinearity: str = "tanh",
        rng: RngLike = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        self.nonlinearity = _nonlinearity(type(self).__name__, nonlinearity)
        super().__init__(input_size, hidden_size, name, rng=rng, dtype=dtype)

    def _recur(self, gx: Any, h: Any) -> Any:
        g = gx + h @ self.Wh  # the gate equation, x·Wx + b + h·Wh
        return g.tanh() if self.nonlinearity == "tanh" else g.relu()

    def _describe(self) -> str:
        return f"{super()._describe()}, nonlinearity={self.nonlinearity!r}"


class LSTMCell(_Cell):
    """The long short-term memory cell (Hochreiter & Schmidhuber, 1997), as PyTorch's `nn.LSTMCell`.

    Parameters `Wx` (input_size, 4H), `Wh` (H, 4H), `b` (4H,), whose blocks of H columns are the
    gates i, f, g, o in this order. With [i, f, g, o] = x·Wx + h·Wh + b:

        c' = sigmoid(f) * c + sigmoid(i) * tanh(g)
        h' = sigmoid(o) * tanh(c')

    Call `cell(x, (h, c))` with x (N, in) and h, c (N, H) (zeros if the state is left out); it
    returns the new (h, c).
    """

    _gates = 4
    _bias_keys = ("b",)

    def _recur(self, gx: Any, state: tuple[Any, Any]) -> tuple[Any, Any]:
        h, c = state
        H = self.hidden_size
        g = gx + h @ self.Wh  # the gate equation, x·Wx + b + h·Wh, for all four gates at once
        input_gate = g[:, :H].sigmoid()
        forget_gate = g[:, H : 2 * H].sigmoid()
        candidate = g[:, 2 * H : 3 * H].tanh()
        output_gate = g[:, 3 * H :].sigmoid()
        c = forget_gate * c + input_gate * candidate
        return output_gate * c.tanh(), c

    def _initial_state(self, state: State, batch: int, dtype: np.dtype, who: str) -> tuple[Any, Any]:
        if state is None:
            zeros = super()._initial_state(None, batch, dtype, who)
            return zeros, zeros
        if not isinstance(state, tuple | list) or len(state) != 2:
            raise TypeError(f"{who}: the state must be a pair (h, c), got {type(state).__name__}")
        return self._checked_hidden(state[0], batch, "h", who), self._checked_hidden(state[1], batch, "c", who)


class GRUCell(_Cell):
    """The gated recurrent unit (Cho et al., 2014), as PyTorch's `nn.GRUCell`.

    Parameters `Wx` (input_size, 3H), `Wh` (H, 3H), `bx` (3H,), `bh` (3H,), whose blocks of H
    columns are the gates r, z, n in this order. With gx = x·Wx + bx and gh = h·Wh + bh:

        r = sigmoid(gx_r + gh_r),   z = sigmoid(gx_z + gh_z)
        n = tanh(gx_n + r * gh_n)
        h' = (1 - z) * n + z * h

    Call `cell(x, h)` with x (N, in) and h (N, H) (zeros if left out); it returns the new h.
    """

    _gates = 3
    _bias_keys = ("bx", "bh")
    bx: Node
    bh: Node

    def _input_share(self, x: Any) -> Any:
        return x @ self.Wx + self.bx  # the gate equation, with h's share kept apart for n

    def _recur(self, gx: Any, h: Any) -> Any:
        H = self.hidden_size
        gh = h @ self.Wh + self.bh
        reset_update = (gx[:, : 2 * H] + gh[:, : 2 * H]).sigmoid()  # r and z in one operation
        reset, update = reset_update[:, :H], reset_update[:, H:]
        candidate = (gx[:, 2 * H :] + reset * gh[:, 2 * H :]).tanh()
        return candidate + update * (h - candidate)  # = (1 - z) * n + z * h


# ------------------------------------------------------------------------------------------------
# Sequence layers: the cell at each time step


def _cell_parameter(key: str) -> property:
    """A sequence layer's parameter: its cell's, under the same name (`lstm.Wx`, not `lstm.cell.Wx`)."""

    def get(self: _Sequence) -> Any:
        return getattr(self.cell, key)

    def set(self: _Sequence, value: Any) -> None:
        setattr(self.cell, key, value)

    return property(get, set, doc=f"The cell's parameter {key}.")


class _Sequence(Layer):
    """A cell applied at each step of a batch of sequences (N, T, input_size), batch first.

    The layer's parameters are its cell's, with the cell's names (`Wx`, `Wh`, ...): the layout of
    PyTorch's single-layer `nn.RNN` / `nn.LSTM` / `nn.GRU` with `batch_first=True`.
    """

    _cell_type: type[_Cell]

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        name: str | None = None,
        *,
        rng: RngLike = None,
        dtype: DTypeLike = np.float64,
        **options: Any,
    ) -> None:
        super().__init__(name)
        _sizes(type(self).__name__, input_size, hidden_size)  # errors name this layer, not its cell
        self.cell = self._cell_type(input_size, hidden_size, name, rng=rng, dtype=dtype, **options)
        self._param_keys = list(self.cell._param_keys)

    @property
    def input_size(self) -> int:
        return self.cell.input_size

    @property
    def hidden_size(self) -> int:
        return self.cell.hidden_size

    def forward(self, x: Operand, state: State = None) -> tuple[Any, State]:  # type: ignore[override]  # a sequence layer takes and returns its state too
        """(outputs (N, T, H): the h of every step, the final state) for inputs x (N, T, input_size)
        and an initial state (zeros if None)."""
        cell = self.cell
        x = _operand(x, repr(self), cell.Wx.dtype)
        shape = np.shape(x)
        if len(shape) != 3 or shape[2] != self.input_size:
            raise ValueError(
                f"{self!r}: expected an input of shape (N, T, {self.input_size}) (batch first), got {shape}"
            )
        if shape[1] == 0:
            raise ValueError(f"{self!r}: the sequences are empty (T = 0): {shape}")
        state = cell._initial_state(state, shape[0], x.dtype, repr(self))
        # The input's share of every step's gates in one matrix product; only the rest recurs.
        n, steps = shape[:2]
        gates_from_input = cell._input_share(x.reshape(n * steps, self.input_size)).reshape(n, steps, -1)
        outputs = []
        for t in range(steps):
            state = cell._recur(gates_from_input[:, t], state)
            outputs.append(self._output(state))
        return stack(outputs, axis=1), state

    @staticmethod
    def _output(state: State) -> Any:
        """What a step contributes to the outputs: its h."""
        return state

    def _describe(self) -> str:
        return self.cell._describe()


class RNN(_Sequence):
    """An Elman RNN over sequences, as PyTorch's `nn.RNN(..., batch_first=True)`: `RNNCell` at each step.

    `rnn(x, h0)` with x (N, T, input_size) and h0 (N, H) (zeros if left out) returns
    (outputs (N, T, H), final h (N, H)). Parameters `Wx` (in, H), `Wh` (H, H), `b` (H,);
    `nonlinearity` is "tanh" or "relu".
    """

    _cell_type = RNNCell
    Wx, Wh, b = (_cell_parameter(key) for key in ("Wx", "Wh", "b"))

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        name: str | None = None,
        *,
        nonlinearity: str = "tanh",
        rng: RngLike = None,
        dtype: DTypeLike = np.float64,
    ) -> None:
        super().__init__(
            input_size,
            hidden_size,
            name,
            rng=rng,
            dtype=dtype,
            nonlinearity=_nonlinearity(type(self).__name__, nonlinearity),
        )


class LSTM(_Sequence):
    """An LSTM over sequences, as PyTorch's `nn.LSTM(..., batch_first=True)`: `LSTMCell` at each step.

    `lstm(x, (h0, c0))` with x (N, T, input_size) and h0, c0 (N, H) (zeros if left out) returns
    (outputs (N, T, H), (h, c)), the final state each (N, H). Parameters `Wx` (in, 4H),
    `Wh` (H, 4H), `b` (4H,), gates i, f, g, o.
    """

    _cell_type = LSTMCell
    Wx, Wh, b = (_cell_parameter(key) for key in ("Wx", "Wh", "b"))

    @staticmethod
    def _output(state: State) -> Any:
        return state[0]


class GRU(_Sequence):
    """A GRU over sequences, as PyTorch's `nn.GRU(..., batch_first=True)`: `GRUCell` at each step.

    `gru(x, h0)` with x (N, T, input_size) and h0 (N, H) (zeros if left out) returns
    (outputs (N, T, H), final h (N, H)). Parameters `Wx` (in, 3H), `Wh` (H, 3H), `bx`, `bh` (3H,),
    gates r, z, n.
    """

    _cell_type = GRUCell
    Wx, Wh, bx, bh = (_cell_parameter(key) for key in ("Wx", "Wh", "bx", "bh"))
