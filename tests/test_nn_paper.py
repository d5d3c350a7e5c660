"""The paper's high-level code, as printed (only `super(Net, self)` fixed to the class's own name).

Its `Network`, `SGD(net, x_train, y_train).train(...)`, `err_hist=True`, the prediction
`net.forward(x_test)` and its hand-written loop with get_grad / get_param / set_param, trained on
a slice of the bundled MNIST digits for a few steps: the loss must go down.
"""

from __future__ import annotations

import numpy as np
import pytest

from dp import SGD, Model, Node
from dp.data import load_mnist


# The paper's class, character for character apart from the typo fix.
class Network(Model):
  def __init__(self):
    super(Network, self).__init__()
    self.h1 = self.ReLu_Layer(784,500,"h1")
    self.h2 = self.ReLu_Layer(500,200,"h2")
    self.h3 = self.Linear_Layer(200,10,"h3")

  def loss(self, x, y):
    if not type(y) == Node:
      y = Node(y)
    out = self.forward(x)
    loss = -1 * (y * out.log())
    return loss.sum()

  def forward(self, x):
    if not type(x) == Node:
      x = Node(x)
    out= self.h3(self.h2(self.h1(x))).softmax()
    return out


@pytest.fixture(scope="module")
def mnist():
    """300 training digits (one-hot labels, float64 as the paper's Node defaults) and 500 test digits."""
    x_train, y_train = load_mnist("train", one_hot=True, dtype=np.float64)
    x_test, y_test = load_mnist("test", dtype=np.float64)
    return x_train[:300], y_train[:300], x_test[:500], y_test[:500]


def test_the_network_has_the_papers_layers():
    net = Network()
    shapes = {name: value.shape for name, value in net.get_param().items()}
    assert shapes == {"h1.W": (784, 500), "h1.b": (500,), "h2.W": (500, 200), "h2.b": (200,),
                      "h3.W": (200, 10), "h3.b": (10,)}
    out = net.forward(np.zeros((3, 784)))
    np.testing.assert_allclose(out.value.sum(axis=1), 1.0)  # softmax rows


def test_sgd_train_as_printed(mnist, capsys):
    x_train, y_train, x_test, y_test = mnist
    net = Network()
    first = net.loss(x_train, y_train).value.item()

    optimizer = SGD(net,x_train, y_train)
    loss = optimizer.train(steps=20,
          print_each=10)

    assert isinstance(loss, float)
    assert loss < 0.97 * first, "the paper's SGD with its default learning rate did not reduce the loss"
    assert "step 20/20" in capsys.readouterr().out  # print_each reports the loss

    loss, loss_hist, para_hist = optimizer.train(steps=5, print_each=100,
             err_hist=True)
    assert len(loss_hist) == len(para_hist) == 5
    assert loss == loss_hist[-1] and (np.diff(loss_hist) < 0).all()  # full batch, small steps: steady descent
    assert set(para_hist[0]) == set(net.get_param())
    # A history of copies: each step's parameters, not ten views of the live arrays.
    assert not np.array_equal(para_hist[0]["h1.W"], para_hist[-1]["h1.W"])
    np.testing.assert_array_equal(para_hist[-1]["h1.W"], net.get_param()["h1.W"])

    y_pred = net.forward(x_test)
    assert y_pred.shape == (500, 10)
    np.testing.assert_allclose(y_pred.value.sum(axis=1), 1.0)
    accuracy = (y_pred.value.argmax(axis=1) == y_test).mean()
    assert 0 <= accuracy <= 1


def test_hand_written_loop_as_printed(mnist):
    x, y = mnist[0][:50], mnist[1][:50]
    losses = []

    net= Network()
    for epoch in range(100):
      # compute the loss and gradients
      grad,loss = net.get_grad(x,y)
      # get the current parameters
      param_current = net.get_param()
      # calc new parameters, actual learning
      param_new = { name : param_current[name]
            - 0.001 * grad[name]
            for name in param_current.keys()}
      # set new parameters
      net.set_param(param_new)
      losses.append(loss)

    assert np.isfinite(losses).all()
    assert losses[-1] < 0.1 * losses[0]
