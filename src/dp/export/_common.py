"""What every part of dp.export shares: its error, importing an optional extra, writing a file whole."""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

EXTRA = "pip install 'dp[export]'"


class Unsupported(TypeError):
    """A layer, module or operation with no counterpart in the other library (or a setting it lacks)."""


def requires(module: str, who: str) -> ModuleType:
    """`module` imported, or an ImportError that names `who` needs it and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{who} needs the package {module.split('.')[0]!r}, which is not installed: "
                          f"{EXTRA} (dp itself never needs it)") from None


def write_atomically(path: str | os.PathLike[str], write: Callable[[str], None]) -> Path:
    """Call `write(temporary_path)`, then rename the file to `path`: a failure leaves nothing
    half-written there (and the temporary file removed)."""
    target = Path(path)
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
        raise Unsupported(f"{who}: an operation reads a NumPy view of an argument other than a reshape, which a "
                          "recorded graph cannot follow (it would keep the example's values): compute it with dp's "
                          "operations on a Node instead")
    return source
