"""Hand-written NumPy: forward and backward derived by hand, the practical limit.

Written to be fast rather than short: activations, deltas and gradients live in buffers
allocated once in ``make_state`` and every large operation writes into them (``out=`` and
in-place operators), so a training step allocates no array of the network's size.  The
per-operation workloads (W2, W4) use plain expressions instead, which is what is fastest
for tiny arrays (the ``out=`` keyword costs more than allocating one element).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

import workloads as wl
from workloads import Grads, Sizes


def _copy(grads: Grads) -> Grads:
    return {name: g.copy() for name, g in grads.items()}


def _sgd(params: dict[str, np.ndarray], grads: Grads) -> None:
    for name, p in params.items():
        g = grads[name]
        g *= wl.LEARNING_RATE  # the gradient buffers are scratch: overwritten every step
        p -= g


def _cross_entropy(logits: np.ndarray, labels: np.ndarray, dlogits: np.ndarray) -> float:
    """Softmax cross-entropy of integer labels, mean over the rows; its gradient goes into
    ``dlogits``.  Stable: the logits are shifted (in place) by their row maximum."""
    n = logits.shape[0]
    rows = np.arange(n)
    logits -= logits.max(axis=1, keepdims=True)
    np.exp(logits, out=dlogits)
    total = dlogits.sum(axis=1, keepdims=True)
    loss = float(np.log(total).sum() - logits[rows, labels].sum()) / n
    # d loss / d logits = (softmax - one_hot) / n
    dlogits /= total
    dlogits[rows, labels] -= 1
    dlogits *= 1.0 / n
    return loss


@dataclass
class DenseState:
    """Weights, batch and preallocated buffers of a fully connected network."""

    params: dict[str, np.ndarray]
    names: list[tuple[str, str]]
    x: np.ndarray
    target: np.ndarray  # W1: integer labels; W3: 0/1 column
    acts: list[np.ndarray]  # layer outputs (after the activation)
    deltas: list[np.ndarray]  # d loss / d pre-activation, per layer
    scratch: list[np.ndarray]  # one more buffer per layer, for the activation's derivative
    grads: Grads = field(default_factory=dict)
    loss: float = 0.0


def _dense_state(problem: wl.DenseProblem) -> DenseState:
    params, x = problem.params, problem.x
    batch, dtype = x.shape[0], x.dtype
    widths = [params[b].size for _, b in problem.names]
    return DenseState(
        params=params,
        names=problem.names,
        x=x,
        target=problem.target,
        acts=[np.empty((batch, w), dtype) for w in widths],
        deltas=[np.empty((batch, w), dtype) for w in widths],
        scratch=[np.empty((batch, w), dtype) for w in widths],
        grads={name: np.empty_like(p) for name, p in params.items()},
    )


def _dense_backward(s: DenseState, activation_derivative) -> None:
    """Back-propagate ``s.deltas[-1]`` through all layers into ``s.grads``."""
    for i in range(len(s.names) - 1, -1, -1):
        w, b = s.names[i]
        dz = s.deltas[i]
        h_prev = s.acts[i - 1] if i else s.x
        np.matmul(h_prev.T, dz, out=s.grads[w])
        np.sum(dz, axis=0, out=s.grads[b])
        if i:
            dh = s.deltas[i - 1]
            np.matmul(dz, s.params[w].T, out=dh)
            activation_derivative(dh, h_prev, s.scratch[i - 1])


class _DenseNetwork:
    """What W1 and W3 share: a step is forward + backward by hand, then SGD on the buffers."""

    def _forward_backward(self, s: DenseState) -> None:
        raise NotImplementedError

    def step(self, s: DenseState) -> None:
        self._forward_backward(s)
        _sgd(s.params, s.grads)

    def gradients(self, s: DenseState) -> Grads:
        self._forward_backward(s)
        return _copy(s.grads)


class MLP(_DenseNetwork):
    """W1: ReLU layers, softmax cross-entropy from logits, mean over the batch."""

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> DenseState:
        return _dense_state(wl.mlp_problem(seed, dtype, sizes, one_hot_labels=False))

    @staticmethod
    def _relu_backward(dh: np.ndarray, h: np.ndarray, _scratch: np.ndarray) -> None:
        np.multiply(dh, h > 0, out=dh)

    def _forward_backward(self, s: DenseState) -> None:
        h = s.x
        last = len(s.names) - 1
        for i, (w, b) in enumerate(s.names):
            z = s.acts[i]
            np.matmul(h, s.params[w], out=z)
            z += s.params[b]
            if i < last:
                np.maximum(z, 0, out=z)
            h = z
        s.loss = _cross_entropy(h, s.target, s.deltas[-1])
        _dense_backward(s, self._relu_backward)


def _sigmoid_inplace(z: np.ndarray) -> None:
    np.negative(z, out=z)
    np.exp(z, out=z)
    z += 1
    np.reciprocal(z, out=z)


class SigmoidNet(_DenseNetwork):
    """W3: sigmoid layers, sigmoid output of width 1, binary cross-entropy."""

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> DenseState:
        return _dense_state(wl.sigmoid_net_problem(seed, dtype, sizes))

    @staticmethod
    def _sigmoid_backward(dh: np.ndarray, a: np.ndarray, scratch: np.ndarray) -> None:
        np.subtract(1, a, out=scratch)  # sigmoid' = a * (1 - a)
        scratch *= a
        dh *= scratch

    def _forward_backward(self, s: DenseState) -> None:
        h = s.x
        for i, (w, b) in enumerate(s.names):
            z = s.acts[i]
            np.matmul(h, s.params[w], out=z)
            z += s.params[b]
            _sigmoid_inplace(z)
            h = z
        p, y, n = h, s.target, s.x.shape[0]
        s.loss = -float(np.sum(y * np.log(p) + (1 - y) * np.log1p(-p))) / n
        # d BCE(sigmoid(z)) / dz = (p - y) / n
        dz = s.deltas[-1]
        np.subtract(p, y, out=dz)
        dz *= 1.0 / n
        _dense_backward(s, self._sigmoid_backward)


@dataclass
class ChainState:
    x: np.ndarray
    links: int
    grad: np.ndarray | None = None


class Chain:
    """W2: y = tanh(y * 0.5 + 0.1), ``links`` times, then sum; one NumPy call per operation."""

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> ChainState:
        return ChainState(wl.chain_input(seed, dtype, sizes), sizes.chain_links)

    def step(self, s: ChainState) -> None:
        y = s.x
        outputs = []
        for _ in range(s.links):
            y = np.tanh(y * wl.CHAIN_MUL + wl.CHAIN_ADD)
            outputs.append(y)
        y.sum()  # the loss; its derivative is ones
        g = np.ones_like(y)
        for t in reversed(outputs):
            g = g * (1.0 - t * t) * wl.CHAIN_MUL  # tanh' = 1 - tanh^2, then the mul's 0.5
        s.grad = g

    def gradients(self, s: ChainState) -> Grads:
        self.step(s)
        return {"x": s.grad.copy()}


@dataclass
class NeuronState:
    point: dict[str, float]
    grads: tuple[float, ...] = ()


class Neuron:
    """W4: sigmoid(a*x + b*y + c) on Python floats; math.exp is the fastest scalar path."""

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> NeuronState:
        return NeuronState(dict(wl.NEURON_POINT))

    def step(self, s: NeuronState) -> None:
        p = s.point
        a, b, c, x, y = p["a"], p["b"], p["c"], p["x"], p["y"]
        out = 1.0 / (1.0 + math.exp(-(a * x + b * y + c)))
        dz = out * (1.0 - out)
        s.grads = (x * dz, y * dz, dz, a * dz, b * dz)

    def gradients(self, s: NeuronState) -> Grads:
        self.step(s)
        return {name: np.asarray(g) for name, g in zip("abcxy", s.grads)}


# --------------------------------------------------------------------------- W5: LeNet


class _ConvStage:
    """Convolution (k x k, stride 1, no padding) + bias + ReLU + 2x2 max-pool, by im2col.

    Activations are kept as (C, H, W, N), the batch last: the im2col matrix (C*k*k,
    OH*OW*N) is then filled by k*k slice copies whose rows are OW*N contiguous numbers, the
    convolution is one matrix product with the kernel seen as (O, C*k*k), its result is
    already the next stage's (O, OH, OW, N), and pooling and col2im slice only H and W.
    """

    def __init__(
        self, c_in: int, c_out: int, k: int, side: int, batch: int, dtype: np.dtype, needs_input_grad: bool
    ) -> None:
        out = side - k + 1
        self.k, self.out = k, out
        self.cols = np.empty((c_in, k, k, out, out, batch), dtype)
        self.z = np.empty((c_out, out, out, batch), dtype)  # conv + bias, then ReLU in place
        self.pooled = np.empty((c_out, out // 2, out // 2, batch), dtype)
        self.live = np.empty_like(self.pooled)  # the pooled gradient where the ReLU passed it
        self.mask = np.empty(self.pooled.shape, bool)
        self.dz = np.empty_like(self.z)
        self.dcols = np.empty_like(self.cols) if needs_input_grad else None
        self.dx = np.empty((c_in, side, side, batch), dtype) if needs_input_grad else None

    def _windows(self):
        """(i, j, the output-sized window of the input at offset i, j) for the k*k offsets."""
        k, o = self.k, self.out
        return ((i, j, np.s_[:, i : i + o, j : j + o]) for i in range(k) for j in range(k))

    @staticmethod
    def _quarters():
        """The four strided views of a 2x2 pooling window's positions."""
        return (np.s_[:, a::2, b::2] for a in (0, 1) for b in (0, 1))

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        for i, j, window in self._windows():
            self.cols[:, i, j] = x[window]
        c_out = w.shape[0]
        np.matmul(w.reshape(c_out, -1), self.cols.reshape(-1, self.z[0].size), out=self.z.reshape(c_out, -1))
        self.z += b[:, None, None, None]
        np.maximum(self.z, 0, out=self.z)
        first, *rest = self._quarters()
        np.copyto(self.pooled, self.z[first])
        for quarter in rest:
            np.maximum(self.pooled, self.z[quarter], out=self.pooled)
        return self.pooled

    def backward(self, dpooled: np.ndarray, w: np.ndarray, dw: np.ndarray, db: np.ndarray) -> np.ndarray | None:
        """Kernel and bias gradients into ``dw``, ``db``; the input's gradient if kept."""
        # The pooled maximum's gradient goes to the position that holds it (continuous data:
        # no ties but among zeros, where the ReLU's derivative is 0 anyway, hence ``live``).
        np.greater(self.pooled, 0, out=self.mask)
        np.multiply(dpooled, self.mask, out=self.live)
        for quarter in self._quarters():
            np.equal(self.z[quarter], self.pooled, out=self.mask)
            np.multiply(self.mask, self.live, out=self.dz[quarter])
        c_out = w.shape[0]
        dz = self.dz.reshape(c_out, -1)
        cols = self.cols.reshape(-1, dz.shape[1])
        np.matmul(dz, cols.T, out=dw.reshape(c_out, -1))
        np.sum(dz, axis=1, out=db)
        if self.dcols is None:
            return None
        np.matmul(w.reshape(c_out, -1).T, dz, out=self.dcols.reshape(cols.shape))
        self.dx.fill(0)
        for i, j, window in self._windows():  # col2im: a strided accumulation per offset
            self.dx[window] += self.dcols[:, i, j]
        return self.dx


