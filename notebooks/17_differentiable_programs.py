# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Part 1.7 · Differentiable programs beyond networks
#
# The DP paper explains its own name: "the term differentiable programming also reflects the fact
# that a much wider spectrum of models is possible by using additional (differentiable) structures
# (e.g. memory, stacks, queues) as building blocks and control flow statements." A network is one
# program among many. dp differentiates whatever your Python code does with Nodes — loops that
# run until a test on the data says stop, `if`s, function calls — because the dynamic graph is
# the record of what the program did this time.
#
# In this notebook you differentiate three programs that are not networks, or not only:
#
# 1. **A solver.** Newton's method runs until its step is tiny, a number of iterations only the
#    data decides. You differentiate the root it finds with respect to a parameter, through the
#    iterations, and check it against the implicit function theorem.
# 2. **A simulation.** A ball thrown through air, Euler-stepped until it lands. You fit the launch
#    angle by gradient descent so that it lands on a target, and find the angle of the longest
#    throw.
# 3. **A derivative of a derivative.** The Hessian of a network's loss times a vector, with the
#    two modes nested both ways, checked against each other and against finite differences.
#
# Then, briefly, why `dp.trace` (`16_static_and_dynamic_graphs`) would freeze these loops.

# %%
import numpy as np

import dp
from dp import Dual, Node
from dp.exercises import check, exercise
from dp.exercises.course import FAST, _pyplot, best_time, show_source
from dp.exercises.differentiable_programs import euler_step, network_loss, newton_step

plt = _pyplot()

# %% [markdown]
# ## 1. Differentiating a solver: Newton's method
#
# Kepler's equation says where a planet is on its elliptical orbit at a given time: the
# *eccentric anomaly* $x$ solves
#
# $$f(x, \theta) = x - \theta \sin x - M = 0,$$
#
# with $\theta$ the orbit's eccentricity ($0 \le \theta < 1$) and $M$ the *mean anomaly*, the time
# since the closest approach in units of the orbit's period over $2\pi$; here $M = 1$. There is no
# formula for $x^*(\theta)$: one solves for it. Newton's method replaces $f$ by its tangent at the
# current $x$ and jumps to the tangent's root,
#
# $$x_{k+1} = x_k - \frac{f(x_k, \theta)}{f_x(x_k, \theta)},$$
#
# and stops when the step is tiny. One step is given; it gets $f_x$ from one forward-mode pass
# (`jvp`, `10_dual_numbers`) along $x$, so $f$ is all you write:

# %%
def kepler(x, theta):
    return x - theta * np.sin(x) - 1.0


show_source(newton_step)

# %% [markdown]
# How the steps close in on the root, for $\theta = 0.8$ from $x_0 = 1$: each tangent (dashed)
# meets the axis at the next iterate.

# %%
theta_demo = 0.8
xs = np.linspace(0.8, 2.6, 200)
fig, ax = plt.subplots(figsize=(7, 3.8))
ax.plot(xs, kepler(xs, theta_demo), label=r"$f(x, 0.8) = x - 0.8 \sin x - 1$")
ax.axhline(0, color="black", linewidth=0.8)
x = 1.0
for k in range(3):
    value, slope = dp.jvp(lambda x: kepler(x, theta_demo), x, 1.0)
    x_next, _ = newton_step(kepler, x, theta_demo)
    ax.plot([x, x, x_next], [0, value, 0], "o--", color=f"C{k + 1}", label=f"step {k + 1}: $x$ = {x_next:.6f}")
    x = x_next
ax.set(xlabel="x", ylabel="f", title="Newton's method on Kepler's equation")
ax.grid(alpha=0.3)
ax.legend()
plt.show()

