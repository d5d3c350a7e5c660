"""dp.trace: the traced program returns what the dynamic engine returns, on random programs and
on the table's operations; it traces again where it must; check mode catches data-dependent
control flow; and the generated source of the slides' example stays as readable as it is."""

import contextlib
import re
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dp
from dp import Node, nn
from dp.trace import trace


def dynamic(f, *args):
    out = f(*args)
    return out.value, out.grad(1)


def assert_same(got, expected, rtol=1e-12):
    value, grads = got
    expected_value, expected_grads = expected
    np.testing.assert_allclose(value, expected_value, rtol=rtol, atol=1e-300)
    assert list(grads) == list(expected_grads)  # the same names, in grad's order
    for name in expected_grads:
        assert np.shape(grads[name]) == np.shape(expected_grads[name]), name
        assert np.asarray(grads[name]).dtype == np.asarray(expected_grads[name]).dtype, name
        np.testing.assert_allclose(grads[name], expected_grads[name], rtol=rtol, atol=1e-12, err_msg=name)


def assert_traced_like_dynamic(f, *args):
    step = trace(f, *args)
    assert_same(step(*args), dynamic(f, *args))
    return step


# ---------------------------------------------------------------------------------------------
# Readable source: the slides' example, pinned


def slides_example(x1, x2):
    x1, x2 = Node(x1, "x1"), Node(x2, "x2")
    return x1 * x2 + x1.sin()


SLIDES_SOURCE = """\
def slides_example(x1, x2):
    # forward: the evaluation trace
    v2 = x1 * x2
    v3 = np.sin(x1)
    v4 = v2 + v3
    # backward: the adjoint trace
    v4_bar = np.float64(1.0)
    v2_bar = v4_bar
    v3_bar = v4_bar
    x1_bar = v3_bar * np.cos(x1)
    x1_bar += v2_bar * x2
    x2_bar = v2_bar * x1
    return v4, {'x1': x1_bar, 'x2': x2_bar}
"""


def test_the_slides_example_reads_as_the_slides_tables():
    step = trace(slides_example, np.float64(2.0), np.float64(3.0))
    assert step.source == SLIDES_SOURCE
    value, grads = step(np.float64(2.0), np.float64(3.0))
    assert value == pytest.approx(2 * 3 + np.sin(2))
    assert grads["x1"] == pytest.approx(3 + np.cos(2))  # the slides' 2.584
    assert grads["x2"] == pytest.approx(2.0)


def test_arrays_of_the_slides_example_and_new_values():
    x1, x2 = np.array([0.5, 2.0]), np.array([3.0, -1.0])

    def f(a, b):
        return slides_example(a, b).sum()

    step = assert_traced_like_dynamic(f, x1, x2)
    assert_same(step(x2, x1), dynamic(f, x2, x1))


def test_generic_operations_call_their_own_rules_by_name():
    x = np.array([-1.0, 0.5, 2.0])
    step = assert_traced_like_dynamic(lambda x: dp.ops.elu(Node(x, "x"), alpha=0.7).sum(), x)
    assert "_forward['elu'](x, alpha=0.7)" in step.source
    assert "_vjp['elu'][0](v" in step.source


def test_a_users_primitive_is_traced_with_its_own_rules():
    cube = dp.primitive("trace_test_cube", lambda x: x**3, vjp=lambda g, out, x: 3 * g * x * x)
    x = np.array([1.0, -2.0, 0.5])
    step = assert_traced_like_dynamic(lambda x: cube(Node(x, "x")).sum(), x)
    assert "_forward['trace_test_cube'](x)" in step.source


# ---------------------------------------------------------------------------------------------
# Equivalence with the dynamic engine: random programs


GRAPH_STEPS = {
    "add": lambda a, b: a + b,
    "mul": lambda a, b: a * b,
    "sub": lambda a, b: a - b,
    "tanh of sum": lambda a, b: (a + b).tanh(),
    "sin": lambda a, b: a.sin(),
    "div": lambda a, b: a / (1 + b * b),
    "exp of half": lambda a, b: (0.5 * a).exp(),
    "sigmoid": lambda a, b: a.sigmoid() * b,
    "mean over rows": lambda a, b: a.mean(axis=-1, keepdims=True) + b,
    "sum and scale": lambda a, b: a.sum() * b,
}


