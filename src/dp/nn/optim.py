"""Optimizers: update rules that move parameters against their gradients, and the training loop.

Two ways to use them, as in the paper:

    loss = SGD(net, x_train, y_train).train(steps=1000, print_each=100)
    loss, loss_hist, para_hist = Adam(net, x_train, y_train, batch_size=128).train(
        steps=1000, print_each=100, err_hist=True)

or by hand, one update at a time (the project sheet's `optimizer(model.variables, gradients)`):

    opt = Adam(learning_rate=1e-3)
    grads, loss = net.get_grad(x, y)
    opt.step(net, grads)      # or opt(net.variables, grads), or a dict name -> array

Each rule follows PyTorch's formulas exactly (`torch.optim.SGD`, `RMSprop`, `Adam`), so the same
parameters and gradients give the same steps. Its state (momentum buffers, moment estimates,
step counts) lives in the optimizer, keyed by parameter name; parameters are updated in place.

Default learning rates. The paper's loss sums over the examples of a batch (`loss.sum()`), and
`batch_size=None` trains on the whole training set at once, so the gradient grows with the number
of examples. SGD's default, 1e-5, keeps full-batch training on a few thousand to a few ten
thousand MNIST digits stable with that summed loss; for a loss averaged over the batch (`"mean"`,
as `cross_entropy` does by default) use about `batch_size` times more, e.g. 0.1. RMSProp and Adam
divide by a running gradient scale, so their defaults (1e-3) suit summed and averaged losses alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from dp.data import minibatches
from dp.nn.init import RngLike
from dp.nn.layers import Layer, _count
from dp.nn.model import Model
from dp.node import Node

try:  # tqdm draws the progress bar; it is optional (numpy is dp's only requirement).
    from tqdm import tqdm
except ImportError:  # pragma: no cover - exercised only without tqdm installed
    tqdm = None

__all__ = ["Adam", "Momentum", "Optimizer", "RMSProp", "SGD", "SGD_Momentum"]

Params = Mapping[str, Node | np.ndarray] | Layer


class Optimizer:
    """Base class: `Opt(model, x_train, y_train, learning_rate, batch_size=None, rng=None)`.

    `model`, `x_train` and `y_train` are needed only by `train`; `step` works on any parameters.
    `batch_size=None` trains on all the data at every step; otherwise each step takes the next
    minibatch of a shuffled pass over the data (`rng`: a seed or Generator, for reproducibility;
    the last batch of a pass holds what is left, so with a summed loss its loss is smaller).
    Subclasses define `_update(param, grad, state)` and `_new_state(param)`.
    """

    def __init__(self, model: Model | None = None, x_train: Any = None, y_train: Any = None,
                 learning_rate: float = 1e-3, *, batch_size: int | None = None, rng: RngLike = None) -> None:
        if model is not None and not isinstance(model, Model):
            raise TypeError(f"{type(self).__name__}: the first argument is the model, got {type(model).__name__}; "
                            f"give hyper-parameters by keyword: {type(self).__name__}(learning_rate=...)")
        if (x_train is None) != (y_train is None):
            raise ValueError(f"{type(self).__name__}: give both x_train and y_train, or neither")
        if x_train is not None and len(x_train) != len(y_train):
            raise ValueError(f"{type(self).__name__}: x_train has {len(x_train)} examples, y_train {len(y_train)}")
        self.model, self.x_train, self.y_train = model, x_train, y_train
        self.learning_rate = _positive(learning_rate, "learning_rate")
        self.batch_size = None if batch_size is None else _count(batch_size, f"{type(self).__name__}: batch_size")
        self.rng = np.random.default_rng(rng)
        self.state: dict[str, dict[str, Any]] = {}
        self._batches: Iterator[tuple[Any, Any]] = iter(())  # the current pass over the data

    # -- one update -----------------------------------------------------------------------------

    def step(self, params: Params, grads: Mapping[str, Any]) -> None:
        """Update `params` in place with `grads` (dict name -> gradient).

        `params` is a model, or a dict name -> parameter Node (`model.variables`) or array.
        A parameter without a gradient is left as it is.
        """
        if isinstance(params, Layer):
            params = params.parameters()
        who = f"{type(self).__name__}.step"
        if not isinstance(params, Mapping) or not isinstance(grads, Mapping):
            raise TypeError(f"{who}: expected a model or a dict name -> parameter, and a dict name -> gradient, "
                            f"got {type(params).__name__} and {type(grads).__name__}")
        # Every name, type and shape is checked before anything changes, so a rejected call leaves
        # the parameters and the optimizer's state as they were (and a gradient that would only
        # broadcast onto its parameter, a wrong answer, is refused).
        updates = []
        for name, grad in grads.items():
            try:
                param = params[name]
            except KeyError:
                raise KeyError(f"{who}: a gradient for {name!r}, but no parameter of that name") from None
            if isinstance(param, Node) and isinstance(param.value, np.generic):
                param.value = np.array(param.value)  # a number held as a 0-d array, updatable in place
            value = param.value if isinstance(param, Node) else param
            if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or not value.flags.writeable:
                got = (f"a {type(value).__name__}" if not isinstance(value, np.ndarray) else
                       "a read-only array" if value.dtype.kind == "f" else f"an array of dtype {value.dtype}")
                raise TypeError(f"{who}: parameter {name!r} must be a Node or a writable NumPy float array "
                                f"(updated in place), got {got}")
            grad = np.asarray(grad.value if isinstance(grad, Node) else grad)
            if grad.dtype.kind not in "biuf":
                raise TypeError(f"{who}: the gradient for {name!r} must be numbers, got dtype {grad.dtype}")
            if grad.shape != value.shape:
                raise ValueError(f"{who}: the gradient for {name!r} has shape {grad.shape}, but the parameter "
                                 f"has shape {value.shape}")
            updates.append((name, value, grad))
        for name, value, grad in updates:
            state = self.state.get(name)
            if state is None:
                state = self.state[name] = self._new_state(value)
            self._update(value, grad, state)

    __call__ = step

    def _new_state(self, param: np.ndarray) -> dict[str, Any]:
        return {}

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- the training loop ----------------------------------------------------------------------

    def train(self, steps: int = 1000, print_each: int | None = 100, err_hist: bool = False,
              progress: bool = True) -> float | tuple[float, list[float], list[dict[str, np.ndarray]]]:
        """Take `steps` steps on the training data and return the loss of the last one.

        Every `print_each` steps it prints the loss (`None` or 0: never); `progress` shows a tqdm
        progress bar. With `err_hist=True` it returns `(loss, loss_hist, para_hist)`: the loss at
        every step (before that step's update) and a copy of every parameter after every step.
        That copy costs memory, 2 MB a step (float32) for the paper's MNIST network: keep
        `err_hist` for small models or few steps. The model is in training mode while it trains.
        """
        model = self.model
        if model is None or self.x_train is None:
            raise ValueError(f"train() needs a model and training data: {type(self).__name__}(model, x_train, y_train)")
        steps = _count(steps, "train: steps")
        params = model.parameters()
        loss_hist: list[float] = []
        para_hist: list[dict[str, np.ndarray]] = []
        bar = (tqdm(total=steps, desc=type(self).__name__, unit="step", mininterval=1)  # once a second: logs stay short
               if progress and tqdm is not None else None)
        was_training = model.training
        model.train()
        try:
            for step in range(1, steps + 1):
                x, y = self._next_batch()
                grads, loss = model.get_grad(x, y)
                self.step(params, grads)
                if err_hist:
                    loss_hist.append(loss)
                    para_hist.append({name: node.value.copy() for name, node in params.items()})
                if bar is not None:
                    bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
                    bar.update()
                if print_each and step % print_each == 0:
                    _say(f"step {step}/{steps}: loss {loss:.6g}")
        finally:
            if bar is not None:
                bar.close()
            model.train(was_training)
        return (loss, loss_hist, para_hist) if err_hist else loss

    def _next_batch(self) -> tuple[Any, Any]:
        if self.batch_size is None or self.batch_size >= len(self.x_train):
            return self.x_train, self.y_train
        batch = next(self._batches, None)
        if batch is None:  # start the next shuffled pass over the data
            self._batches = minibatches(self.x_train, self.y_train, self.batch_size, rng=self.rng)
            batch = next(self._batches)
        return batch


class SGD(Optimizer):
    """Stochastic gradient descent, as `torch.optim.SGD`: p <- p - learning_rate * d.

    With `momentum` mu > 0: v <- mu v + g and d = v (PyTorch's form, no dampening; Sutskever et
    al.'s form scaled by 1/learning_rate), or with `nesterov=True` d = g + mu v. Without: d = g.
    """

    def __init__(self, model: Model | None = None, x_train: Any = None, y_train: Any = None,
                 learning_rate: float = 1e-5, *, momentum: float = 0.0, nesterov: bool = False,
                 **options: Any) -> None:
        super().__init__(model, x_train, y_train, learning_rate, **options)
        if not 0 <= momentum < 1:
            raise ValueError(f"{type(self).__name__}: momentum must lie in [0, 1), got {momentum}")
        if nesterov and not momentum:
            raise ValueError(f"{type(self).__name__}: nesterov=True needs a momentum > 0")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def _new_state(self, param: np.ndarray) -> dict[str, Any]:
        return {"velocity": np.zeros_like(param)} if self.momentum else {}

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        if self.momentum:
            velocity = state["velocity"]
            velocity *= self.momentum
            velocity += grad  # the first step gives v = g, as PyTorch's buffer starts as a copy of g
            grad = grad + self.momentum * velocity if self.nesterov else velocity
        param -= self.learning_rate * grad


class SGD_Momentum(SGD):
    """SGD with momentum 0.9 by default (the paper's "SGD Momentum"); see `SGD`.

    Its default learning rate, 1e-6, is SGD's times (1 - momentum): momentum makes the steps about
    1 / (1 - momentum) times longer once the velocity has built up.
    """

    def __init__(self, model: Model | None = None, x_train: Any = None, y_train: Any = None,
                 learning_rate: float = 1e-6, *, momentum: float = 0.9, nesterov: bool = False,
                 **options: Any) -> None:
        super().__init__(model, x_train, y_train, learning_rate, momentum=momentum, nesterov=nesterov, **options)


Momentum = SGD_Momentum


class RMSProp(Optimizer):
    """RMSProp (Hinton's lecture 6e), as `torch.optim.RMSprop`:

    s <- decay s + (1 - decay) g^2,   p <- p - learning_rate * g / (sqrt(s) + eps).

    `decay` is PyTorch's `alpha` (Keras' `rho`); as in PyTorch, eps is added outside the square root.
    """

    def __init__(self, model: Model | None = None, x_train: Any = None, y_train: Any = None,
                 learning_rate: float = 1e-3, *, decay: float = 0.9, eps: float = 1e-8, **options: Any) -> None:
        super().__init__(model, x_train, y_train, learning_rate, **options)
        if not 0 <= decay < 1:
            raise ValueError(f"RMSProp: decay must lie in [0, 1), got {decay}")
        self.decay, self.eps = float(decay), _positive(eps, "eps")

    def _new_state(self, param: np.ndarray) -> dict[str, Any]:
        return {"square_avg": np.zeros_like(param)}

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        square_avg = state["square_avg"]
        square_avg *= self.decay
        square_avg += (1 - self.decay) * np.square(grad)
        denominator = np.sqrt(square_avg)
        denominator += self.eps
        param -= self.learning_rate * grad / denominator


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), as `torch.optim.Adam`:

    m <- beta1 m + (1 - beta1) g,   v <- beta2 v + (1 - beta2) g^2,   t <- t + 1,
    p <- p - learning_rate / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t)) + eps).

    The (1 - beta^t) factors undo the bias of m and v towards their zero start.
    """

    def __init__(self, model: Model | None = None, x_train: Any = None, y_train: Any = None,
                 learning_rate: float = 1e-3, *, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 **options: Any) -> None:
        super().__init__(model, x_train, y_train, learning_rate, **options)
        for value, label in ((beta1, "beta1"), (beta2, "beta2")):
            if not 0 <= value < 1:
                raise ValueError(f"Adam: {label} must lie in [0, 1), got {value}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), _positive(eps, "eps")

    def _new_state(self, param: np.ndarray) -> dict[str, Any]:
        return {"step": 0, "m": np.zeros_like(param), "v": np.zeros_like(param)}

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any]) -> None:
        state["step"] = t = state["step"] + 1
        m, v = state["m"], state["v"]
        m *= self.beta1
        m += (1 - self.beta1) * grad
        v *= self.beta2
        v += (1 - self.beta2) * np.square(grad)
        denominator = np.sqrt(v)
        denominator /= math.sqrt(1 - self.beta2 ** t)
        denominator += self.eps
        param -= (self.learning_rate / (1 - self.beta1 ** t)) * m / denominator


def _positive(value: float, label: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) or not value > 0:
        raise ValueError(f"{label} must be a positive number, got {value!r}")
    return float(value)


def _say(message: str) -> None:
    """Print a line without breaking a progress bar that is being drawn."""
    if tqdm is not None:
        tqdm.write(message)
    else:  # pragma: no cover
        print(message)
