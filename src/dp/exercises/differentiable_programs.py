"""The exercises of the course chapter on differentiable programs (17_differentiable_programs).

Three kinds of piece, each written once: what the notebook gives the student and shows with
`show_source` (one Newton step, one Euler step of a thrown ball, a network's loss as a function
of one flat vector); the reference solutions of the chapter's exercises; and their checks, each
with a planted wrong answer that is a mistake students make.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from dp.exercises.checker import Exercise, WrongForm, hanging, named, nice, parts_of, register, show
from dp.forward import Dual, jvp
from dp.functional import grad, hessian
from dp.node import Node

#: Gravity, in m/s².
GRAVITY = 9.81


# ================================================================================================
# What the notebook gives the student


def newton_step(f: Callable[[Any, Any], Any], x: Any, theta: Any) -> tuple[Any, Any]:
    """One step of Newton's method for a root of x -> f(x, theta): (the new x, the step taken).

    f_x comes from one forward-mode pass along x, so f is all the caller writes. x and theta may
    be Nodes: the Dual's value and tangent are then Nodes too, and everything stays differentiable.
    """
    value, slope = jvp(lambda x: f(x, theta), x, 1.0)
    step = value / slope
    return x - step, step


def euler_step(state: tuple[Any, Any, Any, Any], drag: Any, dt: float) -> tuple[Any, Any, Any, Any]:
    """One explicit Euler step of a ball under gravity and quadratic air drag.

    state = (x, y, vx, vy) in metres and m/s; the drag decelerates the ball by drag * |v| * v
    (drag in 1/m: the drag coefficient times the air's density and the ball's cross-section,
    over twice its mass).
    """
    x, y, vx, vy = state
    speed = np.sqrt(vx * vx + vy * vy)
    return (x + dt * vx, y + dt * vy, vx - dt * drag * speed * vx, vy - dt * (GRAVITY + drag * speed * vy))


def network_loss(sizes: Sequence[int], x: np.ndarray, t: np.ndarray) -> Callable[[Any], Any]:
    """The squared error of a tanh network on the data (x, t), as a function of one flat vector.

    `sizes` are the layer widths, input first; the vector holds each layer's W (row by row) then
    its b, layer after layer, and its length is the function's `size`. The hidden layers are tanh,
    the last is linear; the loss is half the mean over the examples of the squared error.
    """
    shapes = list(zip(sizes[:-1], sizes[1:]))
    count = sum(n_in * n_out + n_out for n_in, n_out in shapes)

    def loss(theta: Any) -> Any:
        if tuple(theta.shape) != (count,):
            raise ValueError(
                f"network_loss: this network has {count} parameters, got a vector of shape {tuple(theta.shape)}"
            )
        h, start = x, 0
        for layer, (n_in, n_out) in enumerate(shapes):
            W = theta[start : start + n_in * n_out].reshape(n_in, n_out)
            b = theta[start + n_in * n_out : start + n_in * n_out + n_out]
            start += n_in * n_out + n_out
            h = h @ W + b
            if layer < len(shapes) - 1:
                h = np.tanh(h)
        return 0.5 * ((h - t) ** 2).sum() / len(x)

    loss.size = count  # type: ignore[attr-defined]  # the number of parameters, for the caller
    return loss


# ================================================================================================
# The reference solutions


def newton(f: Callable[[Any, Any], Any], theta: Any, x0: float, tol: float = 1e-12, max_steps: int = 50) -> Any:
    """A root of x -> f(x, theta) by Newton's method from x0, stopping once a step is below `tol`."""
    x = x0
    for _ in range(max_steps):
        x, step = newton_step(f, x, theta)
        if abs(float(step)) < tol:
            return x
    raise RuntimeError(f"newton: no convergence in {max_steps} steps from x0 = {x0} (last step {float(step):.3g})")


