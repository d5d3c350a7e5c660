"""The functional API's contract: the user's graph is never rewired (threads may share it);
dicts, lists, tuples and namedtuples as arguments and outputs; keyword arguments reach f; a
pullback takes a Dual cotangent; gradcheck of an operation that has a reverse rule only."""

from __future__ import annotations

import functools
import sys
import threading
from collections import OrderedDict, namedtuple

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import dp
from dp import Dual, Node


def mlp_loss(params, x, scale=1.0):
    hidden = np.tanh(x @ params["W"] + params["b"])
    return scale * np.sum(hidden**2)


def torch_mlp_gradients(params, x, scale):
    tensors = {key: torch.tensor(value, requires_grad=True) for key, value in params.items()}
    loss = scale * (torch.tanh(torch.tensor(x) @ tensors["W"] + tensors["b"]) ** 2).sum()
    loss.backward()
    return {key: tensor.grad.numpy() for key, tensor in tensors.items()}


# --------------------------------------------------------------------------------------------
# 1. The user's graph is never rewired


def snapshot(x):
    """What a pass could change on each node of x's graph (x a Node, or a Dual of Nodes)."""
    if isinstance(x, Dual):
        return snapshot(x.value) + snapshot(x.tangent)
    return [(id(n), n.parents, n.vjps, n.requires_grad, n.op) for n in dp.topological_order(x)] + [
        (id(x), x.parents, x.requires_grad)
    ]


def spy(seen):
    """An identity primitive whose reverse rule records the graph of its operand at pass time."""

    def rule(g, out, x):
        seen.append(snapshot(watched[0]))
        return g

    watched = []
    op = dp.Primitive("spy", lambda x: x, rule, tangent="linear")
    return op, watched


@pytest.mark.parametrize("transform", ["grad", "grad of grad", "hessian forward", "vjp", "jacobian"])
def test_no_node_of_fs_graph_changes_after_f_ran_not_even_during_the_passes(transform):
    seen, built = [], []
    op, watched = spy(seen)

    def f(x):
        y = op(np.sin(x) * x)
        watched[:] = [y]
        built.append(snapshot(y))  # the graph as f left it
        return np.sum(y * y)

    x = np.array([0.3, 1.2])
    if transform == "grad":
        dp.grad(f)(x)
    elif transform == "grad of grad":
        dp.grad(lambda t: np.sum(dp.grad(f)(t)))(x)
    elif transform == "hessian forward":
        dp.hessian(f, mode="forward")(x)
    elif transform == "vjp":
        _, pullback = dp.vjp(f, x)
        pullback(1.0)
        pullback(2.0)
    else:
        dp.jacobian(lambda t: f(t) * t)(x)
    assert seen, "the spy's rule ran"
    for during in seen:
        assert during in built, "a node of f's graph was changed during a pass"
    # and after: f's graph is as f left it (the variable still needs a gradient, the link is kept)
    assert snapshot(watched[0]) in built


def test_an_outer_pass_flows_through_an_inner_variable_and_ignores_inner_constants():
    """d/dy (x y^2) = 2 x y. At y = 3 (the inner variable a fresh leaf, a constant outside) its
    derivative in x is 6; at y = x (the inner variable an identity of the outer one, x held
    fixed inside) it is 2 x^2, whose derivative is 4 x."""
    assert dp.grad(lambda x: dp.grad(lambda y: x * y * y)(3.0))(2.0) == 6.0
    assert dp.grad(lambda x: dp.grad(lambda y: x * y * y)(x))(2.0) == 8.0
    assert dp.grad(dp.grad(dp.grad(lambda t: t**4)))(1.5) == pytest.approx(24 * 1.5, rel=1e-14)