# %% [markdown]
# **Exercise 1.13.** Write `newton(f, theta, x0, tol=1e-12, max_steps=50)`: starting from `x0`,
# take `newton_step`s until the step's size is below `tol`, and return the last `x`. If
# `max_steps` steps do not get there, raise a `RuntimeError` that says so. `theta` may be a
# Node: then the `x` you return is a Node, and `x.grad(1)["theta"]` is $dx^*/d\theta$, by reverse
# mode through every iteration the loop took.
#
# The loop's test reads a number (`float(step)`): a Python `while` or `if` needs a True or a
# False, not a Node. That is fine — the test chooses which operations run, and the graph
# records the ones that did. What you must not do is take $\theta$'s plain value
# (`theta.value`, `float(theta)`) into the steps: the graph would then lose its way back to
# $\theta$. (Starting each step from `x.value` does no such harm: the last step still depends on
# $\theta$, and, as the derivation below shows, at the root its derivative alone is the right one.)
# `theta` may as well be a plain float — cells below call `newton` so — and then so is the root.
#
# Why not simply run, say, five steps? Because how many are needed depends on the data. The check
# tries several equations, parameters and starts (one far off, which needs some fifteen steps),
# compares both the root and its derivative with the reference's, calls your `newton` with a
# plain float `theta` as well, and gives it too few `max_steps` once, to see the `RuntimeError`.

# %%
@exercise("part1.newton_root")
def newton(f, theta, x0, tol=1e-12, max_steps=50):
    # YOUR CODE HERE
    raise NotImplementedError


check("part1.newton_root", newton)

# %% [markdown]
# The graph is the record of the loop, so its size tells how many iterations ran: a harder
# equation (a larger eccentricity) takes more, and its graph is longer.

# %%
for theta_value in (0.1, 0.5, 0.8, 0.95):
    root = newton(kepler, Node(theta_value, "theta"), 1.0)
    print(f"theta = {theta_value:4}: x* = {float(root.value):.12f}, dx*/dtheta = {float(root.grad(1)['theta']):.10f}, "
          f"{len(dp.topological_order(root))} nodes in the graph")

# %% [markdown]
# ### The implicit function theorem
#
# There is another way to the same derivative, which needs no iterations at all. Along the curve
# of roots, $f(x^*(\theta), \theta) = 0$ for every $\theta$, so its total derivative is zero as
# well:
#
# $$f_x \, \frac{dx^*}{d\theta} + f_\theta = 0 \qquad\Longrightarrow\qquad
# \frac{dx^*}{d\theta} = -\frac{f_\theta(x^*, \theta)}{f_x(x^*, \theta)}.$$
#
# Only the partial derivatives of $f$ at the root are needed, not how the root was found.
#
# **Exercise 1.14.** Write `implicit_derivative(f, x_star, theta)`, which returns $dx^*/d\theta$
# at a root `x_star` by the theorem, with both partial derivatives from one call of
# `dp.grad(f, (0, 1))`. Mind the sign.

# %%
@exercise("part1.implicit_derivative")
def implicit_derivative(f, x_star, theta):
    # YOUR CODE HERE
    raise NotImplementedError


check("part1.implicit_derivative", implicit_derivative)

# %% [markdown]
# Three derivatives of the same root: dp's reverse mode through the loop, the theorem, and a
# central difference of the whole solver (`dp.numerical_grad`, which runs `newton` at
# $\theta \pm 10^{-6}$).

# %%
def root_of_kepler(theta):
    return newton(kepler, theta, 1.0)


theta_node = Node(theta_demo, "theta")
root = root_of_kepler(theta_node)
unrolled = float(root.grad(1)["theta"])
theorem = float(implicit_derivative(kepler, float(root.value), theta_demo))
finite = float(dp.numerical_grad(root_of_kepler, theta_demo))
print(f"through the iterations  {unrolled:.15f}")
print(f"implicit function thm.  {theorem:.15f}")
print(f"central difference      {finite:.15f}")
assert abs(unrolled - theorem) < 1e-12 and abs(unrolled - finite) < 1e-7

