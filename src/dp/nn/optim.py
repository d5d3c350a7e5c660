"""Optimizers: update rules that move parameters against their gradients, and the training loop.

Two ways to use them, as in the DP paper:

    loss = SGD(net, x_train, y_train).train(steps=1000, print_each=100)
    loss, loss_hist, para_hist = Adam(net, x_train, y_train, batch_size=128).train(
        steps=1000, print_each=100, err_hist=True)

or by hand, one update at a time (the project sheet's `optimizer(model.variables, gradients)`):

    opt = Adam(learning_rate=1e-3)
    grads, loss = net.get_grad(x, y)
    opt.step(net, grads)      # or opt(net.variables, grads), or a dict name -> array

Each rule follows PyTorch's formulas exactly (`torch.optim.SGD`, `RMSprop`, `Adam`, `AdamW`), so
the same parameters and gradients give the same steps. Its state (momentum buffers, moment
estimates, step counts) lives in the optimizer, keyed by parameter name; parameters are updated in
place. The names are dp's own: PyTorch's `lr`, `betas` and RMSprop's `alpha` are refused with an
error that gives dp's (`learning_rate`, `beta1` and `beta2`, `decay`).

The training extras, each as PyTorch has it:

* Weight decay. `weight_decay=` adds weight_decay * p to the gradient (an L2 penalty) in `SGD`,
  `Momentum`, `RMSProp` and `Adam`; `AdamW` decays decoupled, p <- p (1 - lr weight_decay), before
  its Adam step (default 0.01).
* Gradient clipping. `clip_grad_norm(grads, max_norm, norm_type=2.0)` by hand, or
  `clip_grad_norm=max_norm` on any optimizer: each `step` then first scales all the gradients it
  was given together (2-norm), as `torch.nn.utils.clip_grad_norm_` on the model's parameters
  before `optimizer.step()`, so before the L2 term; `last_grad_norm` keeps their norm before
  clipping.
* Learning-rate schedules (`dp.nn.schedules`): `schedule=CosineAnnealingLR(T_max=1000)` and so on.
  The schedule advances once per `step` (so once per step of `train`), and each group's base
  learning rate follows it: step t uses `schedule(t, base_lr)`; `learning_rates()` tells the rates
  of the next step.
* Parameter groups, e.g. no weight decay on biases and norms:
  `groups=[{"params": ["h1.b", "h2.b"], "weight_decay": 0.0}]`. "params" is a list of names (or of
  named parameter Nodes) or a predicate name -> bool; a group may set any of the optimizer's
  hyper-parameters (`hyper_parameters`), and every parameter in no group uses the optimizer's own.
* Models without labels (a VAE, an autoencoder): `Opt(model, x_train)` trains a model whose
  `loss(self, x)` takes no y.
* Training through a trace (the DP paper's static graph): `compile=True` makes every step of
  `train` call `model.get_grad(x, y, compile=True)`, which records the loss's graph once per
  shape of the batch (a last, smaller minibatch traces once more) and replays it as generated
  NumPy code: the same losses and updates, without the dynamic graph's bookkeeping.
  `compile="check"` replays and also runs the loss dynamically, raising an error where the two
  differ. A model a trace would get wrong in training mode (Dropout's random masks, BatchNorm's
  running statistics) is refused when the optimizer is made; see `Model.get_grad`.

A model with no parameters is refused when the optimizer is made, as PyTorch refuses "an empty
parameter list": it happens when every Node was left unnamed (an unnamed Node is a constant).

Default learning rates. The paper's loss sums over the examples of a batch (`loss.sum()`), and
`batch_size=None` trains on the whole training set at once, so the gradient grows with the number
of examples. SGD's default, 1e-5, keeps full-batch training on a few thousand to a few ten
thousand MNIST digits stable with that summed loss; for a loss averaged over the batch (`"mean"`,
as `cross_entropy` does by default) use about `batch_size` times more, e.g. 0.1. RMSProp and Adam
divide by a running gradient scale, so their defaults (1e-3) suit summed and averaged losses alike.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import math
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from numbers import Real
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np

from dp.allocator import keep_freed_memory
from dp.data import GeneratorAttribute, minibatches
from dp.nn.init import RngLike
from dp.nn.layers import Layer, _count
from dp.nn.model import CompileMode, Model, _compile_mode
from dp.nn.schedules import Schedule, _non_negative, _number, _positive
from dp.node import Node
from dp.threads import limit_blas_threads

try:  # tqdm draws the progress bar; it is optional (numpy is dp's only requirement).
    from tqdm import tqdm
except ImportError:  # pragma: no cover - exercised only without tqdm installed
    tqdm = None

__all__ = ["Adam", "AdamW", "Momentum", "Optimizer", "RMSProp", "SGD", "SGD_Momentum", "clip_grad_norm"]

Params = Mapping[str, Node | np.ndarray] | Layer
Group = Mapping[str, Any]

# PyTorch's spellings of hyper-parameters, to point a user who brings them to dp's. dp takes only
# its own names: an alias would be a second name for every hyper-parameter, forever, in the
# signatures, the groups and the attributes, and a refusal that names the right one costs a
# PyTorch user one edit.
_TORCH_KEYS = {"lr": "learning_rate", "betas": "beta1 and beta2", "alpha": "decay"}


_O = TypeVar("_O", bound="Optimizer")
_P = ParamSpec("_P")  # the checked __init__'s own parameters, which mypy and help() see through the check


def _explains_mistakes(init: Callable[Concatenate[_O, _P], None]) -> Callable[Concatenate[_O, _P], None]:
    """An optimizer's `__init__`, with errors that name the right argument where Python's would
    not: PyTorch's keywords (`lr`, `betas`, `alpha`), a misspelt keyword, and hyper-parameters
    given by position. `help` and `inspect.signature` still show `init`'s own signature."""
    signature = inspect.signature(init)
    renamed = getattr(init, "__renamed_keywords__", {})  # deprecated keywords (dp._api.renamed_keyword) still bind

    @functools.wraps(init)
    def checked(self: _O, /, *args: _P.args, **kwargs: _P.kwargs) -> None:
        try:
            signature.bind(self, *args, **{renamed.get(key, key): value for key, value in kwargs.items()})
        except TypeError as error:
            raise TypeError(_mistake(type(self).__name__, signature, len(args), kwargs, error)) from None
        init(self, *args, **kwargs)

    return checked