@given(
    program=st.lists(
        st.tuples(st.sampled_from(sorted(GRAPH_STEPS)), st.integers(0, 10**6), st.integers(0, 10**6)),
        min_size=1,
        max_size=25,
    ),
    seed=st.integers(0, 2**32 - 1),
    constant=st.booleans(),
)
def test_random_programs_give_the_engines_values_and_gradients(program, seed, constant):
    """Each step combines two earlier results picked at random (diamonds, reuse, broadcasting
    between (2, 3), (3,) and (2, 1)); one input may be a constant. Traced on one draw of the
    inputs, then called on another: both equal the engine's."""
    rng = np.random.default_rng(seed)
    shapes = [(2, 3), (3,), (2, 1)]

    def f(x0, x1, x2):
        leaves = [Node(x0, "x0"), Node(x1) if constant else Node(x1, "x1"), Node(x2, "x2")]
        results = list(leaves)
        for step, first, second in program:
            results.append(GRAPH_STEPS[step](results[first % len(results)], results[second % len(results)]))
        return sum(result.sum() for result in reversed(results[len(leaves) :]))

    first = [rng.uniform(-1, 1, shape) for shape in shapes]
    with warnings.catch_warnings():  # a program of the constant input alone has no named leaf: both warn
        warnings.filterwarnings("ignore", "grad: no named leaf", UserWarning)
        step = assert_traced_like_dynamic(f, *first)
        second = [rng.uniform(-1, 1, shape) for shape in shapes]
        assert_same(step(*second), dynamic(f, *second))