def implicit_derivative(f: Callable[[Any, Any], Any], x_star: float, theta: float) -> float:
    """dx*/dtheta at a root x* of f(., theta), by the implicit function theorem: -f_theta / f_x."""
    f_x, f_theta = grad(f, (0, 1))(x_star, theta)
    return -f_theta / f_x


def flight(
    angle: Any, drag: Any, speed: float = 20.0, dt: float = 0.01, max_steps: int = 100_000
) -> tuple[Any, np.ndarray]:
    """Throw a ball from the origin and Euler-step it until it lands: (the distance, the path).

    The distance is where the line between the last point above the ground and the first one
    below it crosses y = 0; the path is every Euler point as plain numbers, shape (n, 2), the
    one below the ground last.
    """
    state = (0.0, 0.0, speed * np.cos(angle), speed * np.sin(angle))
    path = [(0.0, 0.0)]
    for _ in range(max_steps):
        previous, state = state, euler_step(state, drag, dt)
        path.append((float(state[0]), float(state[1])))
        if float(state[1]) < 0:
            fraction = previous[1] / (previous[1] - state[1])
            return previous[0] + fraction * (state[0] - previous[0]), np.array(path)
    raise RuntimeError(f"flight: the ball has not landed after {max_steps} steps of {dt} s")


def hvp_forward_over_reverse(loss: Callable[[Any], Any], theta: np.ndarray, v: np.ndarray) -> np.ndarray:
    """H v: the gradient of the loss at the dual number theta + εv; its tangent is H v."""
    return grad(loss)(Dual(theta, v)).tangent


def hvp_reverse_over_reverse(loss: Callable[[Any], Any], theta: np.ndarray, v: np.ndarray) -> np.ndarray:
    """H v: the gradient, kept as a graph, dotted with v and differentiated again."""
    leaf = Node(theta, "theta")
    gradient = loss(leaf).grad(create_graph=True)["theta"]
    return (gradient * v).sum().grad()["theta"]


# ================================================================================================
# The checks


#: Root problems Newton's method solves from x0 for every theta in the range: (f, theta range, x0).
_ROOT_PROBLEMS = (
    (named(lambda x, theta: x - theta * np.sin(x) - 1.0, "lambda x, theta: x - theta * sin(x) - 1"), (0.1, 0.9), 1.0),
    (named(lambda x, theta: x**3 - theta, "lambda x, theta: x**3 - theta"), (1.0, 8.0), 2.0),
    (named(lambda x, theta: x * np.exp(x) - theta, "lambda x, theta: x * exp(x) - theta"), (0.5, 5.0), 1.0),
    (
        named(lambda x, theta: np.tanh(theta * x) - 0.5 + 0.1 * x, "lambda x, theta: tanh(theta * x) - 0.5 + 0.1 * x"),
        (0.5, 3.0),
        0.0,
    ),
)
#: x**3 = theta from x0 = 60: each step shrinks x by about a third, so some fifteen steps are needed,
#: more than any fixed count a student might guess, and fewer than 8 cannot get there.
_FAR_START = (_ROOT_PROBLEMS[1][0], (1.0, 8.0), 60.0)

#: What the check's run gives for an answer that raises RuntimeError, as the exercise asks when
#: max_steps steps do not get there.
NO_CONVERGENCE = "RuntimeError (no convergence within max_steps)"


def _root_problem(rng: np.random.Generator, size: int) -> dict[str, Any]:
    """A root problem with tol and max_steps: at size 1 a plain one; from size 2 sometimes a far
    start (many steps), or a far start with too few steps allowed (a RuntimeError is right).

    tol stays 1e-12: at a looser one an answer that reads x's value between the steps (which the
    notebook allows) has a derivative off by about tol, as the reference's own would be."""
    kind = "plain" if size == 1 else rng.choice(["plain", "far", "too few steps"], p=[0.5, 0.25, 0.25])
    f, (low, high), x0 = _ROOT_PROBLEMS[rng.integers(len(_ROOT_PROBLEMS))] if kind == "plain" else _FAR_START
    return {
        "f": f,
        "theta": float(np.round(rng.uniform(low, high), 1 if size == 1 else 4)),
        "x0": x0,
        "tol": 1e-12,
        "max_steps": 6 if kind == "too few steps" else 50,
    }


