"""What the course notebooks share: pictures, timings and source listings, written once.

Plots use matplotlib: inline in Jupyter, and the Agg backend (files, no window) when Python runs
without a display. Every function draws one figure and returns its axes, so a notebook can add
to it; nothing here is needed to use dp itself.
"""

from __future__ import annotations

import ast
import inspect
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

#: True when the tests execute the notebooks (they set DP_COURSE_FAST=1): long trainings then take
#: fewer steps. The code is the same either way; only a step count reads this.
FAST: bool = os.environ.get("DP_COURSE_FAST", "") == "1"


def _pyplot():
    """matplotlib.pyplot, with the Agg backend when there is no display and no Jupyter kernel."""
    import matplotlib

    headless = "ipykernel" not in sys.modules and not os.environ.get("DISPLAY") and sys.platform.startswith("linux")
    if headless and "MPLBACKEND" not in os.environ:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ------------------------------------------------------------------------------------------------
# Showing code and graphs


def show_source(obj: Any) -> Any:
    """The source code of a function or class, highlighted in Jupyter (plain text elsewhere)."""
    return _code(inspect.getsource(obj))


def show_definitions(module: Any, *names: str) -> Any:
    """The statements of `module` that define `names`, each with the `#:` comment lines above it.

    dp defines its operations as assignments (`exp = primitive("exp", np.exp, vjp=...)`), which
    `inspect.getsource` cannot find: this reads them out of the module's source instead.
    """
    source = inspect.getsource(module)
    lines = source.splitlines()
    found: dict[str, str] = {}
    for statement in ast.parse(source).body:
        if isinstance(statement, ast.Assign):
            defined = [target.id for target in statement.targets if isinstance(target, ast.Name)]
        elif isinstance(statement, ast.FunctionDef | ast.ClassDef):
            defined = [statement.name]
        else:
            continue
        decorators = getattr(statement, "decorator_list", None)  # only definitions have decorators
        start = (decorators[0].lineno if decorators else statement.lineno) - 1
        while start > 0 and lines[start - 1].lstrip().startswith("#:"):
            start -= 1
        for name in defined:
            found[name] = "\n".join(lines[start : statement.end_lineno])
    missing = [name for name in names if name not in found]
    if missing:
        raise KeyError(f"show_definitions: {module.__name__} defines no {', '.join(missing)}")
    return _code("\n".join(found[name] for name in names))


def _code(source: str) -> Any:
    try:
        from IPython.display import Code
    except ImportError:  # pragma: no cover - the notebooks always have IPython
        print(source)
        return None
    return Code(source, language="python")


def show_graph(node: Any, **options: Any) -> Any:
    """The computational graph beneath a dp Node as a picture (dp.to_svg), or as DOT text when
    no Graphviz renderer is installed."""
    import dp

    try:
        svg = dp.to_svg(node, **options)
    except RuntimeError as error:
        print(f"(no picture: {error})\n")
        print(dp.to_dot(node, **options))
        return None
    from IPython.display import SVG

    return SVG(svg)


# ------------------------------------------------------------------------------------------------
# Timing


def best_time(function: Callable[[], Any], repeat: int = 5, number: int = 1) -> float:
    """The fastest of `repeat` runs of `number` calls, in seconds per call: the least disturbed one."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            function()
        best = min(best, (time.perf_counter() - start) / number)
    return best


# ------------------------------------------------------------------------------------------------
# Plots


def plot_curves(
    curves: Mapping[str, Sequence[float]],
    *,
    title: str = "",
    xlabel: str = "step",
    ylabel: str = "loss",
    log_y: bool = False,
    ax: Any = None,
) -> Any:
    """Several curves (label -> values) in one plot, e.g. the loss of each optimizer per step."""
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    for label, values in curves.items():
        ax.plot(np.arange(len(values)), values, label=label)
    if log_y:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def plot_bars(
    groups: Mapping[str, Sequence[float]],
    labels: Sequence[str],
    *,
    title: str = "",
    ylabel: str = "",
    log_y: bool = False,
    ax: Any = None,
) -> Any:
    """Grouped bars: for each group (e.g. an activation function), one bar per label (e.g. a layer)."""
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(len(groups), 1)
    positions = np.arange(len(labels))
    for index, (group, values) in enumerate(groups.items()):
        ax.bar(positions + (index - (len(groups) - 1) / 2) * width, values, width, label=group)
    ax.set_xticks(positions, labels)
    if log_y:
        ax.set_yscale("log")
    ax.set(title=title, ylabel=ylabel)
    ax.grid(alpha=0.3, axis="y")
    ax.legend()
    return ax


def plot_confusion(matrix: np.ndarray, *, title: str = "confusion matrix", ax: Any = None) -> Any:
    """A confusion matrix (rows: true class, columns: predicted class) with its counts written in."""
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5.5))
    ax.imshow(np.log1p(matrix), cmap="Blues")  # log scale: the few mistakes stay visible
    threshold = np.log1p(matrix).max() / 2
    for (row, column), count in np.ndenumerate(matrix):
        ax.text(
            column,
            row,
            str(count),
            ha="center",
            va="center",
            fontsize=8,
            color="white" if np.log1p(count) > threshold else "black",
        )
    ticks = np.arange(matrix.shape[0])
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set(title=title, xlabel="predicted", ylabel="true")
    return ax


def plot_images(images: np.ndarray, titles: Sequence[str], *, columns: int = 8, side: int = 28) -> Any:
    """A grid of small grey-scale images (rows of `side` x `side` pixels), each with a title."""
    plt = _pyplot()
    rows = max(1, -(-len(images) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.5 * rows))
    for ax in np.ravel(axes):
        ax.axis("off")
    for ax, image, title in zip(np.ravel(axes), images, titles):
        ax.imshow(np.reshape(image, (side, side)), cmap="gray_r")
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    return axes


def plot_decision(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    *,
    title: str = "",
    ax: Any = None,
    resolution: int = 150,
) -> Any:
    """A 2-D classifier's decision regions (`predict`: points (n, 2) -> class per point) under the data."""
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    low, high = x.min(axis=0) - 0.5, x.max(axis=0) + 0.5
    grid_x, grid_y = np.meshgrid(np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution))
    classes = predict(np.column_stack([grid_x.ravel(), grid_y.ravel()])).reshape(grid_x.shape)
    ax.contourf(grid_x, grid_y, classes, alpha=0.25, cmap="coolwarm")
    ax.scatter(x[:, 0], x[:, 1], c=y, s=10, cmap="coolwarm", edgecolors="none")
    ax.set(title=title, xticks=[], yticks=[])
    return ax