@given(
    program=st.lists(
        st.tuples(st.sampled_from(sorted(GRAPH_STEPS)), st.integers(0, 10**6), st.integers(0, 10**6)),
        min_size=1,
        max_size=12,
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_source_names_values_as_explain_numbers_their_rows(program, seed):
    """`vN = ...` in the generated code is the row vN of explain()'s evaluation trace of the same
    call, an operation there too, and the value returned is the row the table calls y."""
    rng = np.random.default_rng(seed)
    inputs = [rng.uniform(-1, 1, shape) for shape in [(2, 3), (3,), (2, 1)]]

    def f(x0, x1, x2):
        results = [Node(x0, "x0"), Node(x1, "x1"), Node(x2, "x2")]
        for step, first, second in program:
            results.append(GRAPH_STEPS[step](results[first % len(results)], results[second % len(results)]))
        return sum(result.sum() for result in reversed(results[3:]))

    source = trace(f, *inputs).source
    table = str(f(*inputs).explain(max_rows=10**6))
    rows = dict(re.findall(r"^  (v\d+) = (\S+)", table, re.MULTILINE))
    forward = source.split("# backward")[0]
    assigned = re.findall(r"^    (v\d+) = ", forward, re.MULTILINE)
    assert assigned and all(name in rows and not rows[name].startswith("x") for name in assigned)
    returned = re.search(r"return (v\d+),", source).group(1)
    assert re.search(rf"^  y = {returned} = ", table, re.MULTILINE), (source, table)


# ---------------------------------------------------------------------------------------------
# Equivalence: the table's operations, with templates and by reference


rng = np.random.default_rng(7)
A = rng.uniform(0.2, 1.5, (3, 4))
B = rng.uniform(-1.0, 1.0, (3, 4))
M = rng.uniform(-1.0, 1.0, (4, 2))
V = rng.uniform(-1.0, 1.0, (4,))

OPERATIONS = {
    "add broadcast": (lambda a, b: (a + b[0]).sum(), (A, B)),
    "subtract": (lambda a, b: (a - b).sum(), (A, B)),
    "negative": (lambda a, b: (-a * b).sum(), (A, B)),
    "multiply": (lambda a, b: (a * b).sum(), (A, B)),
    "divide": (lambda a, b: (b / a).sum(), (A, B)),
    "power": (lambda a, b: (a**b).sum(), (A, B)),
    "power of a number": (lambda a, b: (a**2 + 2**b).sum(), (A, B)),
    "matmul": (lambda a, m: (a @ m).sum(), (A, M)),
    "matmul with a vector": (lambda a, v: (a @ v).sum(), (A, V)),
    "vector dot": (lambda v, w: v @ w, (V, V[::-1].copy())),
    "exp": (lambda a, b: (a * b).exp().sum(), (A, B)),
    "log": (lambda a, b: (a.log() * b).sum(), (A, B)),
    "tanh": (lambda a, b: (a * b).tanh().sum(), (A, B)),
    "sin cos": (lambda a, b: (np.sin(a) * np.cos(b)).sum(), (A, B)),
    "sqrt square": (lambda a, b: (np.sqrt(a) + np.square(b)).sum(), (A, B)),
    "sigmoid relu": (lambda a, b: (b.sigmoid() * b.relu()).sum(), (A, B)),
    "sum over an axis": (lambda a, b: (a.sum(axis=0) * b.sum(axis=0)).sum(), (A, B)),
    "sum keepdims": (lambda a, b: (a.sum(axis=1, keepdims=True) * b).sum(), (A, B)),
    "mean": (lambda a, b: (a.mean(axis=1) * b.mean(axis=1)).sum() + a.mean(), (A, B)),
    "reshape transpose": (lambda a, b: (a.reshape(4, 3) * b.T).sum() + (a.transpose(1, 0) @ b).sum(), (A, B)),
    "getitem basic": (lambda a, b: (a[1:, ::2] * b[0, None, 1:3]).sum() + a[2, 3], (A, B)),
    "getitem twice, one array index": (lambda a, b: a[np.array([0, 0, 2])].sum() + (a[1] * b[1]).sum(), (A, B)),
    "log_softmax softmax": (lambda a, b: (a.log_softmax(axis=-1) * b).sum() + (a.softmax(axis=0) * b).sum(), (A, B)),
    "logsumexp max": (lambda a, b: dp.ops.logsumexp(a * b, axis=1).sum() + (a * b).max(), (A, B)),
    "var std": (lambda a, b: (a * b).var() + a.std(axis=0).sum(), (A, B)),
    "cumsum prod": (lambda a, b: np.cumsum(a * b, axis=1).sum() + a.prod(), (A, B)),
    "abs clip maximum where": (
        lambda a, b: (np.abs(b) + b.clip(-0.5, 0.5) + dp.maximum(a, b) + dp.where(b > 0, a, b)).sum(),
        (A, B),
    ),
    "concatenate stack": (
        lambda a, b: (dp.concatenate([a, b], axis=0).sum(axis=0) * dp.stack([a[0], b[1]]).sum(axis=0)).sum(),
        (A, B),
    ),
    "einsum": (lambda a, b: np.einsum("ij,ij->i", a, b).sum(), (A, B)),
    "softplus gelu elu": (lambda a, b: (nn.softplus(b) + nn.gelu(b) + dp.ops.elu(b)).sum(), (A, B)),
    "det inv": (
        lambda a, b: np.linalg.det(a[:, :3] + 2 * np.eye(3)) + np.linalg.inv(a[:, :3] + 2 * np.eye(3)).sum(),
        (A, B),
    ),
    "floor is a constant": (lambda a, b: (np.floor(b * 3) * a).sum(), (A, B)),
}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_operations_give_the_engines_values_and_gradients(name):
    function, (a, b) = OPERATIONS[name]

    def f(x, y):
        return function(Node(x, "a"), Node(y, "b"))

    step = assert_traced_like_dynamic(f, a, b)
    # other values, the same shapes: the traced program, not the trace's values
    a2, b2 = a * 1.1 + 0.05, b[::-1].copy() * 0.9
    assert_same(step(a2, b2), dynamic(f, a2, b2))
    assert len(step.programs) == 1


def test_the_mnist_network_with_integer_labels():
    """Arguments reached through views: integer labels indexing the log-probabilities."""
    model_rng = np.random.default_rng(1)
    params = {
        "W1": model_rng.normal(0, 0.1, (6, 5)),
        "b1": np.zeros(5),
        "W2": model_rng.normal(0, 0.1, (5, 3)),
        "b2": np.zeros(3),
    }

    def loss(x, labels):
        h = (Node(x) @ Node(params["W1"], "W1") + Node(params["b1"], "b1")).relu()
        return nn.cross_entropy(h @ Node(params["W2"], "W2") + Node(params["b2"], "b2"), labels)

    x, labels = model_rng.normal(size=(4, 6)), np.array([0, 2, 1, 2])
    step = assert_traced_like_dynamic(loss, x, labels)
    for other in (np.array([1, 1, 0, 0]), np.array([2, 0, 2, 1])):
        assert_same(step(x, other), dynamic(loss, x, other))


def test_arguments_through_constants_are_read_at_each_call():
    """1 - y on a constant y: dp folds it, the trace must compute it again for a new y."""

    def bce(p, y):
        p, y = Node(p, "p"), Node(y)
        return -(y * p.log() + (1 - y) * (1 - p).log()).mean()

    p, y = np.array([0.2, 0.7, 0.9]), np.array([0.0, 1.0, 1.0])
    step = assert_traced_like_dynamic(bce, p, y)
    assert_same(step(p, 1 - y), dynamic(bce, p, 1 - y))


# ---------------------------------------------------------------------------------------------
# The compiler: prune, fold, reuse


def test_unused_work_is_pruned_repeats_are_reused_and_numbers_folded():
    def f(x):
        x = Node(x, "x")
        unused = (x * 100).exp()  # noqa: F841  (never reaches the output)
        number = Node(np.float64(2.0)) * 3  # numbers only: computed once, at trace time
        return (x.sin() * x.sin() * number).sum()

    step = assert_traced_like_dynamic(f, np.array([0.1, 0.2]))
    assert "np.exp" not in step.source
    assert step.source.count("np.sin(") == 1
    assert "* 3" not in step.source


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_sigmoid_in_a_buffer_gives_dps_numbers_to_the_bit_and_no_overflow_warning(dtype):
    x = np.concatenate([np.linspace(-800, 800, 1001), [0.0, -0.0, np.inf, -np.inf]]).astype(dtype)
    f = lambda x: (Node(x, "x").sigmoid() * 3).sum()  # noqa: E731
    with planned_everywhere(), warnings.catch_warnings():
        warnings.simplefilter("error")
        step = trace(f, x)
        assert "_sigmoid(x, out=_buf0)" in step.source
        for values in (x, x[::-1].copy()):
            value, grads = step(values)
            out = f(values)
            assert value == out.value and value.dtype == out.value.dtype
            np.testing.assert_array_equal(grads["x"], out.grad(1)["x"])
    scalar = trace(lambda x: Node(x, "x").sigmoid(), np.float64(-1000.0))
    # dp's own fast path
    assert scalar(np.float64(-750.0)) == (0.0, {"x": 0.0}) and "_forward['sigmoid'](x)" in scalar.source


def test_a_sequentials_parameters_read_as_their_layers_and_names_that_are_not_identifiers_are_made_so():
    net = nn.Sequential([nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)])
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    step = assert_traced_like_dynamic(
        lambda x: (net(Node(x)) ** 2).sum() + (Node(x, "2 x") * Node(x, "lambda")).sum(), x
    )
    assert " = x @ layer0_W\n" in step.source and "layer2_b = _leaf['layer2_b'].value" in step.source
    assert "x_2_x = x" in step.source and "x_lambda = x" in step.source
    assert list(step(x)[1]) == ["0.W", "0.b", "2.W", "2.b", "2 x", "lambda"]


def test_gradients_only_where_a_named_leaf_needs_them():
    def f(x, c):
        return (Node(x, "x") * Node(c, requires_grad=True).tanh()).sum()  # an unnamed variable: not reported

    step = assert_traced_like_dynamic(f, np.array([1.0, 2.0]), np.array([0.3, 0.4]))
    assert "c_bar" not in step.source and "leaf" not in step.source.split("# backward")[1].split("return")[0]


# ---------------------------------------------------------------------------------------------
# Retrace cases


def test_new_shapes_dtypes_and_ranks_trace_again():
    step = trace(lambda x: (Node(x, "x") ** 2).sum(), np.ones(3))
    for x in (
        np.arange(3.0),
        np.arange(5.0),
        np.arange(6.0).reshape(2, 3),
        np.arange(3, dtype=np.float32),
        np.float64(2.5),
    ):
        value, grads = step(x)
        assert np.asarray(grads["x"]).dtype == x.dtype and np.shape(grads["x"]) == x.shape
        np.testing.assert_allclose(grads["x"], 2 * x)
        assert np.asarray(value).dtype == x.dtype
    assert len(step.programs) == 5  # (3,) float64 once, then (5,), (2, 3), float32 and 0-d
    step(np.arange(5.0) + 1)  # a shape seen before: no new trace
    assert len(step.programs) == 5


def test_python_numbers_are_part_of_the_key():
    step = trace(lambda x, k: (Node(x, "x") * k).sum(), np.ones(2), 3.0)
    assert step(np.ones(2), 3.0)[1]["x"].tolist() == [3.0, 3.0]
    assert step(np.ones(2), 5.0)[1]["x"].tolist() == [5.0, 5.0]


def test_captured_leaves_updated_in_place_are_seen():
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    weight = Node(W, "W")

    def f(x):
        return (Node(x) @ weight).tanh().sum()

    x = np.array([[0.1, -0.2]])
    step = trace(f, x)
    W -= 0.5  # an optimizer's step: in place
    assert_same(step(x), dynamic(f, x))
    weight.value = np.ones((2, 3))  # replaced by a different shape: traced again
    assert_same(step(x), dynamic(f, x))
    assert len(step.programs) == 1  # the same argument key, the program replaced


def test_leaves_made_inside_f_from_captured_arrays_see_updates():
    params = {"W": np.array([0.5, -1.0])}
    step = trace(lambda x: (Node(x) * Node(params["W"], "W")).exp().sum(), np.array([1.0, 2.0]))
    params["W"] *= 2
    assert_same(
        step(np.array([1.0, 2.0])),
        dynamic(lambda x: (Node(x) * Node(params["W"], "W")).exp().sum(), np.array([1.0, 2.0])),
    )


def test_training_a_linear_model_gives_the_dynamic_losses():
    data_rng = np.random.default_rng(3)
    x, y = data_rng.normal(size=(16, 4)), data_rng.normal(size=(16, 2))

    def run(traced):
        model = nn.Linear(4, 2, "lin", rng=np.random.default_rng(0), activation=nn.tanh)
        optimizer = dp.SGD(learning_rate=0.1)

        def loss(x, y):
            return ((model(Node(x)) - Node(y)) ** 2).mean()

        step = trace(loss, x, y) if traced else lambda x, y: dynamic(loss, x, y)
        losses = []
        for _ in range(20):
            value, grads = step(x, y)
            losses.append(float(value))
            optimizer.step(model, grads)
        return losses

    dynamic_losses, traced_losses = run(False), run(True)
    np.testing.assert_allclose(traced_losses, dynamic_losses, rtol=1e-12)
    assert traced_losses[-1] < traced_losses[0]


# ---------------------------------------------------------------------------------------------
# Control flow and bad input


def branchy(x):
    x = Node(x, "x")
    return (x.sin() if x.value.sum() > 0 else x.cos()).sum()


def test_check_mode_catches_control_flow_that_depends_on_the_data():
    step = trace(branchy, np.array([1.0, 2.0]), check=True)
    assert_same(step(np.array([0.5, 0.1])), dynamic(branchy, np.array([0.5, 0.1])))  # the same path: fine
    with pytest.raises(RuntimeError, match=r"another path.*'cos' now, was 'sin'"):
        step(np.array([-1.0, -2.0]))


def test_check_mode_catches_a_value_frozen_by_plain_numpy():
    def f(x):
        return (Node(x, "x") * Node(x.sum())).sum()  # x.sum(): plain NumPy, frozen in a trace

    step = trace(f, np.array([1.0, 2.0]), check=True)
    step(np.array([1.0, 2.0]))
    with pytest.raises(RuntimeError, match="different values or gradients"):
        step(np.array([3.0, 2.0]))


def test_without_check_the_trace_is_frozen():
    step = trace(branchy, np.array([1.0, 2.0]))
    _, grads = step(np.array([-1.0, -2.0]))
    np.testing.assert_allclose(grads["x"], np.cos([-1.0, -2.0]))  # still the sin branch: documented


def test_a_non_scalar_output_gets_grads_error():
    with pytest.raises(ValueError) as dynamic_error:
        Node(np.ones(3), "x").exp().grad(1)
    with pytest.raises(ValueError) as traced_error:
        trace(lambda x: Node(x, "x").exp(), np.ones(3))
    assert str(traced_error.value) == str(dynamic_error.value)


def test_bad_functions_and_arguments_are_refused():
    with pytest.raises(
        TypeError, match=r"must return a Node .* make its variables named Nodes inside f \(x = Node\(x, \"x\"\)\)"
    ):
        trace(lambda x: x * 2, np.ones(2))
    with pytest.raises(TypeError, match="is a Node"):
        trace(lambda x: x.sum(), Node(np.ones(2), "x"))
    with pytest.raises(TypeError, match="expected a function"):
        trace(3, np.ones(2))
    with pytest.raises(ValueError, match="two different leaves are named 'x'"):
        trace(lambda a, b: (Node(a, "x") + Node(b, "x")).sum(), np.ones(2), np.ones(2))


def test_the_modules_examples_run():
    import doctest
    import importlib

    module = importlib.import_module("dp.trace")  # dp.trace may also be the function, re-exported
    results = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert results.attempted > 0 and results.failed == 0


def test_recording_leaves_the_engine_as_it_was():
    from dp.node import Primitive

    def fails_half_way(x):
        assert (Node(x, "x").exp() > 0).all()
        raise ZeroDivisionError("f's own error")

    apply, greater = Primitive.apply_to_nodes, Node.__gt__
    with pytest.raises(ZeroDivisionError, match="f's own error"):
        trace(fails_half_way, np.ones(2))
    assert Primitive.apply_to_nodes is apply and Node.__gt__ is greater


# ---------------------------------------------------------------------------------------------
# The buffer plan: intermediates written with out= into buffers reused once dead; what is handed
# out is the caller's own


def planned_everywhere():
    """Every array the plan can take goes into a buffer, however small (the tests' arrays are
    below the size where the plan starts)."""
    import importlib
    from unittest import mock

    return mock.patch.object(importlib.import_module("dp.trace"), "_OUT_MIN_BYTES", 0)


@given(
    program=st.lists(
        st.tuples(st.sampled_from(sorted(GRAPH_STEPS)), st.integers(0, 10**6), st.integers(0, 10**6)),
        min_size=1,
        max_size=25,
    ),
    seed=st.integers(0, 2**32 - 1),
    constant=st.booleans(),
)
def test_random_programs_with_every_array_in_a_buffer(program, seed, constant):
    with planned_everywhere():
        test_random_programs_give_the_engines_values_and_gradients.hypothesis.inner_test(program, seed, constant)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_operations_with_every_array_in_a_buffer(name):
    with planned_everywhere():
        test_operations_give_the_engines_values_and_gradients(name)


def layer(x, c):
    """Big enough for the plan: a dead value's buffer is reused, and c's gradient is the
    gradient at the sum (a buffer), which must be copied on its way out."""
    x, c = Node(x, "x"), Node(c, "c")
    return ((x * 2 + 1).tanh() * x + c).exp().sum()


def test_dead_values_buffers_are_reused_and_the_source_stays_one_line_per_operation():
    x, c = np.linspace(-1, 1, 4096).reshape(64, 64), np.full((64, 64), 0.1)
    step = assert_traced_like_dynamic(layer, x, c)
    lines = step.source.splitlines()
    assert "    v2 = np.multiply(x, 2, out=_buf0)" in lines
    assert "    v3 = np.add(v2, 1, out=_buf0)" in lines  # v2 is dead: its buffer takes v3, in place
    assert "    c_bar = np.array(c_bar)" in lines
    assert sum(len(values) for values in step.buffers.values()) > len(step.buffers)
    assert all(name.startswith("_buf") for name in step.buffers)


def test_what_a_call_hands_out_is_never_overwritten_by_the_next_call():
    shape = (64, 64)
    inputs = [
        (np.linspace(-1, 1, 4096).reshape(shape), np.full(shape, 0.1)),
        (np.linspace(2, -2, 4096).reshape(shape), np.full(shape, -0.3)),
    ]
    for planning in (contextlib.nullcontext(), planned_everywhere()):
        with planning:
            step = trace(layer, *inputs[0])
            first = step(*inputs[0])
            kept = (np.copy(first[0]), {name: g.copy() for name, g in first[1].items()})
            assert_same(step(*inputs[1]), dynamic(layer, *inputs[1]))
            assert_same(first, kept, rtol=0)
            first[1]["x"] *= 0  # the caller's own arrays: changing them changes nothing of the next call
            assert_same(step(*inputs[0]), kept)


def test_the_same_number_passed_twice_is_two_arguments():
    def f(a, b):
        return Node(a, "a") * Node(b, "b") * 3

    p = np.float64(2.0)
    step = trace(f, p, p)
    assert_same(step(np.float64(2.0), np.float64(5.0)), dynamic(f, np.float64(2.0), np.float64(5.0)))


def test_an_integer_argument_that_f_converts_to_floats_is_refused_not_frozen():
    W = Node(np.ones((3, 2)), "W")
    for f in (lambda x: (Node(x) @ W).sum(), lambda x: (x @ W).sum()):
        with pytest.raises(TypeError, match="x is an array of int64 that f turns into floats"):
            trace(f, np.arange(6).reshape(2, 3))
    step = trace(lambda x: (Node(x) @ W).sum(), np.arange(6.0).reshape(2, 3))  # floats: read at each call
    np.testing.assert_allclose(step(np.ones((2, 3)))[0], 12.0)


def test_what_the_program_would_freeze_is_refused_or_traced_per_value():
    x = np.array([-0.5, 0.3, 2.0])

    def relu_by_mask(x):
        n = Node(x, "x")
        return (n * (n > 0)).sum()

    def band(x):
        n = Node(x, "x")
        return dp.where((n > 0) & (n < 1), n, 0.0).sum()

    def greater(x):
        n = Node(x, "x")
        return dp.where(np.greater(n, 0), n, 0.0).sum()

    with pytest.raises(TypeError, match="a comparison.s mask"):
        trace(relu_by_mask, x)
    for f in (band, greater):
        with pytest.raises(TypeError, match="where condition"):
            trace(f, x)
    with pytest.raises(TypeError, match="alpha= of leaky_relu"):
        trace(lambda x, a: Node(x, "x").leaky_relu(a).sum(), x, np.float64(0.2))
    with pytest.raises(TypeError, match="np.matrix"), pytest.warns(PendingDeprecationWarning):
        trace(lambda x: Node(x, "x").sum(), np.matrix([[1.0, 2.0]]))

    def scalar_where(x):  # a 0-d comparison's mask is computed again at each call
        n = Node(x, "x")
        return dp.where(n > 0, n, 0.1 * n)

    step = trace(scalar_where, np.float64(2.0))
    for value in (-3.0, 5.0):
        out = scalar_where(np.float64(value))
        assert step(np.float64(value)) == (out.value, out.grad(1))

    def row(W, i):  # a NumPy integer argument: one program per value
        return (Node(W, "W")[i] ** 2).sum()

    W = np.arange(6.0).reshape(3, 2)
    step = trace(row, W, np.int64(0))
    for i in (2, 1):
        value, grads = step(W, np.int64(i))
        out = row(W, np.int64(i))
        assert value == out.value
        np.testing.assert_array_equal(grads["W"], out.grad(1)["W"])


def test_numbers_made_from_a_mask_and_integer_named_leaves_are_refused():
    x = np.array([0.5, -2.0])
    made = [
        lambda n: n * ~(n > 0),
        lambda n: n * (1 - (n > 0)),
        lambda n: (0.5 * (n > 0)) * n,
        lambda n: n * np.logical_not(n > 0),
    ]
    for g in made:
        with pytest.raises(TypeError, match="a comparison's mask"):
            trace(lambda x, g=g: g(Node(x, "x")).sum(), x)
    with pytest.raises(TypeError, match="n is an array of int64 that f turns into floats"):
        trace(lambda n: (Node(n, "n") * Node(n, "n")).sum(), np.array([1, 2]))
    uniform = trace(lambda x: (Node(x, "x") * Node(np.ones(2))).sum(), x)  # a constant, no mask: allowed
    assert uniform(np.array([1.0, 2.0]))[0] == 3.0


@pytest.mark.parametrize(
    "made",
    [
        lambda n: n[:2] * (n > 0)[:2],
        lambda n: n * (n > 0).sum(),
        lambda n: n * ((n > 0) * np.array([1.0, 2.0, 3.0, 4.0])),
        lambda n: n * np.cumsum(n > 0),
        lambda n: dp.where(n > 0, 1.0, 2.0) * n,
    ],
    ids=["sliced", "counted", "weighted", "cumsum", "where of two numbers"],
)
def test_any_number_made_from_a_mask_is_refused_however_it_was_made(made):
    with pytest.raises(TypeError, match="a comparison's mask"):
        trace(lambda x: made(Node(x, "x")).sum(), np.array([1.0, 2.0, 3.0, 4.0]))


def test_a_constant_that_looks_like_a_mask_is_no_mask_and_a_mask_used_as_an_index_is_refused():
    def f(x1, x2):
        x1, x2 = Node(x1, "x1"), Node(x2, "x2")
        return (dp.where(x1 > x2, x1, x2) * Node(np.array([1.0, 2.0]))).sum()

    step = assert_traced_like_dynamic(f, np.array([1.0, -1.0]), np.array([0.0, 0.5]))
    assert_same(
        step(np.array([-1.0, 1.0]), np.array([0.5, 0.0])), dynamic(f, np.array([-1.0, 1.0]), np.array([0.5, 0.0]))
    )
    with pytest.raises(TypeError, match=r"x\[mask\]"):
        trace(lambda x: (lambda n: n[n > 0].sum())(Node(x, "x")), np.array([1.0, -2.0, 3.0]))


def test_what_f_takes_out_of_the_graph_or_copies_out_of_a_0d_array_is_refused():
    x = np.array([1.0, -2.0, 3.0])
    with pytest.raises(TypeError, match=r"y.detach\(\)"):
        trace(lambda x: (lambda n: (n * (n * 2).detach()).sum())(Node(x, "x")), x)
    assert_traced_like_dynamic(lambda x: (lambda n: (n * Node(x).detach()).sum())(Node(x, "x")), x)  # a constant
    w = np.array(2.0)
    with pytest.raises(TypeError, match="from a 0-d array"):
        trace(lambda x: (Node(x, "x") * Node(w, "w")).sum(), x)


def test_names_are_read_as_python_reads_them_and_never_meet_a_gradients_name():
    def f(x):
        return (
            (
                Node(np.array([1.0, 2.0]), "v2_bar")
                * Node(np.array([3.0, 4.0]), "ﬁ")
                * Node(np.array([5.0, 6.0]), "fi")
                * Node(x, "x")
            )
            ** 2
        ).sum()

    step = assert_traced_like_dynamic(f, np.array([1.0, -1.0]))
    assert_same(step(np.array([0.5, 2.0])), dynamic(f, np.array([0.5, 2.0])))

    def g(v2_bar, x):
        y = Node(v2_bar) * Node(x, "b")
        return (y * y).sum()

    assert_traced_like_dynamic(g, np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0]))