def _checked_schedule(schedule: Any, who: str) -> Schedule | None:
    if schedule is not None and not isinstance(schedule, Schedule):
        raise TypeError(
            f"{who}: schedule must be a dp.nn schedule (StepLR, CosineAnnealingLR, LinearLR, "
            f"SequentialLR, LambdaLR), got {type(schedule).__name__}; for a factor that is a "
            "function of the step, LambdaLR(lambda step: ...)"
        )
    return schedule


def _checked_clip(clip_grad_norm: Any, who: str) -> float | None:
    return None if clip_grad_norm is None else _positive(clip_grad_norm, f"{who}: clip_grad_norm")


def _mistake(who: str, signature: inspect.Signature, given: int, kwargs: Mapping[str, Any], error: TypeError) -> str:
    """What is wrong with a call `signature` refused, said with dp's names."""
    names = [name for name in signature.parameters if name != "self"]
    by_position = [name for name in names if signature.parameters[name].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    for key, value in kwargs.items():
        if key in names:
            continue
        ours = _TORCH_KEYS.get(key)
        if key == "betas" and "beta1" in names:
            pair = value if isinstance(value, tuple | list) and len(value) == 2 else ("...", "...")
            return f"{who}: PyTorch's betas are two arguments in dp: {who}(..., beta1={pair[0]!r}, beta2={pair[1]!r})"
        if ours in names:
            return f"{who}: PyTorch's {key!r} is {ours!r} in dp: {who}(..., {ours}={value!r})"
        close = difflib.get_close_matches(key, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"{who} has no argument {key!r}: {hint}it takes {', '.join(names)}"
    if given > len(by_position):
        keyword = names[len(by_position)]
        return (
            f"{who} takes {len(by_position)} arguments by position ({', '.join(by_position)}) and the "
            f"others by keyword, e.g. {who}(model, x_train, y_train, learning_rate=0.01, {keyword}=...); "
            f"got {given}"
        )
    return f"{who}: {error}"


#: The end of each dp optimizer's docstring (`Optimizer.__init_subclass__`), so that `help(dp.Adam)`
#: shows the arguments every optimizer takes and how to use one.
_EVERY_OPTIMIZER = """
    `weight_decay`, `batch_size`, `rng`, `groups`, `schedule`, `clip_grad_norm` and `compile`: as
    for every optimizer (see `Optimizer`). To train a model on its data, as the DP paper does:

        {name}(net, x_train, y_train, learning_rate=...).train(steps=1000, print_each=100)

    or a step at a time, on gradients computed any way:

        optimizer = {name}(learning_rate=...)
        grads, loss = net.get_grad(x_batch, y_batch)
        optimizer.step(net, grads)
    """


class Optimizer:
    """Base class: `Opt(model, x_train, y_train, learning_rate, *, <its own hyper-parameters>,
    weight_decay=0.0, batch_size=None, rng=None, groups=None, schedule=None, clip_grad_norm=None,
    compile=False)`.

    `model` and `x_train` are needed only by `train`; `step` works on any parameters. `y_train`
    is left out for a model whose loss takes only x. Only these four go by position, as in the
    DP paper's `SGD(net, x_train, y_train)`; the others go by keyword. `batch_size=None` trains on
    all the data at every step; otherwise each step takes the next minibatch of a shuffled pass
    over the data (`rng`: a seed or Generator, for reproducibility; the last batch of a pass holds
    what is left, so with a summed loss its loss is smaller). `weight_decay`, `groups`,
    `schedule`, `clip_grad_norm` and `compile` (train through `dp.trace`) are described in the
    module's docstring. Arguments are checked when the optimizer is made, with errors that give
    dp's name for PyTorch's (`lr` is `learning_rate`).

    The hyper-parameters are attributes (`opt.learning_rate = 0.01` takes effect at the next step,
    in every group that does not set its own; a value the constructor would refuse is refused
    there). A subclass lists its own in `hyper_parameters`, sets them as attributes before calling
    `Optimizer.__init__`, checks them in `_check_hyper` and defines `_update(param, grad, state, hyper)`.

    To train a model on its data, as the DP paper does:

        Adam(net, x_train, y_train, learning_rate=1e-3).train(steps=1000, print_each=100)

    or a step at a time, on gradients computed any way:

        optimizer = Adam(learning_rate=1e-3)
        grads, loss = net.get_grad(x_batch, y_batch)
        optimizer.step(net, grads)
    """

    hyper_parameters: tuple[str, ...] = ("learning_rate", "weight_decay")
    decoupled_weight_decay = False  # True: the rule decays the parameters itself (AdamW)
    rng = GeneratorAttribute()  # the minibatches' order

    def __setattr__(self, name: str, value: Any) -> None:
        # PyTorch's names would be new attributes that nothing reads.
        if name in _TORCH_KEYS and name not in type(self).hyper_parameters:  # a user's own may be "alpha"
            raise AttributeError(f"{type(self).__name__}: PyTorch's {name!r} is {_TORCH_KEYS[name]!r} in dp")
        super().__setattr__(name, value)

    def __init_subclass__(cls, **options: Any) -> None:
        """Ends the docstring of each of dp's own optimizers as Optimizer's ends (`_EVERY_OPTIMIZER`)."""
        super().__init_subclass__(**options)
        if cls.__module__ == __name__ and cls.__doc__:  # dp's own optimizers end as Optimizer's does
            cls.__doc__ = cls.__doc__.rstrip() + "\n" + _EVERY_OPTIMIZER.format(name=cls.__name__)

    @_explains_mistakes
    def __init__(
        self,
        model: Model | None = None,
        x_train: Any = None,
        y_train: Any = None,
        learning_rate: float = 1e-3,
        *,
        weight_decay: float = 0.0,
        batch_size: int | None = None,
        rng: RngLike = None,
        groups: Sequence[Group] | None = None,
        schedule: Schedule | None = None,
        clip_grad_norm: float | None = None,
        compile: CompileMode = False,
    ) -> None:
        who = type(self).__name__
        if model is not None and not isinstance(model, Model):
            raise TypeError(
                f"{who}: the first argument is the model, got {type(model).__name__}; "
                f"give hyper-parameters by keyword: {who}(learning_rate=...)"
            )
        if _is_number(x_train):  # SGD(net, 0.1): a learning rate where the data goes
            rate = np.asarray(x_train).item()
            raise TypeError(
                f"{who}(model, x_train, y_train): the second positional argument is the training "
                f"inputs, x_train, but got the number {rate!r}; give the learning rate by keyword: "
                f"{who}(model, x_train, y_train, learning_rate={rate!r})"
            )
        if _is_number(y_train):
            rate = np.asarray(y_train).item()
            raise TypeError(
                f"{who}(model, x_train, y_train): the third positional argument is the training "
                f"labels, y_train, but got the number {rate!r}; give the learning rate by keyword: "
                f"{who}(model, x_train, y_train, learning_rate={rate!r}), or "
                f"{who}(model, x_train, learning_rate={rate!r}) for a model without labels"
            )
        if x_train is None and y_train is not None:
            raise ValueError(
                f"{who}: y_train without x_train; give x_train, y_train (or x_train alone for a model without labels)"
            )
        if y_train is not None and len(x_train) != len(y_train):
            raise ValueError(f"{who}: x_train has {len(x_train)} examples, y_train {len(y_train)}")
        self.learning_rate, self.weight_decay = learning_rate, weight_decay
        for key, value in self._check_hyper(self._defaults(), who).items():
            setattr(self, key, value)
        self.groups = self._checked_groups(groups)
        self._groups_checked = self.groups  # the list checked last: one set later is checked at the next step
        self.schedule = _checked_schedule(schedule, who)
        self.clip_grad_norm = _checked_clip(clip_grad_norm, who)
        self.last_grad_norm: float | None = None  # the gradients' total norm before clipping, at the last step
        self.batch_size = None if batch_size is None else _count(batch_size, f"{who}: batch_size")
        self.compile = _compile_mode(compile, who)
        self._assignment: tuple[Any, dict[str, int]] | None = None  # (names, groups' members) -> group, cached
        self._next_hypers: tuple[int, list[dict[str, Any]]] | None = None  # train()'s, checked before its batch
        if model is not None:
            self._assign(model.parameters())  # refuses a model without parameters, checks the groups' names
            if x_train is not None:
                model._check_loss_arguments(labelled=y_train is not None)
            refusal = model._compile_refusal(training=True) if self.compile else None
            if refusal:  # train() puts the model in training mode: refused now, before any step
                raise ValueError(f"{who}(compile={self.compile!r}): {refusal}")
        self.model, self.x_train, self.y_train = model, x_train, y_train
        self.rng = rng
        self.state: dict[str, dict[str, Any]] = {}
        self.steps_taken = 0  # the schedule's clock: one tick per call of step()
        self._batches: Iterator[Any] = iter(())  # the current pass over the data

    # -- hyper-parameters and groups ------------------------------------------------------------

    def _defaults(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.hyper_parameters}

    def _check_hyper(self, hyper: Mapping[str, Any], who: str) -> dict[str, Any]:
        """Every hyper-parameter in `hyper`, checked and normalised; `who` starts the messages."""
        return {  # a learning rate of 0 freezes (a group, or the first step of a warm-up), as in PyTorch
            "learning_rate": _non_negative(hyper["learning_rate"], f"{who}: learning_rate"),
            "weight_decay": _non_negative(hyper["weight_decay"], f"{who}: weight_decay"),
        }

    def _checked_groups(self, groups: Sequence[Group] | None) -> list[dict[str, Any]]:
        who = type(self).__name__
        if groups is None:
            return []
        if not isinstance(groups, list | tuple):
            raise TypeError(
                f"{who}: groups must be a list of dicts such as {{'params': [...], 'weight_decay': 0.0}}, "
                f"got {type(groups).__name__}"
            )
        allowed = ("params", *self.hyper_parameters)
        checked = []
        for index, group in enumerate(groups):
            where = f"{who}: group {index}"
            if not isinstance(group, Mapping):
                raise TypeError(
                    f"{where} must be a dict such as {{'params': [...], 'weight_decay': 0.0}}, "
                    f"got {type(group).__name__}"
                )
            unknown = [key for key in group if key not in allowed]
            if unknown:
                hints = "".join(
                    f"; PyTorch's {key!r} is {_TORCH_KEYS[key]!r} here" for key in unknown if key in _TORCH_KEYS
                )
                raise ValueError(
                    f"{where} has unknown key(s) {unknown}: a group has 'params' and may set "
                    f"{list(self.hyper_parameters)}{hints}"
                )
            if "params" not in group:
                raise ValueError(f"{where} has no 'params': a list of parameter names, or a predicate name -> bool")
            settings = {key: value for key, value in group.items() if key != "params"}
            normalised = self._check_hyper(self._defaults() | settings, where)
            checked.append(
                {"params": _group_members(group["params"], where), **{key: normalised[key] for key in settings}}
            )
        return checked

    def _assign(self, params: Mapping[str, Any]) -> dict[str, int]:
        """dict name -> the index of its group (len(self.groups) for the rest), for these parameters.

        Refuses an empty parameter list, a group naming a parameter that is not there or matching
        none, and a parameter in two groups.
        """
        who = type(self).__name__
        if not params:
            raise ValueError(
                f"{who}: optimizer got an empty parameter list: there are no parameters to train. "
                'Parameters are named leaf Nodes, Node(w, "w") (layers such as Linear make them); '
                "an unnamed Node is a constant, so this happens when every Node was left unnamed"
            )
        names = tuple(params)
        # The groups take part in the key: `opt.groups = [...]` or a group's "params" changed later reassign.
        key = (names, tuple(id(g["params"]) if callable(g["params"]) else tuple(g["params"]) for g in self.groups))
        if self._assignment is not None and self._assignment[0] == key:
            return self._assignment[1]
        owner: dict[str, int] = {}
        for index, group in enumerate(self.groups):
            members = group["params"]
            if callable(members):
                chosen = [name for name in names if members(name)]
                if not chosen:
                    raise ValueError(
                        f"{who}: group {index}'s predicate matches none of the parameters {_listed(names)}"
                    )
            else:
                missing = [name for name in members if name not in params]
                if missing:
                    raise ValueError(
                        f"{who}: group {index} names {missing}, which are not among the parameters {_listed(names)}"
                    )
                chosen = list(members)
            for name in chosen:
                if name in owner:
                    raise ValueError(
                        f"{who}: parameter {name!r} is in group {owner[name]} and in group {index}; "
                        "a parameter belongs to one group at most"
                    )
                owner[name] = index
        assignment = {name: owner.get(name, len(self.groups)) for name in names}
        self._assignment = (key, assignment)
        return assignment

    def _hypers(self) -> list[dict[str, Any]]:
        """The hyper-parameters of each group for the next step, the rest's last, with the learning
        rates the schedule gives."""
        hypers = self._checked_settings()
        if self.schedule is not None:
            for hyper in hypers:
                hyper["learning_rate"] = self.schedule(self.steps_taken, hyper["learning_rate"])
        return hypers

    def _checked_settings(self) -> list[dict[str, Any]]:
        """The hyper-parameters of each group, the rest's last, before the schedule, checked again
        with the schedule and the clipping (`opt.learning_rate = -0.1` is refused as the
        constructor refuses it), so that a bad setting stops a step before it changes anything."""
        who = type(self).__name__
        if self.groups is not self._groups_checked:  # set or replaced since: checked as when made
            self.groups = self._checked_groups(self.groups)
            self._groups_checked = self.groups
        defaults = self._check_hyper(self._defaults(), who)
        hypers = []
        for index, group in enumerate(self.groups):
            settings = {key: value for key, value in group.items() if key != "params"}
            checked = self._check_hyper(defaults | settings, f"{who}: group {index}")
            hypers.append(defaults | {key: checked[key] for key in settings})
        hypers.append(defaults)
        _checked_schedule(self.schedule, who)
        _checked_clip(self.clip_grad_norm, who)
        return hypers

    def learning_rates(self) -> list[float]:
        """The learning rate of each group at the next step (the schedule applied): the groups' in
        their order, then the last one for the parameters in no group (the only one without groups),
        as PyTorch's `scheduler.get_last_lr()` with the rest as the last param group."""
        return [hyper["learning_rate"] for hyper in self._hypers()]

    # -- one update -----------------------------------------------------------------------------

    def step(self, params: Params, grads: Mapping[str, Any]) -> None:
        """Update `params` in place with `grads` (dict name -> gradient), and advance the schedule.

        `params` is a model, or a dict name -> parameter Node (`model.variables`) or array.
        A parameter without a gradient is left as it is.
        """
        keep_freed_memory()  # dp trains here (dp/allocator.py)
        if isinstance(params, Layer):
            params = params.parameters()
        who = f"{type(self).__name__}.step"
        if not isinstance(params, Mapping) or not isinstance(grads, Mapping):
            raise TypeError(
                f"{who}: expected a model or a dict name -> parameter, and a dict name -> gradient, "
                f"got {type(params).__name__} and {type(grads).__name__}"
            )
        # Every name, type and shape is checked, and the groups and learning rates found, before
        # anything changes, so a rejected call leaves the parameters and the optimizer's state as
        # they were (and a gradient that would only broadcast onto its parameter, a wrong answer,
        # is refused).
        updates = {}
        for name, grad in grads.items():
            try:
                param = params[name]
            except KeyError:
                raise KeyError(f"{who}: a gradient for {name!r}, but no parameter of that name") from None
            value = param.value if isinstance(param, Node) else param
            if isinstance(param, Node) and isinstance(value, np.generic):
                value = np.array(value)  # a number held as a 0-d array, updatable in place (set below)
            if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or not value.flags.writeable:
                got = (
                    f"a {type(value).__name__}"
                    if not isinstance(value, np.ndarray)
                    else "a read-only array"
                    if value.dtype.kind == "f"
                    else f"an array of dtype {value.dtype}"
                )
                raise TypeError(
                    f"{who}: parameter {name!r} must be a Node or a writable NumPy float array "
                    f"(updated in place), got {got}"
                )
            grad = np.asarray(grad.value if isinstance(grad, Node) else grad)
            if grad.dtype.kind not in "biuf":
                raise TypeError(f"{who}: the gradient for {name!r} must be numbers, got dtype {grad.dtype}")
            if grad.shape != value.shape:
                raise ValueError(
                    f"{who}: the gradient for {name!r} has shape {grad.shape}, but the parameter "
                    f"has shape {value.shape}"
                )
            for key, kept in self.state.get(name, {}).items():  # the state is kept by name
                if isinstance(kept, np.ndarray) and kept.shape != value.shape:
                    raise ValueError(
                        f"{who}: parameter {name!r} has shape {value.shape}, but this optimizer's "
                        f"{key} for {name!r} has shape {kept.shape}: it was used on other parameters "
                        "of the same names (another model?). Make a new optimizer for this model, "
                        "or clear the old state first: optimizer.state.clear()"
                    )
            updates[name] = (value, grad)
        group_of = self._assign(params)
        if self._next_hypers is not None and self._next_hypers[0] == self.steps_taken:
            hypers = self._next_hypers[1]  # train() computed and checked them before drawing the batch
        else:
            hypers = self._hypers()
        self._next_hypers = None
        for name, (value, _) in updates.items():
            param = params[name]
            if isinstance(param, Node) and param.value is not value:
                param.value = value  # the 0-d array made above: from now on updated in place
        if self.clip_grad_norm is not None:
            clipped = {name: grad for name, (_, grad) in updates.items()}
            self.last_grad_norm = clip_grad_norm(clipped, self.clip_grad_norm)
            updates = {name: (value, clipped[name]) for name, (value, _) in updates.items()}
        for name, (value, grad) in updates.items():
            hyper = hypers[group_of[name]]
            if hyper["weight_decay"] and not self.decoupled_weight_decay:
                grad = grad + hyper["weight_decay"] * value  # L2: the gradient of weight_decay / 2 * |p|^2
            self._update(value, grad, self.state.setdefault(name, {}), hyper)
        self.steps_taken += 1

    __call__ = step

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], hyper: dict[str, Any]) -> None:
        """Move `param` in place; `state` (empty at the first step) is this parameter's to keep."""
        raise NotImplementedError(f"{type(self).__name__} must define _update(param, grad, state, hyper)")

    # -- the training loop ----------------------------------------------------------------------

    def train(
        self,
        steps: int = 1000,
        print_each: int | None = 100,
        err_hist: bool = False,
        progress: bool = True,
        *,
        blas_threads: int | None = 1,
    ) -> float | tuple[float, list[float], list[dict[str, np.ndarray]]]:
        """Take `steps` steps on the training data and return the loss of the last one.

        Every `print_each` steps it prints the loss (`None` or 0: never); `progress` shows a tqdm
        progress bar. With `err_hist=True` it returns `(loss, loss_hist, para_hist)`: the loss at
        every step (before that step's update) and a copy of every parameter after every step.
        That copy costs memory, 2 MB a step (float32) for the paper's MNIST network: keep
        `err_hist` for small models or few steps. The model is in training mode while it trains.
        A second call goes on where the first stopped (minibatches, schedule, optimizer state).

        It runs on `blas_threads` BLAS threads (default 1: a busy machine cannot wreck a step on
        one thread, while two threads that lose a core to another program wait for each other
        at every matrix product, several times slower: dp/threads.py; `None` leaves BLAS as it is).
        """
        model = self.model
        if model is None or self.x_train is None:
            raise ValueError(
                f"train() needs a model and training data: {type(self).__name__}(model, x_train, "
                "y_train), or (model, x_train) for a model without labels"
            )
        steps = _count(steps, "train: steps")
        blas_threads = None if blas_threads is None else _count(blas_threads, "train: blas_threads")
        print_each = None if print_each is None or print_each == 0 else _count(print_each, "train: print_each")
        params = model.parameters()
        loss_hist: list[float] = []
        para_hist: list[dict[str, np.ndarray]] = []
        bar = (
            tqdm(total=steps, desc=type(self).__name__, unit="step", mininterval=1)  # once a second: logs stay short
            if progress and tqdm is not None
            else None
        )
        was_training = model.training
        model.train()
        try:
            with limit_blas_threads(blas_threads):
                for step in range(1, steps + 1):
                    # A setting changed since the last step, or a schedule's bad value, is refused before the batch.
                    self._next_hypers = (self.steps_taken, self._hypers())
                    grads, loss = model.get_grad(*self._next_batch(), compile=self.compile)
                    self.step(params, grads)
                    if err_hist:
                        loss_hist.append(loss)
                        para_hist.append({name: node.value.copy() for name, node in params.items()})  # type: ignore[misc]  # a parameter's value is an array: Layer._walk makes it one
                    if bar is not None:
                        bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
                        bar.update()
                    if print_each and step % print_each == 0:
                        _say(f"step {step}/{steps}: loss {loss:.6g}", bar)
        finally:
            if bar is not None:
                bar.close()
            model.train(was_training)
        return (loss, loss_hist, para_hist) if err_hist else loss

    def _next_batch(self) -> tuple[Any, ...]:
        """The arguments of the next step's `get_grad`: (x, y), or (x,) without labels."""
        labelled = self.y_train is not None
        if self.batch_size is None or self.batch_size >= len(self.x_train):
            return (self.x_train, self.y_train) if labelled else (self.x_train,)
        batch = next(self._batches, None)
        if batch is None:  # start the next shuffled pass over the data
            self._batches = minibatches(self.x_train, self.y_train, self.batch_size, rng=self.rng)
            batch = next(self._batches)
        return batch if labelled else (batch,)  # type: ignore[return-value]  # a batch is a tuple of arrays


