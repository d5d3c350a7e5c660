"""What every part of dp.export shares: its error, importing an optional extra, writing a file
whole, and what a recording of a dp function may not hold."""

from __future__ import annotations

import errno
import importlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from dp.node import Node
from dp.trace import _parameter_names, _Record, _refuse_what_would_freeze

EXTRA = "pip install 'dp[export]'"


class Unsupported(TypeError):
    """A layer, module or operation with no counterpart in the other library (or a setting it lacks)."""


def requires(module: str, who: str) -> ModuleType:
    """`module` imported, or an ImportError that names `who` needs it and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"{who} needs the package {module.split('.')[0]!r}, which is not installed: "
            f"{EXTRA} (dp itself never needs it)"
        ) from None


def write_atomically(path: str | os.PathLike[str], write: Callable[[str], None]) -> Path:
    """Call `write(temporary_path)`, then rename the file to `path`: a failure leaves nothing
    half-written there (and the temporary file removed)."""
    target = Path(path)
    if not target.parent.is_dir():  # else mkstemp's error would name the temporary file, not the user's
        raise FileNotFoundError(errno.ENOENT, f"no directory {str(target.parent)!r} to write into", os.fspath(path))
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent or ".")
    os.close(descriptor)
    try:
        write(temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def reshaped_argument(value: Any, arguments: list[Any], who: str) -> Any | None:
    """The argument `value` is a NumPy reshape of (`labels.reshape(-1)`: the graph reshapes the
    argument given at each call), or None if it is no view of one; a view of another kind (a
    slice, a transpose) is refused, since the graph would keep the example's values."""
    if not isinstance(value, np.ndarray):
        return None
    source = next((arg for arg in arguments if isinstance(arg, np.ndarray) and np.shares_memory(arg, value)), None)
    if source is None:
        return None
    if value.size != source.size or not value.flags.c_contiguous or not source.flags.c_contiguous:
        raise Unsupported(
            f"{who}: an operation reads a NumPy view of an argument other than a reshape, which a "
            "recorded graph cannot follow (it would keep the example's values): compute it with dp's "
            "operations on a Node instead"
        )
    return source


def refuse_what_a_trace_refuses(
    who: str,
    record: _Record,
    outputs: list[Any],
    function: Callable[..., Any],
    arguments: Sequence[Any],
    keywords: dict[str, Any] | None = None,
) -> None:
    """dp.trace's error, under `who`'s name, where the recording of `function` on `arguments`
    (and `keywords`) holds what a graph made from it would answer wrongly at the next call: a
    comparison's mask used as numbers, a `where` condition made in NumPy, `Node(int_array)`."""
    names = _parameter_names(function)
    named = [
        *(
            (names[index] if index < len(names) else f"argument {index}", argument)
            for index, argument in enumerate(arguments)
        ),
        *(keywords or {}).items(),
    ]
    passed, parameter_names = [], []
    for name, argument in named:
        for leaf in leaves(argument):
            passed.append(leaf)
            parameter_names.append(name)
    try:
        _refuse_what_would_freeze(record, [out for out in outputs if isinstance(out, Node)], passed, parameter_names)
    except TypeError as error:
        raise Unsupported(f"{who}: {str(error).removeprefix('trace: ')}") from None


def leaves(x: Any) -> Iterator[Any]:
    """What a nest of tuples, lists and dicts (by sorted key) holds, in order."""
    if isinstance(x, tuple | list):
        for item in x:
            yield from leaves(item)
    elif isinstance(x, dict):
        for key in sorted(x):
            yield from leaves(x[key])
    else:
        yield x