def run_in_two_threads(work, repeats):
    """Run work(thread index) `repeats` times in each of two threads started together; return
    each thread's results, and re-raise the first error."""
    barrier = threading.Barrier(2)
    results, errors = [[], []], []

    def body(index):
        try:
            barrier.wait()
            for _ in range(repeats):
                results[index].append(work(index))
        except BaseException as error:  # noqa: BLE001 (handed to the main thread)
            errors.append(error)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: overlap every pass
    try:
        threads = [threading.Thread(target=body, args=(index,)) for index in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    if errors:
        raise errors[0]
    return results


def test_two_threads_share_one_pullback_and_one_function():
    """One vjp trace (one graph) pulled back from two threads at once, and the same function's
    Hessian and nested gradient computed by both: every answer is right."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.5, 6)

    def f(t):
        return np.tanh(np.sin(t) * t[::-1])

    value, pullback = dp.vjp(f, x)
    jacobian = dp.jacobian(f)(x)
    cotangents = [rng.standard_normal(6) for _ in range(2)]
    loss = lambda t: np.sum(f(t) ** 2)  # noqa: E731
    expected_hessian = dp.hessian(loss)(x)
    expected_second = dp.grad(lambda t: np.sum(dp.grad(loss)(t) * cotangents[0]))(x)

    def work(index):
        pulled = pullback(cotangents[index])[0]
        np.testing.assert_allclose(pulled, jacobian.T @ cotangents[index], rtol=1e-13, atol=1e-15)
        if index == 0:
            np.testing.assert_allclose(dp.hessian(loss)(x), expected_hessian, rtol=1e-13, atol=1e-15)
        else:
            second = dp.grad(lambda t: np.sum(dp.grad(loss)(t) * cotangents[0]))(x)
            np.testing.assert_allclose(second, expected_second, rtol=1e-13, atol=1e-15)
        return True

    results = run_in_two_threads(work, repeats=60)
    assert results == [[True] * 60, [True] * 60]


def test_two_threads_differentiate_one_user_graph():
    """A graph built once from a named leaf, differentiated by both threads through dp.grad, closed
    over and as the argument itself (then linked into each thread's trace, never rewired)."""
    w = Node(np.array([0.5, -1.0, 2.0]), "w")
    h = np.tanh(w * 2.0)
    slope = 2 * (1 - np.tanh(2 * w.value) ** 2)  # dh/dw

    def work(index):
        scale = float(index + 1)
        closed_over = dp.grad(lambda v: np.sum(v * h) * scale)(np.ones(3))  # scale h, a graph of w
        np.testing.assert_allclose(closed_over.sum().grad()["w"], scale * slope, rtol=1e-14)
        argument = dp.grad(lambda v: np.sum(v * v) * scale)(h)  # 2 scale h
        np.testing.assert_allclose(argument.sum().grad()["w"], 2 * scale * slope, rtol=1e-14)
        return True

    assert run_in_two_threads(work, repeats=100) == [[True] * 100, [True] * 100]


# --------------------------------------------------------------------------------------------
# 2. Structures: dicts, lists, tuples, namedtuples


@settings(max_examples=15)
@given(seed=st.integers(0, 2**32 - 1), sizes=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3)))
def test_dict_parameters_give_a_dict_of_gradients_equal_to_pytorchs(seed, sizes):
    rng = np.random.default_rng(seed)
    rows, inputs, hidden = sizes
    params = {"W": rng.standard_normal((inputs, hidden)), "b": rng.standard_normal(hidden)}
    x = rng.standard_normal((rows, inputs))
    expected = torch_mlp_gradients(params, x, 1.0)
    gradients = dp.grad(mlp_loss)(params, x)
    assert type(gradients) is dict and list(gradients) == ["W", "b"]
    for key in params:
        assert gradients[key].shape == params[key].shape
        np.testing.assert_allclose(gradients[key], expected[key], rtol=1e-12, atol=1e-14)
    value, same = dp.value_and_grad(mlp_loss)({"b": params["b"], "W": params["W"]}, x)
    assert list(same) == ["b", "W"]  # the caller's order, the caller's keys
    np.testing.assert_allclose(same["W"], expected["W"], rtol=1e-12, atol=1e-14)


def test_nested_structures_keep_their_kinds_and_keys():
    Layer = namedtuple("Layer", "w b")
    params = OrderedDict(first=Layer(np.ones(2), 0.5), rest=[{"k": np.array([2.0])}, (3.0,)])

    def f(p):
        return np.sum(p["first"].w * p["first"].b) + np.sum(p["rest"][0]["k"] ** 2) * p["rest"][1][0]

    gradients = dp.grad(f)(params)
    assert type(gradients) is OrderedDict and list(gradients) == ["first", "rest"]
    assert isinstance(gradients["first"], Layer) and gradients["first"].w.tolist() == [0.5, 0.5]
    assert gradients["first"].b == 2.0 and type(gradients["first"].b) is float
    assert gradients["rest"][0]["k"].tolist() == [12.0] and gradients["rest"][1] == (4.0,)
    forward = dp.jacobian(f, mode="forward")(params)
    assert type(forward) is OrderedDict and forward["rest"][0]["k"].tolist() == [12.0]
    assert dp.gradcheck(f, params)


def test_gradcheck_names_the_key_of_a_wrong_gradient():
    def f(params):
        y = np.exp(params["b"])
        y.vjps = (lambda g, out, x: 2 * g * out,)  # a planted wrong rule
        return np.sum(np.sin(params["w"])) + np.sum(y)

    with pytest.raises(AssertionError, match=r"reverse mode is wrong for argument 0 \('params'\)\['b'\]"):
        dp.gradcheck(f, {"w": np.ones(2), "b": np.zeros(2)}, modes="reverse")


