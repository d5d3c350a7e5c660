"""The public API's bookkeeping: dp's version, and how a public name is renamed or removed.

`VERSION` (dp.__version__) is the installed package's version, from its metadata.

Deprecations keep code written for an old name running (the DP paper's stable API): an old name
keeps working for one minor version and warns with a `DeprecationWarning` that names the new one.
Each case is one line in the module that owns the name:

    old_function = deprecated_alias(new_function, "old_function", since="0.2.0")   # functions, methods
    __getattr__ = deprecated_attributes(__name__, {"OldClass": "NewClass"}, since="0.2.0")  # any attribute
    @renamed_keyword("lr", "learning_rate", since="0.2.0")                        # a keyword argument

Classes go through `deprecated_attributes`, which hands out the very class under its old name,
so `isinstance` and subclassing keep working. Every deprecation is recorded in `DEPRECATIONS`; the
API snapshot (tests/test_api_snapshot.py) lists them as deprecated, and fails once a release
reaches a deprecation's `remove_in` while the old name is still there.
"""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
import sys
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["DEPRECATIONS", "VERSION", "Deprecation", "deprecated_alias", "deprecated_attributes", "renamed_keyword"]


def _installed_version() -> str:
    try:
        return importlib.metadata.version("dp")
    except importlib.metadata.PackageNotFoundError:  # a source tree on sys.path, never installed
        return "0+unknown"


VERSION = _installed_version()


@dataclass(frozen=True)
class Deprecation:
    """One deprecated spelling: `old` (a qualified name) now reads `new`, from `since` until `remove_in`."""

    old: str
    new: str
    since: str
    remove_in: str

    @property
    def message(self) -> str:
        return (
            f"{self.old} is deprecated since dp {self.since} and will be removed in dp {self.remove_in}; "
            f"use {self.new} instead"
        )

    def warn(self) -> None:
        """Warns at the user's line: the first caller outside this module and outside a module's
        `__getattr__` (stacked decorators and a module's own `__getattr__` would hide it, and
        Python shows a DeprecationWarning only where it points at the user's code)."""
        frame, level = sys._getframe(0), 1
        while frame.f_back is not None and (
            frame.f_code.co_filename == __file__ or frame.f_code.co_name == "__getattr__"
        ):
            frame, level = frame.f_back, level + 1
        warnings.warn(self.message, DeprecationWarning, stacklevel=level)


# Qualified old name -> its deprecation, in the order dp defines them.
DEPRECATIONS: dict[str, Deprecation] = {}


def _release(version: str, what: str) -> tuple[int, int, int]:
    parts = version.split(".")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        raise ValueError(f"deprecation: {what} must be a version 'X.Y.Z', got {version!r}")
    major, minor, patch = map(int, parts)
    return major, minor, patch


def _register(old: str, new: str, since: str, remove_in: str | None) -> Deprecation:
    major, minor, _ = _release(since, "since")
    if remove_in is None:  # one minor version of grace
        remove_in = f"{major}.{minor + 1}.0"
    elif _release(remove_in, "remove_in") < (major, minor + 1, 0):
        raise ValueError(
            f"deprecation: {old} is deprecated in {since}, so it keeps working until {major}.{minor + 1}.0 "
            f"at the earliest; remove_in={remove_in!r} is too soon"
        )
    deprecation = Deprecation(old, new, since, remove_in)
    if DEPRECATIONS.get(old, deprecation) != deprecation:
        raise ValueError(f"deprecation: {old} is already deprecated as {DEPRECATIONS[old]}")
    DEPRECATIONS[old] = deprecation
    return deprecation