class SGD(Optimizer):
    """Stochastic gradient descent, as `torch.optim.SGD`: p <- p - learning_rate * d.

    With `momentum` mu > 0: v <- mu v + g and d = v (PyTorch's form, no dampening; Sutskever et
    al.'s form scaled by 1/learning_rate), or with `nesterov=True` d = g + mu v. Without: d = g.
    `weight_decay` wd replaces g by g + wd p first, as PyTorch's does.

    `learning_rate` (default 1e-5, for the paper's summed loss: see the module's docstring),
    `momentum` in [0, 1) (default 0), `nesterov` (needs momentum > 0).
    """

    hyper_parameters = (*Optimizer.hyper_parameters, "momentum", "nesterov")

    @_explains_mistakes
    def __init__(
        self,
        model: Model | None = None,
        x_train: Any = None,
        y_train: Any = None,
        learning_rate: float = 1e-5,
        *,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        batch_size: int | None = None,
        rng: RngLike = None,
        groups: Sequence[Group] | None = None,
        schedule: Schedule | None = None,
        clip_grad_norm: float | None = None,
        compile: CompileMode = False,
    ) -> None:
        self.momentum, self.nesterov = momentum, nesterov
        super().__init__(
            model,
            x_train,
            y_train,
            learning_rate,
            weight_decay=weight_decay,
            batch_size=batch_size,
            rng=rng,
            groups=groups,
            schedule=schedule,
            clip_grad_norm=clip_grad_norm,
            compile=compile,
        )

    def _check_hyper(self, hyper: Mapping[str, Any], who: str) -> dict[str, Any]:
        momentum = _fraction(hyper["momentum"], f"{who}: momentum")
        if not isinstance(hyper["nesterov"], bool | np.bool_):
            raise TypeError(f"{who}: nesterov must be True or False, got {hyper['nesterov']!r}")
        if hyper["nesterov"] and not momentum:
            raise ValueError(f"{who}: nesterov=True needs a momentum > 0")
        return super()._check_hyper(hyper, who) | {"momentum": momentum, "nesterov": bool(hyper["nesterov"])}

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], hyper: dict[str, Any]) -> None:
        momentum = hyper["momentum"]
        if momentum:
            velocity = state.get("velocity")
            if velocity is None:  # PyTorch's buffer starts as a copy of the first gradient
                velocity = state["velocity"] = np.array(grad, dtype=param.dtype)
            else:
                velocity *= momentum
                velocity += grad
            grad = grad + momentum * velocity if hyper["nesterov"] else velocity
        param -= hyper["learning_rate"] * grad