def _real_numbers(value: Any, what: str) -> np.ndarray:
    """`value` as an array of floats if it holds real numbers (a Node's value counts), else a WrongForm."""
    try:
        numbers = np.asarray(value.value if isinstance(value, Node) else value)
    except Exception:  # ragged, or an object NumPy cannot hold
        numbers = np.asarray(None)
    if numbers.dtype.kind not in "biuf":
        raise WrongForm(f"{what} is {type(value).__name__} {show(value)[:80]}, not real numbers")
    return numbers.astype(float)


def _real_number(value: Any, what: str) -> float:
    """`value` as a float if it is one real number (a Node's value counts), else a WrongForm."""
    number = _real_numbers(value, what)
    if number.ndim != 0:
        raise WrongForm(f"{what} is {type(value).__name__} {show(value)[:80]}, not one real number")
    return float(number)


def _run_newton(candidate: Any, inputs: Mapping[str, Any]) -> tuple[float, float, float]:
    """(root and dx*/dtheta with theta a Node, the root with theta a plain float); a RuntimeError
    that both calls raise is raised."""
    f, x0, tol, max_steps = inputs["f"], inputs["x0"], inputs["tol"], inputs["max_steps"]
    try:
        root = candidate(f, Node(inputs["theta"], "theta"), x0, tol, max_steps)
    except (NotImplementedError, RecursionError):  # RuntimeErrors too, but not the one asked for
        raise
    except RuntimeError:
        candidate(f, inputs["theta"], x0, tol, max_steps)  # must raise too: then it is NO_CONVERGENCE
        raise WrongForm("yours raised RuntimeError with theta a Node, but returned with theta a plain float")  # noqa: B904
    if not isinstance(root, Node):
        raise WrongForm(
            f"with theta a Node, yours returned {type(root).__name__}, not a Node that depends on "
            "theta: was theta's value taken (theta.value, float(theta))?"
        )
    gradient = float(root.grad(1).get("theta", 0.0))
    try:
        plain_root = candidate(f, inputs["theta"], x0, tol, max_steps)
    except Exception as error:
        error.add_note("(this was the second call, with theta the plain float)")
        raise
    plain_root = _real_number(plain_root, "with theta a plain float, yours")
    return float(root.value), gradient, plain_root


def _newton_outcome(candidate: Any, inputs: Mapping[str, Any]) -> tuple[float, float, float] | str:
    """`_run_newton`; where the reference raises RuntimeError (max_steps too few), NO_CONVERGENCE
    for an answer that raises it too, and a WrongForm that says what is asked for one that returns.
    Elsewhere a RuntimeError is the answer's own error, shown as such."""
    must_raise = _raises(newton, inputs["f"], inputs["theta"], inputs["x0"], inputs["tol"], inputs["max_steps"])
    try:
        outcome = _run_newton(candidate, inputs)
    except RuntimeError as error:
        if must_raise and not isinstance(error, NotImplementedError | RecursionError):
            return NO_CONVERGENCE
        raise
    if must_raise:
        raise WrongForm(
            f"{inputs['max_steps']} steps do not get a step below tol here, and then newton must "
            "raise a RuntimeError; yours returned a root (a fixed number of steps is no stopping rule)"
        )
    return outcome


def _raises(reference: Callable[..., Any], *args: Any) -> bool:
    """Whether the reference raises RuntimeError on `args`: where an answer must raise it too."""
    try:
        reference(*args)
    except RuntimeError:
        return True
    return False


def _describe_root_problem(inputs: Mapping[str, Any]) -> str:
    lines = [hanging(f"{key} = ", show(value)) for key, value in inputs.items()]
    return "\n".join(
        [
            *lines,
            f'(yours is called twice: with theta = Node({show(inputs["theta"])}, "theta"), '
            "then with theta the plain float)",
        ]
    )


