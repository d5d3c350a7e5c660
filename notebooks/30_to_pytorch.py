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
# dp was built to open the black box; PyTorch is what you will use next. The good news: you
# already know how it works. This notebook writes Part 2's MNIST network in PyTorch next to dp's,
# starts both from the **same weights** on the **same data**, and shows that their losses and
# gradients agree to the last digits — then lists what maps to what.
#
# PyTorch is not a dependency of dp. It comes with the development extra
# (`pip install -e '.[dev]'`, which `make test` installs); the next cell says plainly if it is
# missing and stops there.

# %%
import numpy as np
import matplotlib.pyplot as plt

from dp import Node
from dp.data import load_mnist, minibatches
from dp.exercises import check, exercise
from dp.nn import SGD, Model, cross_entropy

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
          "    pip install torch    (or: pip install -e '.[dev]' in the dp repository)\n"
          "and run the notebook again.")
    raise StopHere
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
# ## The MNIST network in both
#
# The same architecture, written the way each library likes. Two differences of convention:
#
# * dp's `Linear` computes $x W + b$ with $W$ of shape (inputs, outputs); PyTorch's `nn.Linear`
#   computes $x W^T + b$ with its `weight` of shape (outputs, inputs).
# * dp names a parameter `h1.W`, PyTorch `h1.weight` (its *state dict* maps names to tensors).
#
# We use float64 in both, so that the comparison is exact up to rounding.

# %%
class DpNetwork(Model):
    def __init__(self):
        super().__init__(rng=0, dtype=np.float64)
        self.h1 = self.ReLu_Layer(784, 500, "h1")
        self.h2 = self.ReLu_Layer(500, 200, "h2")
        self.h3 = self.Linear_Layer(200, 10, "h3")

    def forward(self, x):
        return self.h3(self.h2(self.h1(x)))

    def loss(self, x, y):
        return cross_entropy(self.forward(x), y)


class TorchNetwork(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.h1 = torch.nn.Linear(784, 500, dtype=torch.float64)
        self.h2 = torch.nn.Linear(500, 200, dtype=torch.float64)
        self.h3 = torch.nn.Linear(200, 10, dtype=torch.float64)

    def forward(self, x):
        return self.h3(torch.relu(self.h2(torch.relu(self.h1(x)))))


dp_net, torch_net = DpNetwork(), TorchNetwork()
print(dp_net)
print(torch_net)

# %% [markdown]
# **Exercise 3.1.** Translate dp's parameters into a PyTorch state dict: `h1.W` (inputs, outputs)
# becomes `h1.weight` (outputs, inputs), `h1.b` becomes `h1.bias`. Return a dict of NumPy arrays;
# the cell after the check turns them into tensors and loads them into the PyTorch network.

# %%
@exercise("part3.to_torch_state")
def to_torch_state(params):
    # YOUR CODE HERE
    raise NotImplementedError


check("part3.to_torch_state", to_torch_state)

# %%
state = {name: torch.from_numpy(np.array(value)) for name, value in to_torch_state(dp_net.get_param()).items()}
torch_net.load_state_dict(state)
print("loaded:", sorted(state))

# %% [markdown]
# ## The same loss, the same gradients
#
# One batch of 128 training digits through both networks. dp: `get_grad` returns the gradients
# and the loss. PyTorch: compute the loss, call `backward()`, read each parameter's `.grad`.

# %%
x_train, y_train = load_mnist("train", dtype=np.float64)
x_batch, y_batch = x_train[:128], y_train[:128]

dp_grads, dp_loss = dp_net.get_grad(x_batch, y_batch)

torch_loss = torch.nn.functional.cross_entropy(torch_net(torch.from_numpy(x_batch)), torch.from_numpy(y_batch))
torch_net.zero_grad()
torch_loss.backward()
torch_grads = {name: p.grad.numpy() for name, p in torch_net.named_parameters()}

print(f"loss: dp {dp_loss:.15f}, PyTorch {torch_loss.item():.15f}")
print(f"{'parameter':>10} {'largest |gradient|':>19} {'largest difference':>19}")
for name, mine in to_torch_state(dp_grads).items():
    print(f"{name:>10} {np.abs(mine).max():19.3e} {np.abs(mine - torch_grads[name]).max():19.3e}")

# %% [markdown]
# ## Training side by side
#
# Both networks now take 300 steps of plain SGD (learning rate 0.1) on the same minibatches. dp's
# optimizer updates `dp_net` in place from the gradients; PyTorch's `torch.optim.SGD` does the
# same from the `.grad` of each parameter. The loss curves lie on top of each other; the right
# plot shows how far apart they drift, from rounding alone.

# %%
dp_optimizer = SGD(learning_rate=0.1)
torch_optimizer = torch.optim.SGD(torch_net.parameters(), lr=0.1)
dp_losses, torch_losses = [], []
batches = minibatches(x_train, y_train, batch_size=128, rng=0)
for step, (x, y) in zip(range(300), batches):
    grads, loss = dp_net.get_grad(x, y)
    dp_optimizer.step(dp_net, grads)
    dp_losses.append(loss)

    torch_optimizer.zero_grad()
    loss = torch.nn.functional.cross_entropy(torch_net(torch.from_numpy(x)), torch.from_numpy(y))
    loss.backward()
    torch_optimizer.step()
    torch_losses.append(loss.item())

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
left.plot(dp_losses, label="dp", linewidth=3, alpha=0.5)
left.plot(torch_losses, "--", label="PyTorch")
left.set(xlabel="step", ylabel="cross-entropy", title="training loss")
left.legend()
right.semilogy(np.abs(np.array(dp_losses) - np.array(torch_losses)) + 1e-17)
right.set(xlabel="step", ylabel="|dp − PyTorch|", title="difference of the losses")
for ax in (left, right):
    ax.grid(alpha=0.3)
plt.show()
W1_difference = np.abs(dp_net.h1.W.value - torch_net.h1.weight.detach().numpy().T).max()
print(f"after 300 steps: largest difference of the first layer's weights {W1_difference:.1e}")

# %% [markdown]
# ## What maps to what
#
# | dp | PyTorch |
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
# | `model.save(path)` / `load(path)` (`.npz`) | `torch.save(model.state_dict(), path)` / `torch.load` |
#
# Two differences worth remembering. PyTorch *accumulates* gradients in `.grad` across
# `backward()` calls — hence `zero_grad()` before each step — while dp returns fresh ones every
# time. And PyTorch runs the same graph on a GPU, in parallel, with hundreds of fused kernels —
# but the graph, the vector-Jacobian products and the reverse topological walk are the ones you
# wrote in Part 1.
#
# ## Summary
#
# * The same network, the same weights, the same data: dp and PyTorch compute the same losses and
#   gradients, and train the same way.
# * Every concept of this course has a PyTorch name; the table above is the dictionary.
# * Where to go next: PyTorch's own tutorials (`torch.nn`, `torch.utils.data`, `torch.func`), with
#   the knowledge of what happens inside `backward()`.