def test_gradients_keep_the_engines_types_and_dtypes_where_contributions_meet():
    def zero_d(x):
        n = Node(x, "x")
        return dp.where(n > 0, n, n * 2.0) * 1.0

    value, grads = trace(zero_d, np.float64(0.3))(np.float64(-0.3))
    assert type(grads["x"]) is type(zero_d(np.float64(-0.3)).grad(1)["x"]) is np.float64

    def mixed(x):  # float64 contributions meet at a float32 node: the engine's sum promotes, then adds in place
        n = Node(x, "x") * 1.5
        return (n * np.float64(3) + n * np.ones(3) + n * 2 + n * n).sum()

    for planning in (contextlib.nullcontext(), planned_everywhere()):
        with planning:
            assert_traced_like_dynamic(mixed, np.array([1.0, 2.0, 3.0], dtype=np.float32))


def test_minus_zero_nan_and_numpy_scalar_powers():
    def f(x, s):
        return (Node(x, "x") * (1.0 / s if s else np.copysign(1.0, s))).sum()

    step = trace(f, np.ones(3), 0.0)
    assert step(np.ones(3), -0.0)[0] == -3.0 and step(np.ones(3), 0.0)[0] == 3.0
    step(np.ones(3), float("nan"))
    step(np.ones(3), float("nan"))
    assert len(step.programs) == 3  # 0.0, -0.0 and nan: one program each, nan not traced again
    cube = trace(lambda x: Node(x, "x") ** 3, np.float64(0.3))
    for x in np.random.default_rng(1).uniform(0.01, 3, 200):
        assert_same(cube(np.float64(x)), dynamic(lambda x: Node(x, "x") ** 3, np.float64(x)), rtol=0)