def _newton_three_steps(f, theta, x0, tol=1e-12, max_steps=50):
    x = x0
    for _ in range(3):  # a fixed count: enough from a good start, too few from most
        x, _ = newton_step(f, x, theta)
    return x


register(
    Exercise(
        "part1.newton_root",
        "Newton's method until the step is tiny, differentiable in theta",
        inputs=_root_problem,
        solution=newton,
        run=_newton_outcome,
        wrong=_newton_three_steps,
        describe=_describe_root_problem,
        labels=("root x*", "dx*/dtheta (reverse mode through the iterations)", "root x*, theta a plain float"),
    )
)


def _at_root(rng: np.random.Generator, size: int) -> dict[str, Any]:
    f, (low, high), x0 = _ROOT_PROBLEMS[rng.integers(len(_ROOT_PROBLEMS))]
    theta = float(np.round(rng.uniform(low, high), 1 if size == 1 else 4))
    return {"f": f, "x_star": float(newton(f, theta, x0)), "theta": theta}


register(
    Exercise(
        "part1.implicit_derivative",
        "dx*/dtheta by the implicit function theorem",
        inputs=_at_root,
        solution=implicit_derivative,
        run=lambda candidate, inputs: _real_number(candidate(**inputs), "yours"),
        wrong=lambda f, x_star, theta: -implicit_derivative(f, x_star, theta),  # the theorem's minus sign lost
    )
)


def _throw(rng: np.random.Generator, size: int) -> dict[str, Any]:
    """A throw; from size 2 sometimes with too few steps allowed for the ball to land."""
    digits = 1 if size == 1 else 3
    return {
        "angle": float(np.round(rng.uniform(0.2, 1.3), digits)),
        "drag": float(np.round(rng.uniform(0.0, 0.1), 2 if size == 1 else 4)),
        "speed": float(np.round(rng.uniform(5.0, 25.0), 0 if size == 1 else 2)),
        "dt": float(rng.choice([0.01, 0.02, 0.05])),
        "max_steps": 100_000 if size == 1 or rng.random() < 0.75 else 5,
    }


#: What the check's run gives for a flight that raises RuntimeError, as asked when it does not land.
NOT_LANDED = "RuntimeError (not landed within max_steps)"


def _run_flight(candidate: Any, inputs: Mapping[str, Any]) -> tuple[Any, ...] | str:
    """(distance, its gradient, path) with angle and drag Nodes, then the distance with both plain
    floats; NOT_LANDED for an answer that raises RuntimeError where the reference does too."""
    speed, dt, max_steps = inputs["speed"], inputs["dt"], inputs["max_steps"]
    must_raise = _raises(flight, inputs["angle"], inputs["drag"], speed, dt, max_steps)
    try:
        answer = candidate(Node(inputs["angle"], "angle"), Node(inputs["drag"], "drag"), speed, dt, max_steps)
    except RuntimeError as error:  # the one asked for where the ball cannot land; elsewhere the answer's own
        if must_raise and not isinstance(error, NotImplementedError | RecursionError):
            return NOT_LANDED
        raise
    if must_raise:
        raise WrongForm(
            f"the ball cannot land in {max_steps} steps of {dt} s, and then flight must raise a "
            "RuntimeError; yours returned"
        )
    distance, path = parts_of(answer, ("distance", "path"))
    if not isinstance(distance, Node):
        raise WrongForm(f"the distance is {_a(distance)}, not a Node that depends on angle and drag")
    if not isinstance(path, np.ndarray) or path.ndim != 2 or path.shape[1] != 2 or path.dtype.kind != "f":
        raise WrongForm(
            f"the path is {_a(path)}, not a NumPy array of floats of shape (n, 2): "
            "np.array of the list of (float(x), float(y)) points"
        )
    gradients = distance.grad(1)
    try:
        plain = candidate(inputs["angle"], inputs["drag"], speed, dt, max_steps)
    except Exception as error:
        error.add_note("(this was the second call, with angle and drag plain floats)")
        raise
    plain_distance = _real_number(
        plain[0] if isinstance(plain, tuple | list) else plain, "with angle and drag plain floats, the distance"
    )
    return (
        float(distance.value),
        {name: float(gradients.get(name, 0.0)) for name in ("angle", "drag")},
        path,
        plain_distance,
    )