def deprecated_alias(new: F, old_name: str, *, since: str, remove_in: str | None = None) -> F:
    """`new` under its old name: the same function, warning at every call that it is now `new`.

    Written where the old name lived, at module level or in a class body (then a method):
    `old_name = deprecated_alias(new_function, "old_name", since="0.2.0")`. `remove_in` defaults
    to the next minor version.
    """
    if isinstance(new, type):
        raise TypeError(
            f"deprecated_alias: {new.__name__} is a class; deprecate it with "
            f"`__getattr__ = deprecated_attributes(__name__, {{{old_name!r}: {new.__name__!r}}}, "
            f"since=...)` so that the old name is the same class"
        )
    descriptor = type(new) if isinstance(new, (staticmethod, classmethod)) else None
    if descriptor is not None:  # in a class body: the alias wraps the function and is the same kind
        new = new.__func__  # type: ignore[attr-defined]
    if not callable(new) or not isinstance(getattr(new, "__name__", None), str):
        raise TypeError(
            f"deprecated_alias: expected a function, got {type(new).__name__}; for an operation "
            "(a Primitive) or another object, deprecate its old name with a module "
            "`__getattr__ = deprecated_attributes(__name__, {old: new}, since=...)`"
        )
    # Where the alias is written: the caller's module, and its class when written in a class body.
    caller = sys._getframe(1)
    module = caller.f_globals.get("__name__", "?")
    owner = caller.f_locals.get("__qualname__") if caller.f_locals is not caller.f_globals else None
    prefix = f"{module}.{owner}." if owner else f"{module}."
    deprecation = _register(prefix + old_name, prefix + new.__name__, since, remove_in)

    @functools.wraps(new)
    def alias(*args: Any, **kwargs: Any) -> Any:
        deprecation.warn()
        return new(*args, **kwargs)

    alias.__module__ = module
    alias.__name__ = old_name
    alias.__qualname__ = (f"{owner}." if owner else "") + old_name
    alias.__doc__ = f"Deprecated: {deprecation.message}."
    alias.__deprecated__ = deprecation  # type: ignore[attr-defined]  # PEP 702's attribute
    return descriptor(alias) if descriptor is not None else alias  # type: ignore[return-value]


def deprecated_attributes(
    module: str, renames: Mapping[str, str], *, since: str, remove_in: str | None = None
) -> Callable[[str], Any]:
    """A module `__getattr__` under which each old name in `renames` gives, with a warning, the new one.

    `__getattr__ = deprecated_attributes(__name__, {"OldClass": "NewClass"}, since="0.2.0")`: the
    old name is the new object itself (classes stay classes). A module with a `__getattr__` of its
    own calls this one's result for the names it does not know.
    """
    if not renames:
        raise ValueError("deprecated_attributes: give at least one old name -> new name")
    known = {old: _register(f"{module}.{old}", f"{module}.{new}", since, remove_in) for old, new in renames.items()}

    def __getattr__(name: str) -> Any:
        if name not in known:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        known[name].warn()
        return getattr(sys.modules[module], renames[name])

    return __getattr__


def renamed_keyword(old: str, new: str, *, since: str, remove_in: str | None = None) -> Callable[[F], F]:
    """A decorator: the function still takes `old=` for its keyword `new=`, warning that it is now `new`.

    Giving both is an error, as is decorating a function that has no parameter `new`. For a
    class, decorate its `__init__`. The wrapper records its renames in `__renamed_keywords__`
    (old -> new), which checks of the call that sit above it (an optimizer's) read.
    """

    def decorate(function: F) -> F:
        if isinstance(function, type):
            raise TypeError(
                f"renamed_keyword: {function.__name__} is a class; decorate its __init__, so that it stays a class"
            )
        descriptor = type(function) if isinstance(function, (staticmethod, classmethod)) else None
        if descriptor is not None:  # in a class body: wrap the function, and stay the same kind
            return descriptor(decorate(function.__func__))  # type: ignore[attr-defined]
        parameters = inspect.signature(function).parameters
        if new not in parameters:
            raise TypeError(f"renamed_keyword: {function.__qualname__} has no parameter {new!r}")
        if parameters[new].kind is inspect.Parameter.POSITIONAL_ONLY:
            raise TypeError(
                f"renamed_keyword: {function.__qualname__}'s {new!r} is positional-only: no keyword to rename"
            )
        if old in parameters:
            raise TypeError(
                f"renamed_keyword: {function.__qualname__} still has a parameter {old!r}; its old "
                "name must be free to mean the new one"
            )
        # What users type: Adam(eps=) for Adam.__init__'s keyword.
        called = function.__qualname__.removesuffix(".__init__")
        deprecation = _register(
            f"{function.__module__}.{called}({old}=)", f"{function.__module__}.{called}({new}=)", since, remove_in
        )

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(f"{called}: give {new}= only ({old}= is its deprecated name)")
                deprecation.warn()
                kwargs[new] = kwargs.pop(old)
            return function(*args, **kwargs)

        wrapper.__renamed_keywords__ = {**getattr(function, "__renamed_keywords__", {}), old: new}  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
