"""A gradient asked of a graph without named leaves: grad, backward and Model.get_grad say how to name one."""

import warnings

import numpy as np
import pytest

from dp import Node
from dp.nn import Linear, Model


def test_grad_without_a_named_leaf_warns_how_to_name_one():
    x = Node(np.array([1.0, 2.0]))  # meant: Node(..., "x")
    with pytest.warns(UserWarning, match="^grad: no named leaf") as record:
        assert (x * x).sum().grad(1) == {}
    message = str(record[0].message)
    assert 'Node(value, "x")' in message and "model.parameters()" in message
    assert "constant" in message
    assert record[0].filename == __file__  # the warning points at the line that called grad


def test_backward_warns_for_the_line_that_called_it():
    with pytest.warns(UserWarning, match="^backward: no named leaf") as record:  # named as it was called
        assert (Node(2.0) * 3).backward() == {}
    assert record[0].filename == __file__


def test_unnamed_leaves_that_require_a_gradient_are_pointed_to_backpropagate():
    x = Node(np.ones(3), requires_grad=True)
    with pytest.warns(UserWarning, match=r"requires_grad=True.*backpropagate"):
        assert (x * x).sum().grad(1) == {}


def test_a_named_leaf_gives_no_warning():
    x = Node(np.array([1.0, 2.0]), "x")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal((x * x).sum().grad(1)["x"], [2.0, 4.0])


def test_a_model_loss_on_copies_of_its_parameters_is_explained_by_get_grad():
    class Copies(Model):
        def __init__(self):
            super().__init__()
            self.h = Linear(2, 1, rng=0)

        def loss(self, x, y):
            weights = Node(self.h.W.value.copy())  # a copy of the values: a constant
            return ((Node(x) @ weights - y) ** 2).sum()

    model = Copies()
    with pytest.warns(UserWarning) as record:
        grads, loss = model.get_grad(np.ones((3, 2)), np.zeros((3, 1)))
    assert len(record) == 1  # get_grad's own warning, not grad's as well
    message = str(record[0].message)
    assert "Copies.get_grad" in message and "'h.W'" in message and "none of the model's parameters" in message
    assert record[0].filename == __file__
    assert set(grads) == {"h.W", "h.b"} and not any(np.any(g) for g in grads.values())
    assert loss > 0