def test_check_mode_says_when_f_applied_fewer_operations():
    def f(x):
        n = Node(x, "x")
        loss = (n * n).sum()
        return loss * 0.1 if loss.value > 1.0 else loss

    step = trace(f, np.array([2.0]), check=True)
    with pytest.raises(RuntimeError, match="f applied fewer operations"):
        step(np.array([0.1]))


def test_powers_with_a_fixed_exponent_and_abs_read_as_numpy():
    def f(x):
        n = Node(x, "x")
        return (abs(n - 1) ** 2).sum() + (n**-0.5).sum() + (n**n).sum()

    step = trace(f, np.array([0.5, 2.0]))
    assert "v3 = v2 ** 2" in step.source and "np.sign(v1)" in step.source and "_forward['power'](x, x)" in step.source
    for x in (np.array([1.5, 0.3]), np.array([3.0, 0.9])):
        value, grads = step(x)
        out = f(x)
        assert value == out.value
        np.testing.assert_array_equal(grads["x"], out.grad(1)["x"])


def test_a_program_with_no_named_leaf_warns_as_grad_does():
    step = trace(lambda x: (Node(x) * 2).sum(), np.ones(3))
    with pytest.warns(UserWarning, match="no named leaf"):
        assert step(np.ones(3)) == (6.0, {})