def _a(value: Any) -> str:
    shape = f" of shape {np.shape(value)}" if isinstance(value, np.ndarray | Node) else ""
    return f"a {type(value).__name__}{shape}"


def _flight_without_crossing(angle, drag, speed=20.0, dt=0.01, max_steps=100_000):
    state = (0.0, 0.0, speed * np.cos(angle), speed * np.sin(angle))
    path = [(0.0, 0.0)]
    for _ in range(max_steps):
        state = euler_step(state, drag, dt)
        path.append((float(state[0]), float(state[1])))
        if float(state[1]) < 0:
            return state[0], np.array(path)  # the first point below the ground: off by up to one step's flight
    raise RuntimeError("the ball has not landed")


register(
    Exercise(
        "part1.flight",
        "Euler steps until the ball lands, then the crossing of the ground",
        inputs=_throw,
        solution=flight,
        run=_run_flight,
        wrong=_flight_without_crossing,
        sizes=6,
        trials=4,
        labels=("distance", "its gradient", "path", "distance, angle and drag plain floats"),
    )
)


def _hvp_problem(rng: np.random.Generator, size: int) -> dict[str, Any]:
    if size == 1:
        return {
            "loss": named(lambda t: (t**3).sum() / 6, "lambda t: sum(t**3) / 6"),
            "theta": nice(rng, 1, (2,)),
            "v": nice(rng, 1, (2,)),
        }
    sizes = [int(n) for n in rng.integers(1, 2 + size // 2, size=2 + size // 3)]
    n = 2 + size
    loss = network_loss(sizes, rng.normal(size=(n, sizes[0])), rng.normal(size=(n, sizes[-1])))
    described = named(loss, f"network_loss({sizes}, x, t): a tanh network on {n} random examples")
    return {"loss": described, "theta": rng.normal(size=loss.size), "v": rng.normal(size=loss.size)}  # type: ignore[attr-defined]  # network_loss's size, set on it


def _run_hvp(candidate: Any, inputs: Mapping[str, Any]) -> np.ndarray:
    return _real_numbers(candidate(inputs["loss"], inputs["theta"].copy(), inputs["v"].copy()), "yours")


def _hvp_from_dp(inputs: Mapping[str, Any]) -> np.ndarray:
    return hessian(inputs["loss"])(inputs["theta"]) @ inputs["v"]


register(
    Exercise(
        "part1.hvp_forward_over_reverse",
        "H v as forward mode over reverse mode: a Dual into dp.grad",
        inputs=_hvp_problem,
        solution=hvp_forward_over_reverse,
        run=_run_hvp,
        expected=_hvp_from_dp,
        wrong=lambda loss, theta, v: grad(loss)(Dual(theta, v)).value,  # the value's part: the gradient, not H v
    )
)


def _hvp_of_ones(loss, theta, v):
    gradient = loss(Node(theta, "theta")).grad(create_graph=True)["theta"]
    return gradient.sum().grad()["theta"]  # the gradient summed, not dotted with v: H times a vector of ones


register(
    Exercise(
        "part1.hvp_reverse_over_reverse",
        "H v as reverse mode over reverse mode: create_graph, then grad again",
        inputs=_hvp_problem,
        solution=hvp_reverse_over_reverse,
        run=_run_hvp,
        expected=_hvp_from_dp,
        wrong=_hvp_of_ones,
    )
)
