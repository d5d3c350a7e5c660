"""The documents' Python examples, as they print them: code written this way must keep running.

The DP paper's `Node` graph with `grad(1)`, its `Network` of `ReLu_Layer` / `Linear_Layer`, its
optimizers (`SGD(net, x_train, y_train).train(...)`, `err_hist=True`, SGD Momentum, RMSProp, Adam)
and its hand-written loop with `get_grad` / `get_param` / `set_param`; the project sheet's
`Sequential` sketch with `loss.backward()` and `optimizer(model.variables, gradients)`; the lecture
slides' `y = x1*x2 + sin(x1)`, which they work by hand and which is written here in dp. The blog
post's code is Haskell, so it has nothing to copy. Data are small (a slice of the bundled MNIST)
so that everything runs in seconds.

The file needs only dp and NumPy: tests/test_wheel.py runs it as a script against the built
wheel in a fresh virtual environment (`python test_paper_examples.py` runs every test).
"""

from __future__ import annotations

import contextlib
import functools
import io

import numpy as np

from dp import SGD, Adam, Model, Node, RMSProp, SGD_Momentum
from dp.data import load_mnist
from dp.nn import LinearLayer, Sequential, binary_cross_entropy, relu, softmax


@functools.cache
def mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """200 training digits (one-hot labels, float64 as the paper's Node defaults) and 300 test digits."""
    x_train, y_train = load_mnist("train", one_hot=True, dtype=np.float64)
    x_test, y_test = load_mnist("test", dtype=np.float64)
    return x_train[:200], y_train[:200], x_test[:300], y_test[:300]


def test_the_papers_graph_and_its_gradients() -> None:
    a = Node(np.array([[1, 1, 1], [2, 2, 2]]), "A")
    b = Node(np.array([[1, 2, 3]]), "B")
    c = a * b
    d = c.exp()
    e = d.sum()  # output e is a scalar.
    grads = e.grad(1)

    printed = {"A": np.array([[2.7, 14.78, 60.26], [7.39, 109.20, 1210.29]]), "B": np.array([[17.50, 116.59, 826.94]])}
    assert set(grads) == {"A", "B"}
    for name, value in printed.items():  # the paper prints two decimals (and 2.7 for e)
        np.testing.assert_allclose(grads[name], value, rtol=0.01)


# The paper's class as printed, but for one line: it calls `super(Net, self).__init__()` in a
# class named Network, a typo in the paper (Python would raise NameError); `super().__init__()`
# is what it means. Lines the paper breaks for its two-column layout (`self` / `.Linear_Layer`,
# `optimizer` / `.train`) are joined: as printed they are not Python.
class Network(Model):
    def __init__(self):
        super().__init__()
        self.h1 = self.ReLu_Layer(784, 500, "h1")
        self.h2 = self.ReLu_Layer(500, 200, "h2")
        self.h3 = self.Linear_Layer(200, 10, "h3")

    def loss(self, x, y):
        if not type(y) == Node:
            y = Node(y)
        out = self.forward(x)
        loss = -1 * (y * out.log())
        return loss.sum()

    def forward(self, x):
        if not type(x) == Node:
            x = Node(x)
        out = self.h3(self.h2(self.h1(x))).softmax()
        return out


