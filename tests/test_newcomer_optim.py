"""Optimizers and Sequential for a newcomer: signatures that show every argument, progress lines that
keep the bar intact, and clear errors for the usual first mistakes, each raised before anything changes."""

import contextlib
import copy
import inspect
import io
import pydoc
import re

import numpy as np
import pytest
import tqdm

from dp.nn import SGD, SGD_Momentum, Adam, AdamW, Linear, Optimizer, RMSProp, Sequential, mse, relu
from _models import Recorder

OPTIMIZERS = [SGD, SGD_Momentum, RMSProp, Adam, AdamW]
COMMON = ["learning_rate", "weight_decay", "batch_size", "rng", "groups", "schedule", "clip_grad_norm", "compile"]


def data():
    return np.ones((5, 1)), np.ones(5)


# --------------------------------------------------------------------------------------------
# Signatures and help()


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_the_signature_shows_every_argument_with_its_default(cls):
    parameters = inspect.signature(cls).parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in parameters.values())  # nothing hides behind **options
    positional = [name for name, p in parameters.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == ["model", "x_train", "y_train", "learning_rate"]  # the DP paper's order
    assert all(p.kind is p.KEYWORD_ONLY for name, p in parameters.items() if name not in positional)
    assert set(COMMON) | set(cls.hyper_parameters) <= set(parameters)
    made = cls()
    for name in cls.hyper_parameters:  # the default shown is the one the optimizer uses
        assert parameters[name].default == getattr(made, name), name


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_help_and_the_docstring_show_them(cls):
    text = pydoc.render_doc(cls, renderer=pydoc.plaintext)
    header = next(line for line in text.splitlines() if line.lstrip(" |").startswith(f"{cls.__name__}(model"))
    for name in [*COMMON, *cls.hyper_parameters]:
        assert f"{name}:" in header, name
        assert f"`{name}`" in cls.__doc__, name
    # and how to use it, in its own name: the paper's train(), then a step at a time
    assert f"{cls.__name__}(net, x_train, y_train, learning_rate=" in text and "optimizer.step(net, grads)" in text


def test_the_papers_positional_calls_still_work():
    x, y = data()
    assert SGD(Recorder(), x, y).learning_rate == 1e-5
    assert SGD(Recorder(), x, y, 0.1).learning_rate == 0.1
    assert Adam(Recorder(), x, y, 0.01, beta1=0.8).beta1 == 0.8
    assert isinstance(SGD(Recorder(), x, y).train(5, None, False, False), float)  # train(steps, print_each, ...)


# --------------------------------------------------------------------------------------------
# The usual first mistakes


@pytest.mark.parametrize("number, shown", [(0.1, "0.1"), (np.float64(0.1), "0.1"), (np.array(0.1), "0.1"), (1, "1")])
def test_a_learning_rate_where_x_train_goes_is_explained(number, shown):
    with pytest.raises(
        TypeError,
        match=r"second positional argument is the training inputs, x_train, but got the "
        rf"number {shown}; .*SGD\(model, x_train, y_train, learning_rate={shown}\)$",
    ):
        SGD(Recorder(), number)


def test_a_learning_rate_where_y_train_goes_is_explained():
    x, _ = data()
    with pytest.raises(
        TypeError,
        match=r"third positional argument is the training labels.*"
        r"SGD\(model, x_train, learning_rate=0\.1\) for a model without labels",
    ):
        SGD(Recorder(), x, 0.1)


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: SGD(Recorder(), lr=0.1),
            r"PyTorch's 'lr' is 'learning_rate' in dp: SGD\(\.\.\., learning_rate=0\.1\)",
        ),
        (lambda: Adam(lr=0.01, betas=(0.8, 0.99)), r"'lr' is 'learning_rate'"),
        (lambda: Adam(betas=(0.8, 0.99)), r"Adam\(\.\.\., beta1=0\.8, beta2=0\.99\)"),
        (lambda: RMSProp(alpha=0.99), r"PyTorch's 'alpha' is 'decay' in dp: RMSProp\(\.\.\., decay=0\.99\)"),
        (lambda: SGD_Momentum(momentun=0.9), r"SGD_Momentum has no argument 'momentun': did you mean 'momentum'\?"),
        (lambda: SGD(alpha=0.5), r"SGD has no argument 'alpha': it takes model, x_train, .*momentum"),
        (
            lambda: SGD(Recorder(), *data(), 0.1, 0.9),
            r"SGD takes 4 arguments by position \(model, x_train, y_train, "
            r"learning_rate\) and the others by keyword.*momentum=\.\.\..*got 5",
        ),
        (lambda: AdamW(Recorder(), *data(), 0.1, learning_rate=0.2), r"AdamW: .*multiple values for argument"),
    ],
)
def test_wrong_keywords_get_dps_names(make, message):
    with pytest.raises(TypeError, match=message):
        make()