def test_jacobian_of_dict_arguments_in_both_modes():
    params = {"W": np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), "b": np.array([0.5, -0.5])}
    x = np.array([0.1, 0.2, 0.3])

    def f(p):
        return np.sin(x @ p["W"] + p["b"])

    reverse = dp.jacobian(f)(params)
    forward = dp.jacobian(f, mode="forward")(params)
    assert list(reverse) == list(forward) == ["W", "b"]
    assert reverse["W"].shape == (2, 3, 2) and reverse["b"].shape == (2, 2)
    cos = np.cos(x @ params["W"] + params["b"])
    np.testing.assert_allclose(reverse["b"], np.diag(cos), rtol=1e-14)
    np.testing.assert_allclose(reverse["W"], np.einsum("o,i,op->oip", cos, x, np.eye(2)), rtol=1e-14)
    for key in params:
        np.testing.assert_allclose(forward[key], reverse[key], rtol=1e-14)


def test_vjp_of_structured_outputs_takes_a_cotangent_of_that_structure():
    def f(p):
        return {"y": np.sin(p["a"]) * p["b"], "total": (np.sum(p["a"] ** 2), p["b"] * 3)}

    params = {"a": np.array([0.2, 0.7]), "b": np.array([1.5, -2.0])}
    value, pullback = dp.vjp(f, params)
    assert list(value) == ["y", "total"] and isinstance(value["total"], tuple)
    np.testing.assert_allclose(value["y"], np.sin(params["a"]) * params["b"])
    u = {"total": [2.0, np.array([1.0, 1.0])], "y": np.array([1.0, -1.0])}  # its own key order
    (gradient,) = pullback(u)
    np.testing.assert_allclose(gradient["a"], np.cos(params["a"]) * params["b"] * [1, -1] + 2 * 2 * params["a"])
    np.testing.assert_allclose(gradient["b"], np.sin(params["a"]) * [1, -1] + 3)
    with pytest.raises(ValueError, match=r"cotangent of output does not have the structure expected: the keys"):
        pullback({"y": np.ones(2)})
    with pytest.raises(ValueError, match=r"the cotangent\['total'\]\[1\] has shape \(3,\), but f's output"):
        pullback({"y": np.ones(2), "total": (1.0, np.ones(3))})


def test_jvp_takes_dicts_and_returns_fs_structure():
    params = {"w": np.array([1.0, 2.0]), "s": 3.0}
    value, tangent = dp.jvp(
        lambda p: {"out": p["w"] * p["s"], "pair": (p["s"] ** 2, 1.0)}, params, {"s": 1.0, "w": np.array([1.0, 0.0])}
    )  # keys matched by name
    assert list(value) == ["out", "pair"] and list(tangent) == ["out", "pair"]
    np.testing.assert_allclose(tangent["out"], [1.0 * 3 + 1.0, 2.0])
    assert float(tangent["pair"][0]) == 6.0 and float(tangent["pair"][1]) == 0.0
    with pytest.raises(ValueError, match=r"tangent of argument 0 does not have the structure expected: the keys"):
        dp.jvp(lambda p: p["w"], params, {"w": np.ones(2)})


# --------------------------------------------------------------------------------------------
# 3. Keyword arguments reach f


def test_keyword_arguments_reach_f_and_are_not_differentiated():
    rng = np.random.default_rng(1)
    params = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    x = rng.standard_normal((4, 3))
    expected = torch_mlp_gradients(params, x, 2.5)
    gradients = dp.grad(mlp_loss)(params, x, scale=2.5)
    np.testing.assert_allclose(gradients["W"], expected["W"], rtol=1e-12)
    value, _ = dp.value_and_grad(mlp_loss)(params, x, scale=2.5)
    assert float(value) == pytest.approx(2.5 * float(mlp_loss(params, x)), rel=1e-14)

    def cubic(t, scale):
        return scale * t**3

    t = np.array([1.0, 2.0])
    for mode in ("reverse", "forward"):
        np.testing.assert_allclose(dp.jacobian(cubic, mode=mode)(t, scale=2.0), np.diag(6 * t**2))
        np.testing.assert_allclose(
            dp.hessian(lambda t, scale: np.sum(cubic(t, scale)), mode=mode)(t, scale=2.0), np.diag(12 * t)
        )
    value, pullback = dp.vjp(cubic, t, scale=2.0)
    np.testing.assert_allclose(value, 2 * t**3)
    np.testing.assert_allclose(pullback(np.ones(2))[0], 6 * t**2)
    _, slope = dp.jvp(functools.partial(cubic, scale=2.0), t, np.ones(2))  # jvp: partial, by design
    np.testing.assert_allclose(slope, 6 * t**2)