def test_the_papers_network_and_sgd() -> None:
    x_train, y_train, x_test, _ = mnist()
    net = Network()
    assert {name: value.shape for name, value in net.get_param().items()} == {
        "h1.W": (784, 500),
        "h1.b": (500,),
        "h2.W": (500, 200),
        "h2.b": (200,),
        "h3.W": (200, 10),
        "h3.b": (10,),
    }
    first = net.loss(x_train, y_train).value.item()

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        optimizer = SGD(net, x_train, y_train)
        loss = optimizer.train(steps=10, print_each=5)
    assert isinstance(loss, float) and loss < first
    assert "step 10/10" in printed.getvalue()  # print_each reports the loss

    with contextlib.redirect_stdout(io.StringIO()):
        loss, loss_hist, para_hist = optimizer.train(steps=3, print_each=100, err_hist=True)
    assert len(loss_hist) == len(para_hist) == 3 and loss == loss_hist[-1]
    assert (np.diff(loss_hist) < 0).all()  # full batch, small steps: steady descent
    assert set(para_hist[-1]) == set(net.get_param())
    # A history of copies: each step's parameters, not views of the live arrays.
    assert not np.array_equal(para_hist[0]["h1.W"], para_hist[-1]["h1.W"])
    np.testing.assert_array_equal(para_hist[-1]["h1.W"], net.get_param()["h1.W"])

    y_pred = net.forward(x_test)
    assert y_pred.shape == (300, 10)
    np.testing.assert_allclose(y_pred.value.sum(axis=1), 1.0)  # softmax rows: a class distribution per digit


def test_the_papers_optimizers() -> None:
    x_train, y_train, _, _ = mnist()
    for Optimizer in (SGD_Momentum, RMSProp, Adam):  # "SGD, SGD Momentum, RMSProp and Adam"
        net = Network()
        first = net.loss(x_train, y_train).value.item()
        optimizer = Optimizer(net, x_train, y_train)
        with contextlib.redirect_stdout(io.StringIO()):
            loss = optimizer.train(steps=5, print_each=100)
        assert loss < first, f"{Optimizer.__name__} with its default settings did not reduce the loss"


def test_the_papers_hand_written_loop() -> None:
    x, y = mnist()[0][:50], mnist()[1][:50]
    losses = []

    net = Network()
    for epoch in range(20):
        # compute the loss and gradients
        grad, loss = net.get_grad(x, y)
        # get the current parameters
        param_current = net.get_param()
        # calc new parameters, actual learning
        param_new = {name: param_current[name] - 0.001 * grad[name] for name in param_current.keys()}
        # set new parameters
        net.set_param(param_new)
        losses.append(loss)

    assert losses[-1] < 0.5 * losses[0]


def test_the_project_sheets_sequential_sketch() -> None:
    # What the sheet leaves to the reader: sizes, data (its `feature = ...`), labels, the optimizer.
    in_size, hidden_size, out_size = 4, 8, 3
    rng = np.random.default_rng(0)
    label = np.eye(out_size)[rng.integers(0, out_size, 16)]
    optimizer = SGD(learning_rate=0.5)

    model = Sequential(
        [
            LinearLayer(in_size, hidden_size),
            relu,
            LinearLayer(hidden_size, out_size),
        ]
    )

    feature = rng.normal(size=(16, in_size))
    log_posterior = model(feature)
    posterior = softmax(log_posterior)
    loss = binary_cross_entropy(posterior, label)

    gradients = loss.backward()
    optimizer(model.variables, gradients)

    assert set(gradients) == set(model.variables) == {"0.W", "0.b", "2.W", "2.b"}
    assert binary_cross_entropy(softmax(model(feature)), label).value < loss.value  # the update helped


def test_the_lecture_slides_worked_example() -> None:
    # y = x1*x2 + sin(x1) at v0 = x1 = 2, v1 = x2 = 3: y = 6.9, dy/dx2 = v0 = 2,
    # dy/dx1 = v1 + cos(v0) = 2.58, as the slides compute by hand.
    x1 = Node(2.0, "x1")
    x2 = Node(3.0, "x2")
    y = x1 * x2 + x1.sin()
    grads = y.grad(1)
    np.testing.assert_allclose(y.value, 6.9, atol=0.01)
    np.testing.assert_allclose(grads["x2"], 2.0)
    np.testing.assert_allclose(grads["x1"], 2.58, atol=0.005)


if __name__ == "__main__":
    for name, test in sorted(globals().items()):
        if name.startswith("test_") and callable(test):
            test()
            print(f"ok {name}")