class SGD_Momentum(SGD):
    """SGD with momentum 0.9 by default (the paper's "SGD Momentum"); see `SGD`.

    Its default `learning_rate`, 1e-6, is SGD's times (1 - momentum): momentum makes the steps
    about 1 / (1 - momentum) times longer once the velocity has built up. `momentum` in [0, 1)
    (default 0.9), `nesterov` (Nesterov's form of the update).
    """

    @_explains_mistakes
    def __init__(
        self,
        model: Model | None = None,
        x_train: Any = None,
        y_train: Any = None,
        learning_rate: float = 1e-6,
        *,
        momentum: float = 0.9,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        batch_size: int | None = None,
        rng: RngLike = None,
        groups: Sequence[Group] | None = None,
        schedule: Schedule | None = None,
        clip_grad_norm: float | None = None,
        compile: CompileMode = False,
    ) -> None:
        super().__init__(
            model,
            x_train,
            y_train,
            learning_rate,
            momentum=momentum,
            nesterov=nesterov,
            weight_decay=weight_decay,
            batch_size=batch_size,
            rng=rng,
            groups=groups,
            schedule=schedule,
            clip_grad_norm=clip_grad_norm,
            compile=compile,
        )


Momentum = SGD_Momentum


class RMSProp(Optimizer):
    """RMSProp (Hinton's lecture 6e), as `torch.optim.RMSprop`:

    s <- decay s + (1 - decay) g^2,   p <- p - learning_rate * g / (sqrt(s) + eps).

    `decay` is PyTorch's `alpha` (Keras' `rho`); as in PyTorch, eps is added outside the square
    root, and `weight_decay` wd replaces g by g + wd p first.

    `learning_rate` (default 1e-3), `decay` in [0, 1) (default 0.9; PyTorch's is 0.99), `eps` > 0
    (default 1e-8).
    """

    hyper_parameters = (*Optimizer.hyper_parameters, "decay", "eps")

    @_explains_mistakes
    def __init__(
        self,
        model: Model | None = None,
        x_train: Any = None,
        y_train: Any = None,
        learning_rate: float = 1e-3,
        *,
        decay: float = 0.9,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        batch_size: int | None = None,
        rng: RngLike = None,
        groups: Sequence[Group] | None = None,
        schedule: Schedule | None = None,
        clip_grad_norm: float | None = None,
        compile: CompileMode = False,
    ) -> None:
        self.decay, self.eps = decay, eps
        super().__init__(
            model,
            x_train,
            y_train,
            learning_rate,
            weight_decay=weight_decay,
            batch_size=batch_size,
            rng=rng,
            groups=groups,
            schedule=schedule,
            clip_grad_norm=clip_grad_norm,
            compile=compile,
        )

    def _check_hyper(self, hyper: Mapping[str, Any], who: str) -> dict[str, Any]:
        return super()._check_hyper(hyper, who) | {
            "decay": _fraction(hyper["decay"], f"{who}: decay"),
            "eps": _positive(hyper["eps"], f"{who}: eps"),
        }

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], hyper: dict[str, Any]) -> None:
        decay = hyper["decay"]
        if not state:
            state["square_avg"] = np.zeros_like(param)
        square_avg = state["square_avg"]
        square_avg *= decay
        square_avg += (1 - decay) * np.square(grad)
        denominator = np.sqrt(square_avg)
        denominator += hyper["eps"]
        param -= hyper["learning_rate"] * grad / denominator


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), as `torch.optim.Adam`:

    m <- beta1 m + (1 - beta1) g,   v <- beta2 v + (1 - beta2) g^2,   t <- t + 1,
    p <- p - learning_rate / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t)) + eps).

    The (1 - beta^t) factors undo the bias of m and v towards their zero start; t counts this
    parameter's updates. `weight_decay` wd replaces g by g + wd p first (L2, as PyTorch's Adam;
    `AdamW` decays decoupled instead).

    `learning_rate` (default 1e-3), `beta1` and `beta2` in [0, 1) (PyTorch's `betas`, default 0.9
    and 0.999), `eps` > 0 (default 1e-8).
    """

    hyper_parameters = (*Optimizer.hyper_parameters, "beta1", "beta2", "eps")

    @_explains_mistakes
    def __init__(
        self,
        model: Model | None = None,
        x_train: Any = None,
        y_train: Any = None,
        learning_rate: float = 1e-3,
        *,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        batch_size: int | None = None,
        rng: RngLike = None,
        groups: Sequence[Group] | None = None,
        schedule: Schedule | None = None,
        clip_grad_norm: float | None = None,
        compile: CompileMode = False,
    ) -> None:
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        super().__init__(
            model,
            x_train,
            y_train,
            learning_rate,
            weight_decay=weight_decay,
            batch_size=batch_size,
            rng=rng,
            groups=groups,
            schedule=schedule,
            clip_grad_norm=clip_grad_norm,
            compile=compile,
        )

    def _check_hyper(self, hyper: Mapping[str, Any], who: str) -> dict[str, Any]:
        return super()._check_hyper(hyper, who) | {
            "beta1": _fraction(hyper["beta1"], f"{who}: beta1"),
            "beta2": _fraction(hyper["beta2"], f"{who}: beta2"),
            "eps": _positive(hyper["eps"], f"{who}: eps"),
        }

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], hyper: dict[str, Any]) -> None:
        beta1, beta2 = hyper["beta1"], hyper["beta2"]
        if not state:
            state.update(step=0, m=np.zeros_like(param), v=np.zeros_like(param))
        state["step"] = t = state["step"] + 1
        m, v = state["m"], state["v"]
        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * np.square(grad)
        denominator = np.sqrt(v)
        denominator /= math.sqrt(1 - beta2**t)
        denominator += hyper["eps"]
        param -= (hyper["learning_rate"] / (1 - beta1**t)) * m / denominator


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as `torch.optim.AdamW`:

    p <- p (1 - learning_rate * weight_decay), then Adam's step with the gradient as it is.

    Unlike L2 in Adam, the decay is not divided by Adam's running gradient scale, so every weight
    shrinks by the same fraction. `weight_decay` defaults to PyTorch's 0.01.

    `learning_rate` (default 1e-3), `beta1`, `beta2` and `eps` as for `Adam`.
    """

    decoupled_weight_decay = True

    @_explains_mistakes
    def __init__(
        self,
        model: Model | None = None,
        x_train: Any = None,
        y_train: Any = None,
        learning_rate: float = 1e-3,
        *,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        batch_size: int | None = None,
        rng: RngLike = None,
        groups: Sequence[Group] | None = None,
        schedule: Schedule | None = None,
        clip_grad_norm: float | None = None,
        compile: CompileMode = False,
    ) -> None:
        super().__init__(
            model,
            x_train,
            y_train,
            learning_rate,
            beta1=beta1,
            beta2=beta2,
            eps=eps,
            weight_decay=weight_decay,
            batch_size=batch_size,
            rng=rng,
            groups=groups,
            schedule=schedule,
            clip_grad_norm=clip_grad_norm,
            compile=compile,
        )

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict[str, Any], hyper: dict[str, Any]) -> None:
        if hyper["weight_decay"]:
            param *= 1 - hyper["learning_rate"] * hyper["weight_decay"]
        super()._update(param, grad, state, hyper)