def test_arguments_are_traced_without_copies_unless_a_copy_tells_them_apart():
    W_outside = np.array([1.0, 2.0, 3.0])
    captured = Node(np.array([0.5, -1.0, 2.0]), "W")

    def views(x):  # f slices its argument: the program copies each call's x into the array f saw
        return (Node(x[:2], "head") * 2).sum()

    def captured_and_passed(x):  # the caller passes the captured leaf's array as x
        return (captured * Node(x, "x")).sum()

    def global_and_passed(x):  # an array f captures, passed as x too: two leaves hold one array
        return (Node(W_outside, "W") * Node(x, "x") * x).sum()

    example = np.array([1.0, -2.0, 3.0])
    for f, first in ((views, example), (captured_and_passed, captured.value), (global_and_passed, W_outside)):
        step = assert_traced_like_dynamic(f, first)
        kept = first.copy()
        assert_same(step(example * 3), dynamic(f, example * 3))
        np.testing.assert_array_equal(first, kept)  # the caller's example is never written into
    twice = assert_traced_like_dynamic(lambda a, b: (Node(a, "a") * Node(b, "b")).sum(), example, example)
    assert_same(
        twice(example, example * 2), dynamic(lambda a, b: (Node(a, "a") * Node(b, "b")).sum(), example, example * 2)
    )