# %% [markdown]
# Why do the first two agree, to the last digits? Differentiate one Newton step. With $f$ and its
# derivatives taken at $(x_k, \theta)$,
#
# $$\frac{dx_{k+1}}{d\theta} = -\frac{f_\theta}{f_x}
#   + \frac{f}{f_x^2}\Big(f_{xx} \frac{dx_k}{d\theta} + f_{x\theta}\Big).$$
#
# The first term is the theorem's formula, at $x_k$ rather than at $x^*$; the second carries the
# factor $f(x_k, \theta)$, which Newton's method drives to zero. So the derivative of the iterates
# converges to the theorem's value as fast as the iterates converge to the root — and computing
# it took no derivation at all. Watch both, step by step
# (the errors stop at the float64 floor, $10^{-16}$; an error of exactly 0 is drawn at $10^{-17}$):

# %%
x_star, slope_star = float(root.value), unrolled
x, root_errors, slope_errors = 1.0, [], []
for k in range(6):
    x, _ = newton_step(kepler, x, theta_node)
    root_errors.append(abs(float(x.value) - x_star))
    slope_errors.append(abs(float(x.grad(1)["theta"]) - slope_star))

fig, ax = plt.subplots(figsize=(6.5, 3.8))
ax.semilogy(np.arange(1, 7), np.maximum(root_errors, 1e-17), "o-", label=r"$|x_k - x^*|$")
ax.semilogy(np.arange(1, 7), np.maximum(slope_errors, 1e-17), "s-", label=r"$|dx_k/d\theta - dx^*/d\theta|$")
ax.set(xlabel="Newton step k", ylabel="error", title=r"the iterates and their derivatives converge together ($\theta$ = 0.8)")
ax.grid(alpha=0.3)
ax.legend()
plt.show()

# %% [markdown]
# The two ways differ in cost. Reverse mode through the loop keeps every iteration in the graph
# (memory grows with the count) and needs nothing but the solver. The theorem needs only the
# solution — the solver may be anything, even a black box — and one derivative of $f$ there.
# Large models use the theorem: "implicit layers" and deep equilibrium models solve for a fixed
# point in the forward pass and differentiate it that way.

# %% [markdown]
# ## 2. Differentiating a simulation: a ball through the air
#
# A ball is thrown from the ground at speed $s = 20$ m/s and angle $\alpha$. Gravity pulls it
# down; air drag decelerates it in proportion to the square of its speed, $-k\,|v|\,v$. There is
# no closed formula for where it lands; one simulates. Explicit Euler steps of $\Delta t = 0.01$
# s advance the position by the velocity and the velocity by the acceleration:

# %%
show_source(euler_step)

# %% [markdown]
# The simulation runs until the ball is below the ground — a loop whose length depends on the
# angle and the drag, like Newton's. Where did it land? Not at the first point below the ground:
# that point moves in jumps of one step's flight, about 15 cm, as the angle changes, and between
# the jumps the gradient would see only how that point moves, not when the ball lands. The ball
# crossed $y = 0$ somewhere on its last step; between the last point above the ground
# $(x_a, y_a)$ and the first one below it $(x_b, y_b)$, the straight line crosses at
#
# $$d = x_a + \frac{y_a}{y_a - y_b}\,(x_b - x_a),$$
#
# which moves continuously with the parameters.
#
# **Exercise 1.15.** Write `flight(angle, drag, speed=20.0, dt=0.01, max_steps=100_000)`: start
# at the origin with the velocity $(s\cos\alpha, s\sin\alpha)$, take `euler_step`s until $y < 0$,
# and return `(d, path)`: the crossing $d$ (a Node when `angle` or `drag` is one) and the path as
# a plain array of shape (n, 2) of all the points, from the origin to the first one below the
# ground. Raise a `RuntimeError` if the ball has not landed after `max_steps` steps. The cells
# below call `flight` with plain floats as well as with Nodes; the check does both, compares the
# path too, and once allows too few steps for the ball to land.

# %%
@exercise("part1.flight")
def flight(angle, drag, speed=20.0, dt=0.01, max_steps=100_000):
    # YOUR CODE HERE
    raise NotImplementedError