# -- gradient clipping -------------------------------------------------------------------------


def clip_grad_norm(
    grads: MutableMapping[str, Any], max_norm: float, norm_type: float = 2.0, error_if_nonfinite: bool = False
) -> float:
    """Scale the gradients down together so that their total norm is at most about `max_norm`,
    as `torch.nn.utils.clip_grad_norm_`, and return the total norm before clipping.

    The total norm is the `norm_type`-norm of all the entries of all the gradients (a number > 0,
    or `math.inf` for the largest absolute entry). When `max_norm / (total + 1e-6)` is below 1,
    every gradient is multiplied by that factor; the 1e-6 is PyTorch's, which keeps the factor
    finite and makes a total just below max_norm scale by a hair too.

    The dict's entries are replaced by the scaled arrays (new arrays, of the gradients' dtype);
    the arrays it held are never written to, since gradients from `loss.grad(1)` can be read-only
    views or shared with other code. A non-finite total makes the gradients NaN or 0, as PyTorch's,
    or raises a ValueError with `error_if_nonfinite=True`. A rejected call changes nothing.

        grads, loss = model.get_grad(x, y)
        clip_grad_norm(grads, 1.0)
        optimizer.step(model, grads)
    """
    if not isinstance(grads, MutableMapping):
        raise TypeError(
            f"clip_grad_norm: grads must be a dict name -> gradient (its entries are replaced), "
            f"got {type(grads).__name__}"
        )
    max_norm = _positive(max_norm, "clip_grad_norm: max_norm")
    if isinstance(norm_type, bool) or not isinstance(norm_type, Real) or not norm_type > 0:
        raise ValueError(f"clip_grad_norm: norm_type must be a number > 0 or math.inf, got {norm_type!r}")
    arrays = {}
    for name, grad in grads.items():
        array = np.asarray(grad.value if isinstance(grad, Node) else grad)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"clip_grad_norm: the gradient for {name!r} must be numbers, got dtype {array.dtype}")
        arrays[name] = array
    # The norm of the gradients' norms, the way PyTorch combines them, in float64.
    norms = [np.linalg.norm(array.ravel().astype(np.float64, copy=False), norm_type) for array in arrays.values()]
    total = float(np.linalg.norm(np.array(norms, dtype=np.float64), norm_type)) if norms else 0.0
    if not math.isfinite(total) and error_if_nonfinite:
        raise ValueError(
            f"clip_grad_norm: the total norm of order {norm_type} of the gradients is {total}, "
            "so they cannot be clipped (error_if_nonfinite=True)"
        )
    factor = max_norm / (total + 1e-6)
    if not factor >= 1:  # PyTorch clamps the factor at 1: below 1 (or NaN, from a NaN total) it scales
        with np.errstate(invalid="ignore"):  # inf * 0 for an infinite total: NaN, as PyTorch's
            for name, array in arrays.items():
                grads[name] = array * factor
    return total


