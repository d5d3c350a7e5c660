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
# # Part 3 · On to PyTorch
#
# dp was built to open the black box; PyTorch is what you will use next. You already know how it
# works, and this chapter proves it with a bridge: a network trained in dp crosses to PyTorch
# with `dp.export.to_torch`, computes the **same predictions and gradients** there, goes on
# training with `torch.optim`, comes back with `from_torch`, and finally leaves both libraries
# as an ONNX file that onnxruntime runs.
#
# PyTorch, ONNX and onnxruntime are not dependencies of dp. They come with the `export` extra
# (`pip install 'dp[export]'`, which `pip install -e '.[dev]'` and `make test` include). Without
# PyTorch the next cell says so and stops; without onnxruntime only the ONNX section is skipped.

# %%
import time

import numpy as np
import matplotlib.pyplot as plt

from dp import Node, trace
from dp.data import load_mnist, minibatches
from dp.exercises import check, exercise
from dp.exercises.course import FAST
from dp.nn import Adam, Model, cross_entropy

try:
    import torch
except ImportError:
    torch = None


class StopHere(Exception):
    """Stops "Run all" quietly: IPython shows no traceback for it."""

    def _render_traceback_(self):
        return []


if torch is None:
    print("PyTorch is not installed, so this notebook stops here. Install it with\n"
          "    pip install 'dp[export]'    (or: pip install -e '.[dev]' in the dp repository)\n"
          "and run the notebook again.")
    raise StopHere
from dp.export import from_torch, to_onnx, to_torch

# The network's matrix products are small: split over several threads they wait for each other,
# badly so on a shared machine; one thread is never much slower, so PyTorch gets one.
torch.set_num_threads(1)
print("PyTorch", torch.__version__)

# %% [markdown]
# ## The slides' example, twice
#
# $y = x_1 x_2 + \sin(x_1)$ at $(2, 3)$. In dp, a named `Node` is a variable; in PyTorch, a tensor
# with `requires_grad=True`. dp's `grad(1)` *returns* the gradients; PyTorch's `backward()`
# *stores* each one in the tensor's `.grad`.

# %%
x1, x2 = Node(2.0, "x1"), Node(3.0, "x2")
grads = (x1 * x2 + x1.sin()).grad(1)
print("dp:     ", {name: float(value) for name, value in grads.items()})

t1 = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
t2 = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
y = t1 * t2 + torch.sin(t1)
y.backward()
print("PyTorch:", {"x1": t1.grad.item(), "x2": t2.grad.item()})

# %% [markdown]
# ## Part 2's MNIST network, trained in dp
#
# The network of Part 2.4, in float64 this time so that the two libraries can be compared to the
# last digits. dp trains it first, with its own `Adam`.

# %%
x_train, y_train = load_mnist("train", dtype=np.float64)
x_test, y_test = load_mnist("test", dtype=np.float64)


class Network(Model):
    def __init__(self):
        super().__init__(rng=0, dtype=np.float64)
        self.h1 = self.ReLu_Layer(784, 500, "h1")
        self.h2 = self.ReLu_Layer(500, 200, "h2")
        self.h3 = self.Linear_Layer(200, 10, "h3")

    def forward(self, x):
        return self.h3(self.h2(self.h1(x)))   # logits

    def loss(self, x, y):
        return cross_entropy(self.forward(x), y)


def dp_accuracy(net, x, y):
    return float((net.forward(x).value.argmax(axis=1) == y).mean())


dp_steps = 60 if FAST else 600
net = Network()
start = time.perf_counter()
dp_optimizer = Adam(net, x_train, y_train, learning_rate=1e-3, batch_size=128, rng=0)
dp_losses = [dp_optimizer.train(steps=1, print_each=0, progress=False) for _ in range(dp_steps)]  # one at a time
print(f"dp: {dp_steps} steps in {time.perf_counter() - start:.1f} s, "
      f"test accuracy {dp_accuracy(net, x_test, y_test):.2%}")

# %% [markdown]
# ## Crossing by hand
#
# Two conventions differ. dp's `Linear` computes $x W + b$ with $W$ of shape (inputs, outputs);
# PyTorch's `nn.Linear` computes $x W^T + b$ with its `weight` of shape (outputs, inputs). And dp
# names a parameter `h1.W`, PyTorch `h1.weight` (its *state dict* maps names to tensors).
#
# **Exercise 3.1.** Translate dp's parameters into a PyTorch state dict: `h1.W` (inputs, outputs)
# becomes `h1.weight` (outputs, inputs), `h1.b` becomes `h1.bias`. Return a dict of NumPy arrays.

# %%
@exercise("part3.to_torch_state")
def to_torch_state(params):
    # YOUR CODE HERE
    raise NotImplementedError


check("part3.to_torch_state", to_torch_state)