check("part1.flight", flight)

# %% [markdown]
# The crossing matters. Here is the landing distance as a function of the angle, over 0.4
# degrees, with $k = 0.02$/m: the first point below the ground (the path's last point) jumps
# whenever the landing takes one Euler step more, and between the jumps it even moves the wrong
# way; the crossing moves smoothly. Differentiate the first point, and the gradient is the slope
# of one tooth of the saw: of the wrong sign.

# %%
drag = 0.02
angles = np.radians(np.linspace(30.0, 30.4, 81))
flights = [flight(angle, drag) for angle in angles]
fig, ax = plt.subplots(figsize=(7, 3.8))
ax.plot(np.degrees(angles), [path[-1, 0] for _, path in flights], ".-", label="the first point below the ground")
ax.plot(np.degrees(angles), [float(d) for d, _ in flights], ".-", label="the crossing of y = 0")
ax.set(xlabel="launch angle (degrees)", ylabel="distance (m)", title="where did the ball land?")
ax.grid(alpha=0.3)
ax.legend()
plt.show()

# %% [markdown]
# dp's gradient of the crossing, against central differences of the whole simulation (which runs
# it twice per parameter): reverse mode through the steps, whatever their number.

# %%
angle, drag_node = Node(np.radians(30.0), "angle"), Node(drag, "drag")
distance, _ = flight(angle, drag_node)
by_dp = distance.grad(1)
by_differences = dp.numerical_grad(lambda p: flight(p[0], p[1])[0], np.array([np.radians(30.0), drag]))
print(f"distance {float(distance.value):.4f} m")
print(f"d/dangle: dp {float(by_dp['angle']):.6f}, central differences {by_differences[0]:.6f} (m per radian)")
print(f"d/ddrag:  dp {float(by_dp['drag']):.4f}, central differences {by_differences[1]:.4f} (m per 1/m)")

# %% [markdown]
# ### Aim: hit a target 25 m away
#
# The loss is half the squared miss, $\frac12 (d(\alpha) - 25)^2$, and gradient descent moves
# the angle against its gradient, $(d - 25)\, d'(\alpha)$, with $d'$ by reverse mode through the
# flight. (The step size suits $d'$ on the way, which falls from 35 m per radian at the start to
# 13.5 at the target. Two and a half times as large, and the first step overshoots past the longest
# throw, to the other angle that reaches 25 m: a high lob at about 50.6°. Which of two solutions
# gradient descent finds depends on where it starts.)

# %%
target, learning_rate = 25.0, 1e-3
angle_value, aims = np.radians(20.0), []
for step in range(10 if FAST else 40):
    angle = Node(angle_value, "angle")
    distance, path = flight(angle, drag)
    aims.append((angle_value, float(distance.value), path))
    loss = 0.5 * (distance - target) ** 2
    angle_value -= learning_rate * float(loss.grad(1)["angle"])
print(f"after {len(aims)} steps: angle {np.degrees(angle_value):.3f} degrees, "
      f"lands at {float(flight(angle_value, drag)[0]):.4f} m")

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.6), gridspec_kw={"width_ratios": [2, 1]})
shown = [step for step in (0, 1, 2, 4, 8, 16, 32) if step < len(aims)]
for index, step in enumerate(shown):
    aim, landed, path = aims[step]
    left.plot(path[:, 0], path[:, 1], color=plt.cm.viridis(index / len(shown)),
              label=f"step {step}: {np.degrees(aim):.2f}°, {landed:.3f} m")
left.plot([target], [0], "rx", markersize=12, markeredgewidth=3, label="target")
left.set(xlabel="x (m)", ylabel="y (m)", title="gradient descent on the launch angle", ylim=(0, 8))
left.grid(alpha=0.3)
left.legend(fontsize=7, loc="upper right")
right.semilogy([abs(landed - target) for _, landed, _ in aims], "o-", markersize=3)
right.set(xlabel="step", ylabel="|miss| (m)", title="how far from the target")
right.grid(alpha=0.3)
fig.tight_layout()
plt.show()