def _fraction(value: float, label: str) -> float:
    """A number in [0, 1): momentum, decay and the betas."""
    if not 0 <= _number(value, label) < 1:
        raise ValueError(f"{label} must lie in [0, 1), got {value!r}")
    return float(value)


def _group_members(members: Any, where: str) -> tuple[str, ...] | Callable[[str], bool]:
    """A group's "params": a predicate as it is, or the tuple of names it lists (a name, a named
    Node or a list of them), each once."""
    if callable(members) and not isinstance(members, Node):
        return members
    if isinstance(members, str | Node):
        members = [members]
    if not isinstance(members, list | tuple | set | frozenset):
        raise TypeError(
            f"{where}: 'params' must be a list of parameter names or a predicate name -> bool, "
            f"got {type(members).__name__}"
        )
    names = []
    for member in members:
        name = member.name if isinstance(member, Node) else member
        if not isinstance(name, str):
            raise TypeError(
                f"{where}: 'params' lists {member!r}, which is not a parameter name (a str) or a named parameter Node"
            )
        if name in names:
            raise ValueError(f"{where}: 'params' lists {name!r} twice")
        names.append(name)
    if not names:
        raise ValueError(f"{where}: 'params' is empty; list the group's parameter names")
    return tuple(names)


def _listed(names: tuple[str, ...], most: int = 10) -> str:
    shown = ", ".join(map(repr, names[:most]))
    return f"[{shown}{', ...' if len(names) > most else ''}] ({len(names)})"


def _say(message: str, bar: Any) -> None:
    """Print a line; while a tqdm `bar` is drawn, through `tqdm.write`, which clears the bar and
    draws it again below the line (a plain print would write the line into the bar's)."""
    if bar is not None:
        bar.write(message)
    else:
        print(message)


def _is_number(value: Any) -> bool:
    """A number (or a 0-d array) given where data goes."""
    return isinstance(value, Real) or (isinstance(value, np.ndarray) and value.ndim == 0)