# %% [markdown]
# ## Crossing with the bridge
#
# `to_torch(net)` does that for every layer dp has (docs/export.md lists them): it returns a
# `torch.nn.Module` whose submodules are PyTorch's own (`nn.Linear`, here with the ReLU fused in,
# as the paper's `ReLu_Layer`), with copies of the weights. Its state dict is exactly the one you
# wrote by hand. Since `Network.forward` is Python of its own, the module *replays* it: dp records
# the forward once, and each operation between the layers (here: none but the layers' calls) is
# run as the torch operation of the same meaning.

# %%
module = to_torch(net)
print(module)
by_hand = to_torch_state(net.get_param())
bridge = {name: value.numpy() for name, value in module.state_dict().items()}
print("the same state dict as by hand:", by_hand.keys() == bridge.keys()
      and all(np.array_equal(by_hand[name], bridge[name]) for name in bridge))

# %% [markdown]
# ## The same predictions, the same gradients
#
# One batch of 128 test digits through both. dp: `get_grad` returns the gradients and the loss.
# PyTorch: compute the loss, call `backward()`, read each parameter's `.grad`. The exercise's
# function puts dp's gradients into PyTorch's layout, so the two can be compared name by name.
# The differences printed are absolute, each beside the size of what it compares (docs/export.md
# quotes the same agreement relative to the largest value: about 1e-15 in float64).

# %%
x_batch, y_batch = x_test[:128], y_test[:128]
dp_logits = net.forward(x_batch).value
dp_grads, dp_loss = net.get_grad(x_batch, y_batch)

torch_logits = module(torch.from_numpy(x_batch))
torch_loss = torch.nn.functional.cross_entropy(torch_logits, torch.from_numpy(y_batch))
module.zero_grad()
torch_loss.backward()

print(f"logits: largest |logit| {np.abs(dp_logits).max():.3f}, largest absolute difference "
      f"{np.abs(dp_logits - torch_logits.detach().numpy()).max():.1e}")
print(f"loss: dp {dp_loss:.15f}, PyTorch {torch_loss.item():.15f}")
print(f"{'parameter':>10} {'largest |gradient|':>19} {'largest difference':>19}")
for name, parameter in module.named_parameters():
    mine = to_torch_state(dp_grads)[name]
    print(f"{name:>10} {np.abs(mine).max():19.3e} {np.abs(mine - parameter.grad.numpy()).max():19.3e}")

# %% [markdown]
# ## Training goes on in PyTorch
#
# From here the model is PyTorch's: `torch.optim.Adam` over `module.parameters()`, the usual loop
# of `zero_grad()`, `backward()` and `step()`, on the same kind of minibatches. (A new optimizer
# starts with fresh moment estimates, so the first steps differ a little from what dp's `Adam`
# would have taken.) The curve continues dp's.

# %%
torch_steps = 60 if FAST else 600
torch_optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
torch_losses = []


def endless_minibatches(rng):
    """Minibatches of 128 training digits, one shuffled pass after another."""
    while True:
        yield from minibatches(x_train, y_train, batch_size=128, rng=rng)


start = time.perf_counter()
for _, (x, y) in zip(range(torch_steps), endless_minibatches(np.random.default_rng(1))):
    torch_optimizer.zero_grad()
    loss = torch.nn.functional.cross_entropy(module(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    torch_optimizer.step()
    torch_losses.append(loss.item())
print(f"PyTorch: {torch_steps} more steps in {time.perf_counter() - start:.1f} s")

fig, ax = plt.subplots(figsize=(8, 3.5))
ax.semilogy(range(dp_steps), dp_losses, label="dp (Adam)")
ax.semilogy(range(dp_steps, dp_steps + torch_steps), torch_losses, label="PyTorch (torch.optim.Adam)")
ax.axvline(dp_steps, color="grey", linestyle=":")
ax.set(xlabel="step", ylabel="cross-entropy", title="one model, two libraries")
ax.legend()
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ## And back to dp
#
# `from_torch(module)` returns a new `Network`, a copy of the dp model the module came from, with
# PyTorch's trained weights. Its predictions are PyTorch's, and dp can train it further.

# %%
back = from_torch(module)
with torch.no_grad():
    torch_accuracy = float((module(torch.from_numpy(x_test)).argmax(dim=1).numpy() == y_test).mean())
print(type(back).__name__, "| test accuracy in dp:", f"{dp_accuracy(back, x_test, y_test):.2%}",
      "| in PyTorch:", f"{torch_accuracy:.2%}")
print("first layer's weights: largest difference",
      np.abs(back.h1.W.value - module.h1.weight.detach().numpy().T).max())
if not FAST:
    assert dp_accuracy(back, x_test, y_test) > 0.93, "the network should recognise over 93% of the test digits"

# %% [markdown]
# ## Out of both: ONNX
#
# ONNX is a file format for computation graphs that many runtimes execute (onnxruntime, phones,
# browsers). `to_onnx(f, *example_args, path=...)` records `f` as `dp.trace` records it (Part
# 1.6) and writes one ONNX node per operation: `MatMul`, `Add`, `Relu`, ... Its arguments become
# the graph's inputs, the parameters it reads its initializers. The graph is the trace's path,
# shapes included, so it is made for batches of the example's size: here the whole test set.

# %%
try:
    import onnx
    import onnxruntime
except ImportError:
    onnxruntime = None

if onnxruntime is None:
    print("onnx or onnxruntime is not installed, so this section is skipped: pip install 'dp[export]' to run it.")
else:
    import tempfile
    from pathlib import Path

    folder = Path(tempfile.mkdtemp())
    path = to_onnx(back.forward, x_test, path=folder / "mnist.onnx")
    print("operations:", [node.op_type for node in onnx.load(str(path)).graph.node])
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_logits,) = session.run(None, {"x": x_test})
    dp_test_logits = back.forward(x_test).value
    print(f"onnxruntime vs dp: largest relative difference of the logits "
          f"{np.abs(onnx_logits - dp_test_logits).max() / np.abs(dp_test_logits).max():.1e}; "
          f"test accuracy {(onnx_logits.argmax(axis=1) == y_test).mean():.2%}")

# %% [markdown]
# A traced step goes the same way: `trace(back.loss, x, y)` is the loss compiled by dp (Part 1.6),
# and `to_onnx` writes its forward graph, labels included as an input.

# %%
if onnxruntime is not None:
    step = trace(back.loss, x_batch, y_batch)
    path = to_onnx(step, x_batch, y_batch, path=folder / "mnist_loss.onnx")
    (onnx_loss,) = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"x": x_batch, "y": y_batch})
    print(f"loss: onnxruntime {float(onnx_loss):.15f}, dp.trace {step(x_batch, y_batch)[0]:.15f}")