# %% [markdown]
# The first step covers most of the way; after it, the miss shrinks by a constant factor per
# step, as gradient descent's error does near a minimum.
#
# ### The longest throw
#
# Without air, a ball flies furthest at 45°. With drag, at a flatter angle: a high throw spends
# longer in the air, losing speed all the while, and a flatter one wastes less of it. Gradient *ascent* on the distance
# itself finds the best angle for each drag:

# %%
for k in (0.0, 0.02, 0.05):
    angle_value = np.radians(35.0)
    for step in range(15 if FAST else 40):
        angle = Node(angle_value, "angle")
        distance, _ = flight(angle, k)
        angle_value += 2e-3 * float(distance.grad(1)["angle"])
    print(f"drag {k:4}/m: the longest throw leaves at {np.degrees(angle_value):.2f} degrees and flies "
          f"{float(distance.value):.2f} m")

# %% [markdown]
# Without drag the ascent stops at about 44.9°, not at 45°. The crossing is continuous, but its
# slope jumps a little wherever the landing takes one Euler step more (the straight line
# through the last step is not the true curve), and here the top sits on such a kink: the slope
# is +0.19 m per radian just below 44.935° and −0.11 just above. A smaller $\Delta t$ moves the
# kinks closer together and the answer closer to 45°.
#
# The same recipe fits any parameter of any simulation whose steps are written with dp's
# operations: a drag coefficient from measured landing points, the stiffness of a spring, the
# rates of a chemical reaction. The gradient costs about one more simulation, run backwards, however
# many parameters there are.

# %% [markdown]
# ## 3. A derivative of a derivative: Hessian-vector products
#
# Second derivatives of a network's loss $L(\theta)$ tell how the landscape curves: how large a
# learning rate can be before gradient descent diverges, where Newton-type optimisers step, how
# sharp a minimum is. The Hessian $H$ has $n^2$ entries for $n$ parameters — far too many for a
# real network — but what these uses need is $H v$ for a vector $v$: the directional derivative of
# the gradient,
#
# $$H v = \frac{d}{d\varepsilon}\,\nabla L(\theta + \varepsilon v)\Big|_{\varepsilon = 0},$$
#
# which costs a small constant times one gradient, whatever $n$. dp has two ways to compute it:
#
# * **forward over reverse**: run the gradient (reverse mode) on the dual number
#   $\theta + \varepsilon v$ (forward mode). The gradient comes out as a Dual, $\nabla L(\theta) +
#   \varepsilon\, H v$: its tangent is $H v$.
# * **reverse over reverse**: compute the gradient *as a graph* (`grad(create_graph=True)`, which
#   records the backward pass itself), take the scalar $\nabla L(\theta) \cdot v$, and
#   differentiate that again: $\nabla_\theta (\nabla L \cdot v) = H v$, since $H$ is symmetric.
#
# The network: one input, 16 tanh units, one output; its loss, the squared error of fitting
# $\sin 2x$ at 64 points, at random weights. `network_loss` makes the loss a function of all 49
# weights and biases in one flat vector:

# %%
show_source(network_loss)

# %%
rng = np.random.default_rng(0)
inputs = np.linspace(-2, 2, 64).reshape(-1, 1)
loss = network_loss([1, 16, 1], inputs, np.sin(2 * inputs))
theta = rng.normal(size=loss.size) * 0.7
v = rng.normal(size=loss.size)
print(f"{loss.size} parameters, loss {float(loss(theta)):.4f}")

# %% [markdown]
# **Exercise 1.16.** Write `hvp_forward_over_reverse(loss, theta, v)`: give `dp.grad(loss)` the
# argument `Dual(theta, v)`, and return the tangent of what comes back.
#
# **Exercise 1.17.** Write `hvp_reverse_over_reverse(loss, theta, v)`: make `theta` a Node leaf
# named `"theta"`, get the gradient with `loss(leaf).grad(create_graph=True)["theta"]` (a Node),
# then differentiate the scalar $\nabla L \cdot v$ once more and return its gradient (a plain
# array).
#
# Both checks compare with `dp.hessian(loss)(theta) @ v`, the full Hessian that dp builds one row
# at a time.