def test_vjp_takes_f_and_scale_names_as_keywords_for_f():
    """vjp's own parameter is positional-only, so f may have a parameter called f."""
    value, pullback = dp.vjp(lambda x, f=1.0: x * f, np.ones(2), f=4.0)
    np.testing.assert_allclose(pullback(np.ones(2))[0], [4.0, 4.0])


# --------------------------------------------------------------------------------------------
# 4. A pullback takes a Dual cotangent (forward over reverse through vjp)


@settings(max_examples=10)
@given(seed=st.integers(0, 2**32 - 1))
def test_jvp_through_a_pullback_is_the_transposed_jacobian_times_the_tangent(seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, 4)
    weights = rng.standard_normal((3, 4))

    def f(t):
        return np.tanh(weights @ t) * t[:3]

    _, pullback = dp.vjp(f, x)
    jacobian = torch.autograd.functional.jacobian(
        lambda t: torch.tanh(torch.tensor(weights) @ t) * t[:3], torch.tensor(x)
    ).numpy()
    u0, du = rng.standard_normal(3), rng.standard_normal(3)
    value, tangent = dp.jvp(lambda u: pullback(u)[0], u0, du)
    np.testing.assert_allclose(value, jacobian.T @ u0, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(tangent, jacobian.T @ du, rtol=1e-12, atol=1e-14)
    # the pullback is linear in its cotangent: its Jacobian is J^T
    np.testing.assert_allclose(
        dp.jacobian(lambda u: pullback(u)[0], mode="forward")(u0), jacobian.T, rtol=1e-12, atol=1e-14
    )


def test_a_dual_cotangent_meets_a_dual_output_by_the_product_rule():
    """x a Dual of the same jvp as the cotangent: d/de [J(x + e v)^T (u + e w)] = (H v)^T u + J^T w,
    for f(x) = x^2 (J = diag 2x): 2 v u + 2 x w."""
    x, v, u, w = (np.array(values) for values in ([1.0, 2.0], [1.0, -1.0], [3.0, 4.0], [0.5, 0.25]))

    def pulled(t, c):
        return dp.vjp(lambda s: s * s, t)[1](c)[0]

    _, tangent = dp.jvp(pulled, (x, u), (v, w))
    np.testing.assert_allclose(tangent, 2 * v * u + 2 * x * w, rtol=1e-15)
    dual = dp.vjp(lambda s: s * s, x)[1](Dual(u, w))[0]
    assert isinstance(dual, Dual)
    np.testing.assert_allclose(dual.tangent, 2 * x * w)


# --------------------------------------------------------------------------------------------
# 5. gradcheck of an operation with a reverse rule only


cube_reverse_only = dp.primitive(
    "test_cube_reverse_only", lambda x: x**3, vjp=lambda g, out, x: 3 * g * x * x, tangent=None
)
cube_wrong_reverse_only = dp.primitive(
    "test_cube_wrong_reverse_only", lambda x: x**3, vjp=lambda g, out, x: 2 * g * x * x, tangent=None
)


def test_forward_mode_of_a_reverse_only_operation_says_so():
    with pytest.raises(NotImplementedError, match="no forward-mode"):
        dp.jvp(cube_reverse_only, np.ones(2), np.ones(2))
    np.testing.assert_allclose(dp.grad(lambda x: np.sum(cube_reverse_only(x)))(np.array([1.0, 2.0])), [3.0, 12.0])


def test_gradcheck_of_a_reverse_only_operation_checks_reverse_mode_alone():
    x = np.array([0.5, -1.0, 2.0])
    with pytest.warns(UserWarning, match="forward mode not checked, reverse mode alone: .*no forward-mode"):
        assert dp.gradcheck(cube_reverse_only, x) is True
    with (
        pytest.warns(UserWarning, match="reverse mode alone"),
        pytest.raises(AssertionError, match=r"reverse mode is wrong for argument 0"),
    ):
        dp.gradcheck(cube_wrong_reverse_only, x)
    with pytest.raises(NotImplementedError, match="no forward-mode"):  # nothing left to check
        dp.gradcheck(cube_reverse_only, x, modes="forward")


def test_the_trees_docstring_example_runs():
    import doctest

    import dp.trees

    results = doctest.testmod(dp.trees, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert results.attempted > 0 and results.failed == 0