# %% [markdown]
# ## What maps to what
#
# | dp | PyTorch (or JAX) |
# |---|---|
# | `Node(value, "name")`: a variable | `torch.tensor(value, requires_grad=True)` |
# | `Node(value)`: a constant | `torch.tensor(value)` |
# | operations: `a * b`, `a @ b`, `x.exp()`, `x.sum(axis)`, `x.relu()` | `a * b`, `a @ b`, `x.exp()`, `x.sum(dim)`, `torch.relu(x)` |
# | `grads = loss.grad(1)` (returns a dict) | `loss.backward()` (stores `.grad` in each tensor) |
# | `node.grad(seed)`: a vector-Jacobian product | `out.backward(seed)` |
# | `Model` with layers as attributes, `forward` | `torch.nn.Module` with layers as attributes, `forward` |
# | `ReLu_Layer(n_in, n_out)`, `Linear(n_in, n_out)`, W of shape (in, out) | `nn.Linear(n_in, n_out)` + `torch.relu`, weight of shape (out, in) |
# | `model.get_param()` / `set_param(...)` | `model.state_dict()` / `load_state_dict(...)` |
# | `grads, loss = model.get_grad(x, y)` | `loss = loss_fn(model(x), y); loss.backward()` |
# | `SGD`, `SGD_Momentum`, `RMSProp`, `Adam`: `opt.step(model, grads)` | `torch.optim.SGD`, `RMSprop`, `Adam`: `opt.zero_grad()`, `backward()`, `opt.step()` |
# | `Optimizer(model, x, y).train(steps)` | a loop over a `DataLoader` |
# | `Dropout(p)`, `BatchNorm(n)`, `model.train()` / `model.eval()` | `nn.Dropout(p)`, `nn.BatchNorm1d(n)`, `model.train()` / `model.eval()` |
# | `dp.grad(f)`, `dp.jvp`, `dp.vjp`, `dp.jacobian`, `dp.hessian` | `torch.func.grad`, `torch.func.jvp`, `torch.func.vjp`, `torch.func.jacrev`/`jacfwd`, `torch.func.hessian` |
# | `dp.trace(f, *args)`: record once, replay compiled | `torch.compile(f)`, `jax.jit(f)` |
# | `model.save(path)` / `load(path)` (`.npz`) | `torch.save(model.state_dict(), path)` / `torch.load` |
# | `dp.export.to_torch(model)` / `from_torch(module)` | (the bridge itself) |
# | `dp.export.to_onnx(f, *args, path=...)` | `torch.onnx.export(module, args, path)` |
#
# Two differences worth remembering. PyTorch *accumulates* gradients in `.grad` across
# `backward()` calls — hence `zero_grad()` before each step — while dp returns fresh ones every
# time. And PyTorch runs the same graph on a GPU, in parallel, with hundreds of fused kernels —
# but the graph, the vector-Jacobian products and the reverse topological walk are the ones you
# wrote in Part 1.
#
# ## Summary
#
# * A network trained in dp becomes a PyTorch module with `to_torch`, with the same predictions
#   and gradients to rounding; it trains on with `torch.optim` and comes back with `from_torch`.
# * `to_onnx` writes dp's traced graph as an ONNX model, which onnxruntime runs to the same numbers.
# * Every concept of this course has a PyTorch name; the table above is the dictionary.
# * This is the course's last chapter. Next: PyTorch's own tutorials (`torch.nn`,
#   `torch.utils.data`, `torch.func`), with the knowledge of what happens inside `backward()`.