def test_a_layer_class_in_sequential_is_explained():
    with pytest.raises(
        TypeError,
        match=r"item 0 is the class Linear, not a layer; create the layer: "
        r"Linear\(n_in, n_out\)",
    ):
        Sequential([Linear, relu])


@pytest.mark.parametrize("count", [1, 2, 3, 5])  # PyTorch's nn.Sequential(a, b, c, ...), however many
def test_layers_given_one_by_one_to_sequential_are_explained(count):
    layers = [Linear(2, 3), relu, Linear(3, 2), relu, Linear(2, 1)][:count]
    with pytest.raises(TypeError, match=r"Sequential takes one list of layers.*got Linear\(2 -> 3\) first"):
        Sequential(*layers)
    assert list(inspect.signature(Sequential).parameters) == ["layers", "loss"]  # help() shows the real one


def snapshot(optimizer):
    return copy.deepcopy(optimizer.state), optimizer.steps_taken


@pytest.mark.parametrize(
    "make",
    [
        lambda: SGD(learning_rate=0.1, momentum=0.9),
        lambda: RMSProp(),
        lambda: Adam(),
        lambda: AdamW(),
    ],
    ids=["SGD momentum", "RMSProp", "Adam", "AdamW"],
)
def test_reusing_an_optimizer_on_parameters_of_other_shapes_names_the_parameter(make):
    optimizer = make()
    first = Sequential([Linear(2, 3, "h", rng=0)], loss=mse)
    x, y = np.ones((4, 2)), np.zeros((4, 3))
    optimizer.step(first, first.get_grad(x, y)[0])
    other = Sequential([Linear(5, 3, "h", rng=1)], loss=mse)  # the same names, h.W of another shape
    grads = other.get_grad(np.ones((4, 5)), y)[0]
    before, state = other.get_param()["h.W"].copy(), snapshot(optimizer)
    with pytest.raises(
        ValueError,
        match=r"step: parameter 'h\.W' has shape \(5, 3\), but this optimizer's \w+ "
        r"for 'h\.W' has shape \(2, 3\).*new optimizer",
    ):
        optimizer.step(other, grads)
    np.testing.assert_array_equal(other.get_param()["h.W"], before)  # a rejected call changes nothing
    after = snapshot(optimizer)
    assert after[1] == state[1] and after[0].keys() == state[0].keys()
    for name, kept in state[0].items():
        for key, value in kept.items():
            np.testing.assert_array_equal(after[0][name][key], value)
    optimizer.state.clear()  # as the message says: then it trains the other model
    optimizer.step(other, grads)
    assert not np.array_equal(other.get_param()["h.W"], before)


# --------------------------------------------------------------------------------------------
# Progress output


def test_progress_lines_go_through_tqdm_while_a_bar_is_drawn():
    shared = io.StringIO()  # stdout and the bar's stderr in one stream, as a terminal shows them
    with contextlib.redirect_stdout(shared), contextlib.redirect_stderr(shared):
        Adam(Recorder(), *data()).train(steps=4, print_each=2)
    text = shared.getvalue()
    assert "Adam:" in text  # the bar was drawn
    # Each line has a line of its own: the bar was cleared before it, not written into.
    segments = re.split(r"[\r\n]", text)
    assert [s for s in segments if "step 2/4" in s] == ["step 2/4: loss 0.998001"]
    assert [s for s in segments if "step 4/4" in s] == ["step 4/4: loss 0.994009"]


def test_progress_lines_are_plain_prints_without_a_bar(capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("tqdm.write used without a bar")

    monkeypatch.setattr(tqdm.tqdm, "write", refuse)
    Adam(Recorder(), *data()).train(steps=4, print_each=2, progress=False)
    assert capsys.readouterr() == ("step 2/4: loss 0.998001\nstep 4/4: loss 0.994009\n", "")


def test_the_base_class_shows_its_arguments_too():
    assert list(inspect.signature(Optimizer).parameters) == ["model", "x_train", "y_train", *COMMON]


@pytest.mark.parametrize("print_each", ["10", -1, 0.5, True])
def test_a_bad_print_each_is_refused_before_any_step(print_each):
    x, y = np.ones((4, 1)), np.ones(4)
    model = Recorder()
    optimizer = SGD(model, x, y, learning_rate=0.1)
    with pytest.raises(ValueError, match="train: print_each must be a positive integer"):
        optimizer.train(2, print_each=print_each, progress=False)
    assert optimizer.steps_taken == 0 and model.w.value[0] == 0.0


def test_a_loss_that_is_not_a_function_is_refused_when_the_sequential_is_made():
    with pytest.raises(TypeError, match=r"Sequential: loss must be a function loss\(prediction, y\).*got 'mse'"):
        Sequential([Linear(2, 1)], "mse")