# %%
@exercise("part1.hvp_forward_over_reverse")
def hvp_forward_over_reverse(loss, theta, v):
    # YOUR CODE HERE
    raise NotImplementedError


check("part1.hvp_forward_over_reverse", hvp_forward_over_reverse)


@exercise("part1.hvp_reverse_over_reverse")
def hvp_reverse_over_reverse(loss, theta, v):
    # YOUR CODE HERE
    raise NotImplementedError


check("part1.hvp_reverse_over_reverse", hvp_reverse_over_reverse)

# %% [markdown]
# On the network, the two orders against each other and against dp's full Hessian:

# %%
forward_over_reverse = hvp_forward_over_reverse(loss, theta, v)
reverse_over_reverse = hvp_reverse_over_reverse(loss, theta, v)
full = dp.hessian(loss)(theta)
print("forward over reverse vs reverse over reverse:", np.abs(forward_over_reverse - reverse_over_reverse).max())
print("forward over reverse vs the full Hessian:     ", np.abs(forward_over_reverse - full @ v).max())
print("the Hessian is symmetric:", np.allclose(full, full.T, atol=1e-12))

# %% [markdown]
# And against finite differences of the gradient, $\big(\nabla L(\theta + hv) - \nabla L(\theta -
# hv)\big) / 2h$. Their error depends on $h$: truncation, $O(h^2)$, for large $h$; rounding,
# $O(\epsilon_{\text{machine}} / h)$, for small — the U of `00_why_gradients`, one order up. The
# two automatic ways agree with each other to rounding, whatever $h$.

# %%
gradient = dp.grad(loss)
steps = np.logspace(-10, -1, 19)
errors = [np.abs((gradient(theta + h * v) - gradient(theta - h * v)) / (2 * h) - forward_over_reverse).max()
          for h in steps]
fig, ax = plt.subplots(figsize=(6.5, 3.8))
ax.loglog(steps, errors, "o-", label="central difference of the gradient")
ax.axhline(max(np.abs(forward_over_reverse - reverse_over_reverse).max(), 1e-17), color="C1", linestyle="--",
           label="forward over reverse vs reverse over reverse")
ax.set(xlabel="h", ylabel="largest difference from forward over reverse", title="H v three ways")
ax.grid(alpha=0.3)
ax.legend()
plt.show()
print(f"the best h, {steps[int(np.argmin(errors))]:.0e}, still leaves {min(errors):.1e}")

# %% [markdown]
# ### What a Hessian-vector product is for: the sharpest direction
#
# Gradient descent with learning rate $\eta$ diverges along a direction whose curvature
# exceeds $2/\eta$. The largest eigenvalue of $H$, the curvature of the sharpest direction, comes
# from *power iteration*: $v \leftarrow H v / \|H v\|$, repeated, turns $v$ towards the top
# eigenvector, with nothing but Hessian-vector products — the Hessian itself is never formed.
# On this small network we can check against the full Hessian's eigenvalues:

# %%
direction = rng.normal(size=loss.size)
direction /= np.linalg.norm(direction)
for _ in range(100):
    product = hvp_forward_over_reverse(loss, theta, direction)
    curvature = float(direction @ product)   # the Rayleigh quotient: v is a unit vector
    direction = product / np.linalg.norm(product)
eigenvalues = np.linalg.eigvalsh(full)
print(f"power iteration: {curvature:.6f}; the Hessian's largest eigenvalue by magnitude: "
      f"{eigenvalues[np.argmax(np.abs(eigenvalues))]:.6f}")
print(f"so gradient descent on this loss, here, is stable only with a learning rate below {2 / curvature:.3f}")

