"""Argument structures: nested dicts, lists, tuples and namedtuples of arrays ("pytrees").

The functional API (`dp.grad`, `dp.jvp`, `dp.vjp`, `dp.jacobian`) takes a model's parameters
the way they are naturally kept: `{"W": W, "b": b}`, the blog's `[a, b, c, x, y]`, a namedtuple.
`flatten` takes such a structure apart into its leaves (anything that is not a dict, list or tuple:
numbers, arrays, Nodes, Duals) and gives a function that builds the same structure from new
leaves; gradients come back that way, with the same keys, in the same order.

    >>> leaves, rebuild = flatten({"W": 1.0, "b": [2.0, 3.0]})
    >>> leaves
    [1.0, 2.0, 3.0]
    >>> rebuild([10.0, 20.0, 30.0])
    {'W': 10.0, 'b': [20.0, 30.0]}

Dicts keep their insertion order. A tangent or cotangent is matched to its primal by key
(`leaves_like`), so its own order does not matter.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

Rebuild = Callable[[list[Any]], Any]


def flatten(tree: Any) -> tuple[list[Any], Rebuild]:
    """The leaves of `tree`, in order, and a function that builds the same structure from new leaves."""
    split = _children(tree)
    if split is None:
        return [tree], _only
    items, make = split
    parts = [flatten(item) for item in items]

    def rebuild(leaves: list[Any]) -> Any:
        new_items, start = [], 0
        for part_leaves, build in parts:
            new_items.append(build(leaves[start : start + len(part_leaves)]))
            start += len(part_leaves)
        return make(new_items)

    return [leaf for part_leaves, _ in parts for leaf in part_leaves], rebuild


def leaves_like(tree: Any, like: Any, what: str) -> list[Any]:
    """The leaves of `tree` in the order of `like`'s, checking that `tree` has `like`'s structure
    (dict keys are matched by name; a list may stand for a tuple, and anything for a leaf of
    `like`: `[1.0, 0.0]` for an array). `what` names `tree` in errors."""
    leaves: list[Any] = []
    _collect(tree, like, what, "", leaves)
    return leaves


def _collect(tree: Any, like: Any, what: str, path: str, leaves: list[Any]) -> None:
    if _children(like) is None:  # anything may stand for a leaf: a list is then array-like
        leaves.append(tree)
        return
    if isinstance(like, dict):
        if not isinstance(tree, dict) or set(tree) != set(like):
            found = sorted(map(repr, tree)) if isinstance(tree, dict) else f"a {type(tree).__name__}"
            raise ValueError(
                f"{what}{path} does not have the structure expected: the keys {sorted(map(repr, like))}, got {found}"
            )
        for key in like:
            _collect(tree[key], like[key], what, f"{path}[{key!r}]", leaves)
        return
    if not isinstance(tree, list | tuple) or len(tree) != len(like):
        found = f"{len(tree)} items" if isinstance(tree, list | tuple) else f"a {type(tree).__name__}"
        raise ValueError(f"{what}{path} does not have the structure expected: {len(like)} items, got {found}")
    for index, (item, item_like) in enumerate(zip(tree, like)):
        _collect(item, item_like, what, f"{path}[{index}]", leaves)


def paths(tree: Any) -> list[str]:
    """Where each leaf is, in `flatten`'s order, as indices: "['W']", "[1][0]"; "" for a leaf."""
    split = _children(tree)
    if split is None:
        return [""]
    labels = [f"[{key!r}]" for key in tree] if isinstance(tree, dict) else [f"[{index}]" for index in range(len(tree))]
    return [label + path for label, item in zip(labels, split[0]) for path in paths(item)]


def _children(tree: Any) -> tuple[list[Any], Callable[[list[Any]], Any]] | None:
    """A container's items and how to make the same kind of container from new ones; None for a leaf."""
    if isinstance(tree, dict):
        keys = list(tree)
        if type(tree) is dict:
            return [tree[key] for key in keys], lambda items: dict(zip(keys, items))

        def same_mapping(items: list[Any]) -> Any:  # OrderedDict, defaultdict, ...: a copy keeps the kind
            new = copy.copy(tree)
            new.update(zip(keys, items))
            return new

        return [tree[key] for key in keys], same_mapping
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):  # a namedtuple takes its fields one by one
        return list(tree), lambda items: type(tree)(*items)
    if isinstance(tree, list | tuple):
        return list(tree), type(tree)
    return None


def _only(leaves: list[Any]) -> Any:
    return leaves[0]