@dataclass
class CNNState:
    params: dict[str, np.ndarray]
    x: np.ndarray  # (N, C, H, W), as the other implementations get it
    labels: np.ndarray
    x_last: np.ndarray  # the batch moved last, (C, H, W, N)
    stages: tuple[_ConvStage, _ConvStage]
    hidden: np.ndarray
    logits: np.ndarray
    dlogits: np.ndarray
    dhidden: np.ndarray
    dflat: np.ndarray  # transposed, (C*H*W, N): PyTorch's flattening order down the rows
    grads: Grads
    loss: float = 0.0


class CNN:
    """W5: two conv stages by im2col, two linear layers, cross-entropy; backward by hand."""

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> CNNState:
        problem = wl.cnn_problem(seed, dtype, sizes)
        c0, c1, c2 = sizes.cnn_channels
        k, n, side = sizes.cnn_kernel, sizes.cnn_batch, sizes.cnn_image
        first = _ConvStage(c0, c1, k, side, n, dtype, needs_input_grad=False)
        second = _ConvStage(c1, c2, k, first.out // 2, n, dtype, needs_input_grad=True)
        return CNNState(
            params=problem.params,
            x=problem.x,
            labels=problem.labels,
            x_last=np.empty((c0, side, side, n), dtype),
            stages=(first, second),
            hidden=np.empty((n, sizes.cnn_hidden), dtype),
            logits=np.empty((n, sizes.cnn_classes), dtype),
            dlogits=np.empty((n, sizes.cnn_classes), dtype),
            dhidden=np.empty((n, sizes.cnn_hidden), dtype),
            dflat=np.empty((sizes.cnn_flat, n), dtype),
            grads={name: np.empty_like(p) for name, p in problem.params.items()},
        )

    def _forward_backward(self, s: CNNState) -> None:
        p, g = s.params, s.grads
        first, second = s.stages
        np.copyto(s.x_last, s.x.transpose(1, 2, 3, 0))
        a = first.forward(s.x_last, p["conv1.W"], p["conv1.b"])
        a = second.forward(a, p["conv2.W"], p["conv2.b"])
        flat = a.reshape(-1, a.shape[-1]).T  # (N, C*H*W), a view
        np.matmul(flat, p["fc1.W"], out=s.hidden)
        s.hidden += p["fc1.b"]
        np.maximum(s.hidden, 0, out=s.hidden)
        np.matmul(s.hidden, p["fc2.W"], out=s.logits)
        s.logits += p["fc2.b"]
        s.loss = _cross_entropy(s.logits, s.labels, s.dlogits)

        np.matmul(s.hidden.T, s.dlogits, out=g["fc2.W"])
        np.sum(s.dlogits, axis=0, out=g["fc2.b"])
        np.matmul(s.dlogits, p["fc2.W"].T, out=s.dhidden)
        np.multiply(s.dhidden, s.hidden > 0, out=s.dhidden)
        np.matmul(flat.T, s.dhidden, out=g["fc1.W"])
        np.sum(s.dhidden, axis=0, out=g["fc1.b"])
        np.matmul(p["fc1.W"], s.dhidden.T, out=s.dflat)
        da = second.backward(s.dflat.reshape(a.shape), p["conv2.W"], g["conv2.W"], g["conv2.b"])
        first.backward(da, p["conv1.W"], g["conv1.W"], g["conv1.b"])

    def step(self, s: CNNState) -> None:
        self._forward_backward(s)
        _sgd(s.params, s.grads)

    def gradients(self, s: CNNState) -> Grads:
        self._forward_backward(s)
        return _copy(s.grads)


# --------------------------------------------------------------------------- W6: LSTM


@dataclass
class LSTMState:
    params: dict[str, np.ndarray]
    x: np.ndarray  # (N, T, in), batch first
    labels: np.ndarray
    xt: np.ndarray  # the input time-major, (T, N, in): one contiguous slab per step
    gates: np.ndarray  # (T, N, 4, H): pre-activations, then i, f, g, o in place
    c: np.ndarray  # (T + 1, N, H); c[0] is the zero initial state, as h[0]
    tanh_c: np.ndarray  # (T, N, H)
    h: np.ndarray  # (T + 1, N, H)
    into_ifg: np.ndarray  # (T, N, 3, H): d pre-activation of i, f, g per unit of dc
    into_o: np.ndarray  # (T, N, H): d pre-activation of o per unit of dh
    into_c: np.ndarray  # (T, N, H): dc per unit of dh, o * tanh'(c)
    dgates: np.ndarray  # (T, N, 4, H)
    wh_t: np.ndarray  # Wh transposed, contiguous: BLAS multiplies by it twice as fast as by Wh.T
    logits: np.ndarray
    dlogits: np.ndarray
    scratch: list[np.ndarray]  # (N, H) and (N, 4, H) buffers of one step
    grads: Grads
    loss: float = 0.0


# sigmoid(x) = (1 + tanh(x / 2)) / 2: the gates i, f, o (sigmoid) and g (tanh) in one tanh call,
# between an element-wise scale and shift; the gate axis is the second last, (..., 4, H).
_GATE_SCALE = np.array([0.5, 0.5, 1.0, 0.5])[:, None]
_GATE_SHIFT = np.array([0.5, 0.5, 0.0, 0.5])[:, None]


class LSTM:
    """W6: the LSTM forward with the input projection of all steps as one matrix product,
    back-propagation through time by hand.  Only the recurrence runs step by step: every
    local derivative that does not depend on the incoming gradient is formed for all steps
    at once before it, and the weights' gradients are one matrix product each after it."""

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> LSTMState:
        problem = wl.lstm_problem(seed, dtype, sizes)
        n, t, hid = sizes.lstm_batch, sizes.lstm_steps, sizes.lstm_hidden
        return LSTMState(
            params=problem.params,
            x=problem.x,
            labels=problem.labels,
            xt=np.empty((t, n, sizes.lstm_input), dtype),
            gates=np.empty((t, n, 4, hid), dtype),
            c=np.zeros((t + 1, n, hid), dtype),
            tanh_c=np.empty((t, n, hid), dtype),
            h=np.zeros((t + 1, n, hid), dtype),
            into_ifg=np.empty((t, n, 3, hid), dtype),
            into_o=np.empty((t, n, hid), dtype),
            into_c=np.empty((t, n, hid), dtype),
            dgates=np.empty((t, n, 4, hid), dtype),
            wh_t=np.empty((4 * hid, hid), dtype),
            logits=np.empty((n, sizes.lstm_classes), dtype),
            dlogits=np.empty((n, sizes.lstm_classes), dtype),
            scratch=[np.empty((n, hid), dtype) for _ in range(3)] + [np.empty((n, 4, hid), dtype)],
            grads={name: np.empty_like(p) for name, p in problem.params.items()},
        )

    def _forward(self, s: LSTMState) -> None:
        p = s.params
        steps, n, _, hid = s.gates.shape
        scale, shift = _GATE_SCALE.astype(s.gates.dtype), _GATE_SHIFT.astype(s.gates.dtype)
        np.copyto(s.xt, s.x.transpose(1, 0, 2))
        np.matmul(s.xt.reshape(steps * n, -1), p["lstm.Wx"], out=s.gates.reshape(steps * n, -1))
        s.gates += p["lstm.b"].reshape(4, hid)
        recurrent, ig = s.scratch[3], s.scratch[0]
        wh = p["lstm.Wh"]
        for t in range(steps):
            gates = s.gates[t]
            np.matmul(s.h[t], wh, out=recurrent.reshape(n, -1))
            gates += recurrent
            gates *= scale
            np.tanh(gates, out=gates)
            gates *= scale
            gates += shift
            i, f, g, o = gates[:, 0], gates[:, 1], gates[:, 2], gates[:, 3]
            np.multiply(f, s.c[t], out=s.c[t + 1])
            np.multiply(i, g, out=ig)
            s.c[t + 1] += ig
            np.tanh(s.c[t + 1], out=s.tanh_c[t])
            np.multiply(o, s.tanh_c[t], out=s.h[t + 1])
        np.matmul(s.h[steps], p["head.W"], out=s.logits)
        s.logits += p["head.b"]
        s.loss = _cross_entropy(s.logits, s.labels, s.dlogits)

    def _local_derivatives(self, s: LSTMState) -> None:
        """For every step at once: c = f c_prev + i g and h = o tanh(c), through each gate's
        own derivative (sigmoid' = a (1 - a), tanh' = 1 - a^2)."""
        i, f, g, o = (s.gates[:, :, k] for k in range(4))
        into_i, into_f, into_g = (s.into_ifg[:, :, k] for k in range(3))
        np.subtract(1, i, out=into_i)
        into_i *= i
        into_i *= g  # dc/di = g
        np.subtract(1, f, out=into_f)
        into_f *= f
        into_f *= s.c[:-1]  # dc/df = c_prev
        np.multiply(g, g, out=into_g)
        np.subtract(1, into_g, out=into_g)
        into_g *= i  # dc/dg = i
        np.subtract(1, o, out=s.into_o)
        s.into_o *= o
        s.into_o *= s.tanh_c  # dh/do = tanh(c)
        np.multiply(s.tanh_c, s.tanh_c, out=s.into_c)
        np.subtract(1, s.into_c, out=s.into_c)
        s.into_c *= o  # dh/dc = o tanh'(c)

    def _backward(self, s: LSTMState) -> None:
        p, g = s.params, s.grads
        steps, n, _, hid = s.gates.shape
        np.matmul(s.h[steps].T, s.dlogits, out=g["head.W"])
        np.sum(s.dlogits, axis=0, out=g["head.b"])
        self._local_derivatives(s)
        dh, dc, tmp = s.scratch[:3]
        np.matmul(s.dlogits, p["head.W"].T, out=dh)
        dc.fill(0)
        wh_t = s.wh_t
        np.copyto(wh_t, p["lstm.Wh"].T)
        for t in range(steps - 1, -1, -1):
            np.multiply(dh, s.into_c[t], out=tmp)
            dc += tmp
            np.multiply(dc[:, None, :], s.into_ifg[t], out=s.dgates[t, :, :3])
            np.multiply(dh, s.into_o[t], out=s.dgates[t, :, 3])
            dc *= s.gates[t, :, 1]  # into c_prev, through f
            if t:
                np.matmul(s.dgates[t].reshape(n, -1), wh_t, out=dh)
        dgates = s.dgates.reshape(steps * n, -1)
        np.matmul(s.h[:steps].reshape(steps * n, -1).T, dgates, out=g["lstm.Wh"])
        np.matmul(s.xt.reshape(steps * n, -1).T, dgates, out=g["lstm.Wx"])
        np.sum(dgates, axis=0, out=g["lstm.b"])

    def step(self, s: LSTMState) -> None:
        self._forward(s)
        self._backward(s)
        _sgd(s.params, s.grads)

    def gradients(self, s: LSTMState) -> Grads:
        self._forward(s)
        self._backward(s)
        return _copy(s.grads)


# --------------------------------------------------------------------------- W7: BCE


@dataclass
class BCEState:
    z: np.ndarray
    y: np.ndarray
    work: np.ndarray  # |z|, then log1p(exp(-|z|))
    grad: np.ndarray
    loss: float = 0.0


class BCE:
    """W7: the stable form max(z, 0) - z*y + log1p(exp(-|z|)), mean over all elements, and
    d/dz = (sigmoid(z) - y) / size.  The sums of max(z, 0) = (z + |z|) / 2 and of z*y are
    reductions (no array of their terms); sigmoid(z) = (1 + tanh(z/2)) / 2 needs no branch
    on the sign of z (NumPy's ``where=`` costs more than all the rest together)."""

    def make_state(self, seed: int, dtype: np.dtype, sizes: Sizes) -> BCEState:
        z, y = wl.bce_problem(seed, dtype, sizes)
        return BCEState(z, y, np.empty_like(z), np.empty_like(z))

    def step(self, s: BCEState) -> None:
        z, y, e, grad = s.z, s.y, s.work, s.grad
        np.abs(z, out=e)
        sum_relu = 0.5 * (z.sum() + e.sum())
        np.negative(e, out=e)
        np.exp(e, out=e)  # exp(-|z|), in (0, 1]: never overflows
        np.log1p(e, out=e)
        s.loss = float(e.sum() + sum_relu - np.dot(z.ravel(), y.ravel())) / z.size
        np.multiply(z, 0.5, out=grad)
        np.tanh(grad, out=grad)
        grad += 1
        grad *= 0.5
        grad -= y
        grad *= 1.0 / z.size

    def gradients(self, s: BCEState) -> Grads:
        self.step(s)
        return {"z": s.grad.copy()}


WORKLOADS: dict[str, wl.WorkloadImpl] = {
    "mlp": MLP(),
    "chain": Chain(),
    "sigmoid_net": SigmoidNet(),
    "neuron": Neuron(),
    "cnn": CNN(),
    "lstm": LSTM(),
    "bce": BCE(),
}