# %% [markdown]
# The costs, on this machine (a demonstration, not a benchmark): a Hessian-vector product costs a
# few gradients; the full Hessian, one backward pass per parameter.

# %%
times = {"gradient": best_time(lambda: gradient(theta)),
         "H v, forward over reverse": best_time(lambda: hvp_forward_over_reverse(loss, theta, v)),
         "H v, reverse over reverse": best_time(lambda: hvp_reverse_over_reverse(loss, theta, v)),
         f"full Hessian ({loss.size} x {loss.size})": best_time(lambda: dp.hessian(loss)(theta), repeat=2)}
for what, seconds in times.items():
    print(f"{what:<28} {seconds * 1e3:8.2f} ms  ({seconds / times['gradient']:5.1f} gradients)")

# %% [markdown]
# ## 4. Why `dp.trace` would freeze these loops
#
# `16_static_and_dynamic_graphs` compiled a function by running it once and recording what it
# did. For the programs of this notebook, that record is one run of the loop with a count of
# iterations fixed at trace time. Trace the Kepler solver at $\theta = 0.1$, then call the program
# at $\theta = 0.95$, which needs more steps:

# %%
def kepler_root(theta):
    return newton(kepler, Node(theta, "theta"), 1.0)


kepler_step = dp.trace(kepler_root, np.float64(0.1))
frozen_root, frozen_grads = kepler_step(np.float64(0.95))
dynamic = kepler_root(np.float64(0.95))
print(f"traced at 0.1, called at 0.95: x* = {float(frozen_root):.12f}, |f(x*)| = "
      f"{abs(kepler(float(frozen_root), 0.95)):.1e}, dx*/dtheta = {float(frozen_grads['theta']):.10f}")
print(f"dynamic dp at 0.95:            x* = {float(dynamic.value):.12f}, |f(x*)| = "
      f"{abs(kepler(float(dynamic.value), 0.95)):.1e}, dx*/dtheta = {float(dynamic.grad(1)['theta']):.10f}")

# %% [markdown]
# The traced program ran the iterations that $\theta = 0.1$ needed and stopped, too early,
# without a word: its code has no loop and no test in it, only the straight line of operations
# that one run took (the `float(step) < tol` tests ran at trace time only, like the `if` of
# `16_static_and_dynamic_graphs`). The flight would be frozen the same way — always the same number of Euler
# steps, so a ball thrown higher would "land" in mid-air. `check=True` catches it:

# %%
checked = dp.trace(kepler_root, np.float64(0.1), check=True)
try:
    checked(np.float64(0.95))
except RuntimeError as error:
    print("RuntimeError:", error)

# %% [markdown]
# Libraries with static graphs handle such loops with a loop *operation* in the graph (JAX's
# `lax.while_loop`, TensorFlow's `tf.while_loop`) whose test runs in the compiled program; they
# differentiate a solver's result by the implicit function theorem rather than through a loop
# whose length they do not know. dp's dynamic graph needs neither: Python is the control flow,
# and the graph is what this run did.
#
# ## Summary
#
# * A differentiable program is any program built from differentiable operations and ordinary
#   control flow. The dynamic graph records the path the data chose, so reverse mode differentiates
#   a loop of any length, with a stopping test that reads the values.
# * Through a solver: the unrolled Newton iterations give the root's derivative, which converges
#   with the root to the implicit function theorem's $-f_\theta / f_x$; the theorem needs only the
#   solution, not the iterations.
# * Through a simulation: the result must move smoothly with the parameters (the crossing of the
#   ground, not the first step below it); then gradient descent fits the simulation's parameters.
# * Second order: $H v$ by forward over reverse (a Dual into `dp.grad`) or reverse over reverse
#   (`create_graph=True`, then grad again), at the cost of a few gradients; power iteration on it
#   gives the sharpest curvature without the Hessian.
# * `dp.trace` freezes a data-dependent loop at its trace-time count; `check=True` says so.
# * End of Part 1. **Part 2** uses dp to build and train networks, starting with how to initialise
#   their weights (`20_initialisation`).
