"""The public API as a contract: tests/api_snapshot.txt lists every public name, and any change fails here.

A change to the public API is deliberate: regenerate the snapshot with

    .venv/bin/python tests/test_api_snapshot.py --update

and add a CHANGELOG.md entry. A rename or removal goes through dp._api (deprecated_alias,
deprecated_attributes, renamed_keyword): the old name keeps working for one minor version.

What is public: every module of dp with no leading underscore in its dotted name, and in each
the names of its `__all__`, or where it has none, the public names its own source defines at top
level (not what it imports). One line per name, sorted: its kind and full signature; a
class's own public methods, properties and attributes (those of a private base too) on lines of
their own; a re-exported name as `= its.home`; a deprecated name as `deprecated -> new`.
dp.export's names are read from its modules' source (ast), never imported, so the snapshot needs
neither PyTorch nor ONNX; its submodules are the homes of those names and are not listed apart.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import inspect
import pkgutil
import re
import os
import subprocess
import sys
import textwrap
import tomllib
import warnings
from pathlib import Path, PurePath
from types import ModuleType
from typing import Any

import numpy.typing
import pytest

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "tests" / "api_snapshot.txt"
UPDATE_COMMAND = ".venv/bin/python tests/test_api_snapshot.py --update"
HEAVY = ("torch", "onnx", "onnxruntime", "safetensors")
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
# Dunders every class has, or that say nothing about how it is used.
#: Where NumPy defines what it exports elsewhere: its public name is the stable one.
PRIVATE_NUMPY = re.compile(r"numpy\.random\._generator\.")
PLUMBING = {
    "__init__",
    "__new__",
    "__init_subclass__",
    "__class_getitem__",
    "__post_init__",
    "__module__",
    "__qualname__",
    "__doc__",
    "__dict__",
    "__weakref__",
    "__slots__",
    "__annotations__",
    "__hash__",
    "__dataclass_fields__",
    "__dataclass_params__",
    "__replace__",  # copy.replace's hook, which dataclasses and named tuples gain in Python 3.13
    "__match_args__",
    "__abstractmethods__",
    "__parameters__",
    "__orig_bases__",
    "__firstlineno__",
    "__static_attributes__",
    "__repr__",
    "__getstate__",
    "__setstate__",
    "__reduce__",
    "__reduce_ex__",
    "__copy__",
    "__deepcopy__",
    "__type_params__",
    "_abc_impl",
    "__protocol_attrs__",
    "__non_callable_proto_members__",
    "__subclasshook__",
    "__signature__",
    "__wrapped__",
}


# Stable text for signatures and values


class _Text:
    """Stands in for an annotation or default in a signature, so that it prints as its stable text."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def stable_repr(value: Any) -> str:
    """repr with sets sorted (their order changes with the hash seed) and no memory addresses."""
    if isinstance(value, (set, frozenset)):
        items = ", ".join(sorted(map(stable_repr, value)))
        return f"{type(value).__name__}({{{items}}})" if value else f"{type(value).__name__}()"
    if isinstance(value, (list, tuple)):
        items = ", ".join(map(stable_repr, value)) + ("," if isinstance(value, tuple) and len(value) == 1 else "")
        return f"({items})" if isinstance(value, tuple) else f"[{items}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{stable_repr(k)}: {stable_repr(v)}" for k, v in value.items()) + "}"
    if inspect.isfunction(value) or inspect.isclass(value):
        return f"{value.__module__}.{value.__qualname__}"
    return ADDRESS.sub("", repr(value))


def signature(obj: Any) -> str:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):  # a builtin without a text signature
        return "(...)"

    def text(annotation: Any) -> Any:
        if annotation is inspect.Parameter.empty:
            return annotation
        return _Text(annotation if isinstance(annotation, str) else inspect.formatannotation(annotation))

    parameters = [
        p.replace(
            annotation=text(p.annotation), default=p.default if p.default is p.empty else _Text(stable_repr(p.default))
        )
        for p in sig.parameters.values()
    ]
    return str(sig.replace(parameters=parameters, return_annotation=text(sig.return_annotation)))


def value_text(value: Any) -> str:
    """A constant's value where it is made of numbers, strings, paths and containers of them, else its type."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return f"= {value!r}"
    if inspect.ismemberdescriptor(value):
        return "(slot)"
    if isinstance(value, PurePath) or (isinstance(value, (tuple, list, set, frozenset, dict)) and _plain(value)):
        return f"= {stable_repr(value)}"
    if isinstance(value, dict) and value and all(isinstance(key, str) for key in value):  # a registry by name
        kinds = " or ".join(sorted({type(item).__name__ for item in value.values()}))
        return f"dict of {kinds} with keys {sorted(value)}"
    return type(value).__name__


def _plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_plain(key) and _plain(item) for key, item in value.items())
    if isinstance(value, (tuple, list, set, frozenset)):
        return all(map(_plain, value))
    return value is None or isinstance(value, (bool, int, float, str, PurePath))


def line_name(line: str) -> str:
    """The qualified name a snapshot line is about, so that a class sorts before its members."""
    return re.split(r": | = ", line, maxsplit=1)[0]


# What each public module exposes


def public_modules() -> list[ModuleType]:
    import dp

    names = ["dp"] + [
        info.name
        for info in pkgutil.walk_packages(dp.__path__, "dp.")
        if not any(part.startswith("_") for part in info.name.split(".")) and not info.name.startswith("dp.export.")
    ]
    return [importlib.import_module(name) for name in sorted(names)]


def exported_names(module: ModuleType) -> list[str]:
    """`__all__`, or else the public names the module's own source defines at top level (not its imports).

    Either way with the type aliases the module defines (`Reduction = Literal["mean", "sum"]`): the
    public signatures name them, so a change to one changes what those signatures accept.
    """
    tree = ast.parse(inspect.getsource(module))
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        defined.update(target.id for target in targets if isinstance(target, ast.Name))
    defined = {name for name in defined if not name.startswith("_") and hasattr(module, name)}
    if not hasattr(module, "__all__"):
        return sorted(defined)
    aliases = {name for name in defined if _is_type_alias(module, name)}
    return sorted(set(module.__all__) | aliases)


def _is_type_alias(module: ModuleType, name: str) -> bool:
    value = getattr(module, name)
    annotated = getattr(module, "__annotations__", {}).get(name) == "TypeAlias"
    return annotated or type(value).__module__ in ("typing", "types", "collections.abc")


def home(obj: Any, public: set[str]) -> str | None:
    """Where a class or function is defined under a public name, if that is elsewhere."""
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", "")
    if module in public and "<" not in qualname:
        found = sys.modules[module]
        for part in qualname.split("."):
            found = getattr(found, part, None)
        if found is obj:
            return f"{module}.{qualname}"
    return None


def class_lines(qualified: str, cls: type) -> list[str]:
    bases = ", ".join(stable_repr(base) for base in cls.__bases__ if base is not object)
    lines = [f"{qualified}: class({bases}) {signature(cls)}"]
    # Members the class defines, and those of private bases, which no other entry shows.
    owners = [c for c in cls.__mro__ if c is cls or (c.__module__.startswith("dp") and c.__name__.startswith("_"))]
    seen: set[str] = set()
    for owner in owners:
        for name, member in vars(owner).items():
            if name in seen or name in PLUMBING or (name.startswith("_") and not name.endswith("__")):
                continue
            seen.add(name)
            where = f"{qualified}.{name}"
            if isinstance(member, property):
                lines.append(f"{where}: property{' (settable)' if member.fset else ''}")
            elif isinstance(member, classmethod):
                lines.append(f"{where}: classmethod {signature(member.__func__)}")
            elif isinstance(member, staticmethod):
                lines.append(f"{where}: staticmethod {signature(member.__func__)}")
            elif getattr(member, "__deprecated__", None) is not None:
                continue  # listed with every deprecation
            elif inspect.isfunction(member):
                lines.append(f"{where}: method {signature(member)}")
            elif inspect.isclass(member):
                lines.extend(class_lines(where, member))
            else:
                lines.append(f"{where}: attribute {value_text(member)}")
    for name in sorted(set().union(*map(instance_attributes, owners)) - seen):
        lines.append(f"{qualified}.{name}: instance attribute")
    return lines


def instance_attributes(cls: type) -> set[str]:
    """The public attributes the class's own `__init__` sets on `self` (`self.steps_taken = 0`,
    `self.W = ...`): user code reads them, so they are API too."""
    init = vars(cls).get("__init__")
    init = inspect.unwrap(init) if inspect.isfunction(init) else None
    if init is None or init.__code__.co_filename.startswith("<"):
        return set()
    tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    return {
        target.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign)
        for whole in (node.targets if isinstance(node, ast.Assign) else [node.target])
        for target in (whole.elts if isinstance(whole, ast.Tuple) else [whole])
        if isinstance(target, ast.Attribute)
        and isinstance(target.value, ast.Name)
        and target.value.id == "self"
        and not target.attr.startswith("_")
    }


def entry_lines(qualified: str, obj: Any, public: set[str]) -> list[str]:
    if inspect.ismodule(obj):
        return [f"{qualified}: module"]
    elsewhere = home(obj, public)
    if elsewhere is not None and elsewhere != qualified:
        return [f"{qualified} = {elsewhere}"]
    if getattr(obj, "__deprecated__", None) is not None:
        return []  # listed with every deprecation
    if obj is Any:
        return [f"{qualified}: type alias = typing.Any"]
    if inspect.isclass(obj):
        return class_lines(qualified, obj)
    if inspect.isfunction(obj):
        # A function a factory made is listed in full; its own name tells it from a twin of the same signature.
        made_as = f" [{obj.__name__}]" if obj.__name__ != qualified.rpartition(".")[2] else ""
        kind = "async function" if inspect.iscoroutinefunction(obj) else "function"
        return [f"{qualified}: {kind}{made_as} {signature(obj)}"]
    if type(obj).__name__ == "Primitive":
        operands = (
            "any number of operands"
            if obj.variadic
            else f"{len(obj.vjps)} operand(s)"
            if obj.vjps
            else "not differentiable"
        )
        # dp's own forward rule takes the operation's parameters (axis=, keepdims=, ...); NumPy's own
        # functions are NumPy's contract, whose signatures change with its version.
        forward = obj.forward
        params = f", {signature(forward)}" if getattr(forward, "__module__", "").startswith("dp") else ""
        return [f"{qualified}: primitive {obj.name!r}, {operands}{params}"]
    module, _, name = qualified.rpartition(".")
    if getattr(sys.modules.get(module), "__annotations__", {}).get(name) == "TypeAlias":
        return [f"{qualified}: type alias = {obj}"]  # written as a string: the alias as its source spells it
    if obj is getattr(numpy.typing, name, None):
        return [f"{qualified} = numpy.typing.{name}"]  # NumPy's own alias: its expansion is NumPy's business
    if type(obj).__module__ in ("typing", "types", "collections.abc"):
        return [f"{qualified}: type alias = {PRIVATE_NUMPY.sub('numpy.random.', str(obj))}"]
    if callable(obj):
        return [f"{qualified}: {type(obj).__name__} {signature(obj)}"]
    return [f"{qualified}: constant {value_text(obj)}"]


def export_lines() -> list[str]:
    """dp.export's names: those it holds, and the lazily loaded ones read from the source of its modules."""
    import dp.export

    trees = [
        ast.parse(Path(info.module_finder.path, f"{info.name}.py").read_text(encoding="utf-8"))
        for info in pkgutil.iter_modules(dp.export.__path__)
        if not info.ispkg
    ]
    lines = []
    for name in sorted(dp.export.__all__):
        if name in vars(dp.export):
            lines.extend(entry_lines(f"dp.export.{name}", vars(dp.export)[name], set()))
            continue
        found = [found for tree in trees if (found := _ast_lines(f"dp.export.{name}", name, tree))]
        if len(found) != 1:
            raise LookupError(f"dp.export lists {name}, which {len(found)} of its modules define (not one)")
        lines.extend(found[0])
    return lines


def _ast_signature(node: ast.FunctionDef | ast.AsyncFunctionDef, *, bound: bool = False) -> str:
    """The signature a def's source gives, printed as `signature` prints a live one."""
    args = node.args
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    kinds = [inspect.Parameter.POSITIONAL_ONLY] * len(args.posonlyargs) + [
        inspect.Parameter.POSITIONAL_OR_KEYWORD
    ] * len(args.args)
    parameters = list(zip(positional, kinds, defaults))
    if args.vararg:
        parameters.append((args.vararg, inspect.Parameter.VAR_POSITIONAL, None))
    parameters += [
        (arg, inspect.Parameter.KEYWORD_ONLY, default) for arg, default in zip(args.kwonlyargs, args.kw_defaults)
    ]
    if args.kwarg:
        parameters.append((args.kwarg, inspect.Parameter.VAR_KEYWORD, None))
    if bound:  # a class's signature is its __init__'s without self, as inspect shows it
        parameters = parameters[1:]
    empty = inspect.Parameter.empty
    sig = inspect.Signature(
        [
            inspect.Parameter(
                arg.arg,
                kind,
                default=empty if default is None else _Text(ast.unparse(default)),
                annotation=empty if arg.annotation is None else _Text(ast.unparse(arg.annotation)),
            )
            for arg, kind, default in parameters
        ],
        return_annotation=empty if node.returns is None else _Text(ast.unparse(node.returns)),
    )
    return str(sig)


def _ast_lines(qualified: str, name: str, tree: ast.Module) -> list[str]:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return [f"{qualified}: function {_ast_signature(node)}"]
        if isinstance(node, ast.ClassDef) and node.name == name:
            bases = ", ".join(ast.unparse(base) for base in node.bases)
            methods = {m.name: m for m in node.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}
            init = _ast_signature(methods["__init__"], bound=True) if "__init__" in methods else "(...)"
            lines = [f"{qualified}: class({bases}) {init}"]
            for method_name, method in sorted(methods.items()):
                if method_name in PLUMBING or (method_name.startswith("_") and not method_name.endswith("__")):
                    continue
                decorators = {ast.unparse(d) for d in method.decorator_list}
                kind = next((k for k in ("property", "staticmethod", "classmethod") if k in decorators), "method")
                lines.append(
                    f"{qualified}.{method_name}: {kind}" + ("" if kind == "property" else f" {_ast_signature(method)}")
                )
            for statement in node.body:  # class attributes, as the source gives them
                if isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value is not None:
                    targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                    for target in targets:
                        if isinstance(target, ast.Name) and not target.id.startswith("_"):
                            lines.append(f"{qualified}.{target.id}: attribute = {ast.unparse(statement.value)}")
            return lines
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(isinstance(t, ast.Name) and t.id == name for t in targets) and node.value is not None:
            return [f"{qualified}: constant = {ast.unparse(node.value)}"]
    return []


def snapshot() -> str:
    """The public API, one line per name, sorted."""
    from dp._api import DEPRECATIONS

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # reading the API must not touch a deprecated name
        modules = public_modules()
        public = {module.__name__ for module in modules}
        lines = []
        for module in modules:
            if module.__name__ == "dp.export":
                lines.extend(export_lines())
                continue
            for name in exported_names(module):
                try:
                    obj = getattr(module, name)
                except DeprecationWarning as warning:
                    raise LookupError(
                        f"{module.__name__}.__all__ lists {name}, which is deprecated ({warning}): a deprecated "
                        "name stays out of __all__ (the snapshot lists it with the deprecations)"
                    ) from None
                lines.extend(entry_lines(f"{module.__name__}.{name}", obj, public))
    for deprecation in DEPRECATIONS.values():
        if "(" not in deprecation.new and _resolved(deprecation.new) is None:  # a keyword's rename: "f(new=)"
            raise LookupError(f"{deprecation.old} is deprecated in favour of {deprecation.new}, which does not exist")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # reaching the old name warns: that is its job
            if "(" not in deprecation.old and _resolved(deprecation.old) is None:
                raise LookupError(f"{deprecation.old} is listed as deprecated, but it no longer works")
        lines.append(f"{deprecation.old}: deprecated -> {deprecation.new}, remove in {deprecation.remove_in}")
    return "\n".join(sorted(lines, key=lambda line: (line_name(line), line))) + "\n"


def _resolved(qualified: str) -> Any:
    """The object a qualified name names (module, then attributes), or None."""
    parts = qualified.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for part in parts[split:]:
            found = getattr(found, part, None)
        return found
    return None


# The tests


def _fresh_snapshot() -> str:
    """The snapshot as a fresh interpreter sees it: nothing another test defined or imported."""
    # dp's own settings (DP_COURSE_FAST, ...) would show in constants made from them: left out
    environment = {name: value for name, value in os.environ.items() if not name.startswith("DP_")}
    done = subprocess.run(
        [sys.executable, __file__, "--print"], capture_output=True, text=True, timeout=120, env=environment
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_public_api_matches_the_snapshot() -> None:
    current = _fresh_snapshot()
    recorded = SNAPSHOT.read_text(encoding="utf-8") if SNAPSHOT.exists() else ""
    if current != recorded:
        diff = "".join(
            difflib.unified_diff(
                recorded.splitlines(keepends=True),
                current.splitlines(keepends=True),
                "tests/api_snapshot.txt (recorded)",
                "the API now",
            )
        )
        pytest.fail(
            "dp's public API changed. A change to the public API is deliberate: if this one is, run\n"
            f"    {UPDATE_COMMAND}\n"
            "and add a CHANGELOG.md entry; a rename or removal goes through a deprecation (dp._api).\n"
            "A new name that is not meant to be public starts with _ (or stays out of its module's __all__).\n\n"
            + diff,
            pytrace=False,
        )


def test_reading_the_api_imports_neither_torch_nor_onnx() -> None:
    code = (
        f"import runpy, sys; runpy.run_path({__file__!r})['snapshot'](); "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_snapshot_is_sorted_and_has_the_papers_names() -> None:
    lines = SNAPSHOT.read_text(encoding="utf-8").splitlines()
    names = [line_name(line) for line in lines]
    assert names == sorted(names) and len(names) == len(set(names))
    for name in (
        "dp.Node",
        "dp.node.Node.grad",
        "dp.nn.model.Model.ReLu_Layer",
        "dp.nn.model.Model.Linear_Layer",
        "dp.nn.model.Model.get_grad",
        "dp.nn.model.Model.get_param",
        "dp.nn.model.Model.set_param",
        "dp.SGD",
        "dp.SGD_Momentum",
        "dp.RMSProp",
        "dp.Adam",
        "dp.nn.optim.Optimizer.train",
        "dp.Sequential",
        "dp.nn.LinearLayer",
        "dp.export.to_torch",
        "dp.export.OPSET",
    ):
        assert name in names, name


def test_no_deprecation_outlives_its_release() -> None:
    from dp._api import DEPRECATIONS

    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    released = tuple(int(part) for part in version.split(".")[:2])
    overdue = [d.old for d in DEPRECATIONS.values() if tuple(int(p) for p in d.remove_in.split(".")[:2]) <= released]
    assert not overdue, f"dp {version} should no longer have these deprecated names: {overdue}"


def test_the_version_comes_from_the_package_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    import dp
    import dp._api

    assert dp.__version__ == importlib.metadata.version("dp")

    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert dp._api._installed_version() == "0+unknown"  # a source tree on sys.path: no metadata to read


# The deprecation helpers themselves


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict:
    """A private DEPRECATIONS for each test, so that these examples never reach the snapshot."""
    import dp._api

    fresh: dict = {}
    monkeypatch.setattr(dp._api, "DEPRECATIONS", fresh)
    return fresh


def new_function(x: float, *, scale: float = 2.0) -> float:
    """Doubles x."""
    return scale * x


def new_function_b(x: float, *, b: float = 2.0) -> float:
    return b * x


def test_deprecated_alias_warns_with_the_new_name_and_forwards(registry: dict) -> None:
    from dp._api import deprecated_alias

    old_function = deprecated_alias(new_function, "old_function", since="0.2.0")
    with pytest.warns(
        DeprecationWarning,
        match=r"old_function is deprecated since dp 0\.2\.0 and will be removed "
        r"in dp 0\.3\.0; use .*new_function instead",
    ) as caught:
        assert old_function(3.0, scale=3.0) == 9.0
    assert caught[0].filename == __file__  # the warning points at the caller's line
    assert old_function.__name__ == "old_function"
    assert inspect.signature(old_function) == inspect.signature(new_function)
    (deprecation,) = registry.values()
    assert deprecation.old == f"{__name__}.old_function" and deprecation.remove_in == "0.3.0"


def test_deprecated_alias_as_a_method_names_its_class(registry: dict) -> None:
    from dp._api import deprecated_alias

    class Optimizer:
        def step(self) -> str:
            return "stepped"

        make_step = deprecated_alias(step, "make_step", since="0.2.0", remove_in="0.4.0")

    with pytest.warns(DeprecationWarning, match=r"Optimizer\.make_step .* in dp 0\.4\.0; use .*Optimizer\.step"):
        assert Optimizer().make_step() == "stepped"
    assert list(registry) == [
        f"{__name__}.test_deprecated_alias_as_a_method_names_its_class.<locals>.Optimizer.make_step"
    ]


def test_deprecated_attributes_give_the_same_object(registry: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from dp._api import deprecated_attributes

    module = ModuleType("dp_example_module")
    module.NewClass = type("NewClass", (), {})
    module.__getattr__ = deprecated_attributes("dp_example_module", {"OldClass": "NewClass"}, since="0.2.0")
    monkeypatch.setitem(sys.modules, "dp_example_module", module)
    with pytest.warns(DeprecationWarning, match="dp_example_module.OldClass .* use dp_example_module.NewClass"):
        from dp_example_module import OldClass  # type: ignore[import-not-found]
    assert OldClass is module.NewClass
    with pytest.raises(AttributeError, match="has no attribute 'Missing'"):
        module.Missing  # noqa: B018


def test_renamed_keyword(registry: dict) -> None:
    from dp._api import renamed_keyword

    scaled = renamed_keyword("factor", "scale", since="0.2.0")(new_function)
    with pytest.warns(DeprecationWarning, match=r"new_function\(factor=\) .* use .*new_function\(scale=\)"):
        assert scaled(1.0, factor=5.0) == 5.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert scaled(1.0, scale=4.0) == 4.0  # the new spelling says nothing
    with pytest.raises(TypeError, match="give scale= only"):
        scaled(1.0, scale=1.0, factor=2.0)
    with pytest.raises(TypeError, match="has no parameter 'size'"):
        renamed_keyword("n", "size", since="0.2.0")(new_function)


def test_the_helpers_refuse_what_they_cannot_do(registry: dict) -> None:
    from dp._api import deprecated_alias, deprecated_attributes

    with pytest.raises(TypeError, match="is a class; deprecate it with `__getattr__ = deprecated_attributes"):
        deprecated_alias(ModuleType, "OldType", since="0.2.0")
    with pytest.raises(ValueError, match="since must be a version 'X.Y.Z'"):
        deprecated_alias(new_function, "old", since="soon")
    for too_soon in ("0.2.0", "0.2.1", "0.1.0"):  # one minor version of grace at least
        with pytest.raises(ValueError, match=f"keeps working until 0.3.0 at the earliest; remove_in='{too_soon}'"):
            deprecated_alias(new_function, "old", since="0.2.0", remove_in=too_soon)
    with pytest.raises(ValueError, match="at least one"):
        deprecated_attributes("m", {}, since="0.2.0")
    deprecated_alias(new_function, "twice", since="0.2.0")
    with pytest.raises(ValueError, match="already deprecated"):
        deprecated_alias(new_function, "twice", since="0.3.0")
    import dp
    from dp._api import renamed_keyword

    with pytest.raises(TypeError, match="expected a function, got Primitive; for an operation"):
        deprecated_alias(dp.ops.sin, "old_sin", since="0.2.0")

    def scaled(x, *, scale=2.0):
        return x * scale

    with pytest.raises(TypeError, match="still has a parameter 'scale'"):
        renamed_keyword("scale", "x", since="0.2.0")(scaled)
    with pytest.raises(TypeError, match="is a class; decorate its __init__"):
        renamed_keyword("old", "new", since="0.2.0")(ModuleType)


def test_a_deprecated_name_left_in_all_is_named_by_the_snapshot(
    registry: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dp.data
    from dp._api import deprecated_attributes

    monkeypatch.setattr(dp.data, "__all__", [*dp.data.__all__, "old_minibatches"])
    renames = deprecated_attributes("dp.data", {"old_minibatches": "minibatches"}, since="0.2.0")
    monkeypatch.setattr(dp.data, "__getattr__", renames, raising=False)
    with pytest.raises(LookupError, match=r"dp.data.__all__ lists old_minibatches, which is deprecated .* stays out"):
        snapshot()


def test_a_deprecated_name_that_no_longer_works_fails_the_snapshot(registry: dict) -> None:
    from dp._api import deprecated_attributes

    deprecated_attributes("dp.data", {"moons": "make_moons"}, since="0.2.0")  # never made dp.data's __getattr__
    with pytest.raises(LookupError, match=r"dp.data.moons is listed as deprecated, but it no longer works"):
        snapshot()


def test_registries_by_name_and_async_functions_are_told_apart() -> None:
    async def fetch(x: int) -> int:
        return x

    assert value_text({"b": 1.5j, "a": 2j}) == "dict of complex with keys ['a', 'b']"
    assert entry_lines("m.fetch", fetch, set()) == ["m.fetch: async function (x: int) -> int"]


def test_a_deprecation_whose_new_name_does_not_exist_fails_the_snapshot(registry: dict) -> None:
    from dp._api import deprecated_attributes

    deprecated_attributes(__name__, {"Gone": "Missing"}, since="0.2.0")
    with pytest.raises(LookupError, match=r"Gone is deprecated in favour of .*\.Missing, which does not exist"):
        snapshot()


def test_warnings_point_at_the_users_line_through_stacked_helpers_and_a_modules_own_getattr(
    registry: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python shows a DeprecationWarning only where it points at the user's code (`__main__`)."""
    from dp._api import deprecated_attributes, renamed_keyword

    twice = renamed_keyword("c", "b", since="0.2.0")(renamed_keyword("a", "b", since="0.2.0")(new_function_b))
    for old in ("a", "c"):  # the inner and the outer decorator's old name
        with pytest.warns(DeprecationWarning, match=rf"new_function_b\({old}=\)") as caught:
            assert twice(1.0, **{old: 3.0}) == 3.0
        assert [warning.filename for warning in caught] == [__file__]

    # A module of its own file, whose own __getattr__ hands the names it does not know to dp's.
    module = ModuleType("dp_example_own_getattr")
    module.NewClass = type("NewClass", (), {})
    module.renamed = deprecated_attributes("dp_example_own_getattr", {"OldClass": "NewClass"}, since="0.2.0")
    source = "def __getattr__(name):\n    return renamed(name)\n"
    exec(compile(source, "dp_example_own_getattr.py", "exec"), vars(module))
    monkeypatch.setitem(sys.modules, "dp_example_own_getattr", module)
    with pytest.warns(DeprecationWarning, match="OldClass") as caught:
        assert module.OldClass is module.NewClass
    assert [warning.filename for warning in caught] == [__file__]


def test_deprecated_static_and_class_methods_stay_what_they_were(registry: dict) -> None:
    from dp._api import deprecated_alias

    class Shapes:
        @staticmethod
        def area(side: float) -> float:
            return side * side

        @classmethod
        def make(cls, side: float) -> tuple[type, float]:
            return cls, side

        old_area = deprecated_alias(area, "old_area", since="0.2.0")
        old_make = deprecated_alias(make, "old_make", since="0.2.0")

    with pytest.warns(DeprecationWarning, match=r"Shapes\.old_area .* use .*Shapes\.area"):
        assert Shapes().old_area(7) == 49 and Shapes.old_area(3) == 9
    with pytest.warns(DeprecationWarning, match=r"Shapes\.old_make"):
        assert Shapes.old_make(2) == (Shapes, 2)


def test_renamed_keywords_of_static_and_class_methods(registry: dict) -> None:
    from dp._api import renamed_keyword

    class Shapes:
        @renamed_keyword("side", "n", since="0.2.0")
        @staticmethod
        def square(n: int = 1) -> int:
            return n * n

        @renamed_keyword("side", "n", since="0.2.0")
        @classmethod
        def make(cls, n: int = 1) -> tuple[type, int]:
            return cls, n

    with pytest.warns(DeprecationWarning, match=r"square\(side=\)"):
        assert Shapes().square(side=3) == 9 and Shapes.square(n=2) == 4
    with pytest.warns(DeprecationWarning, match=r"make\(side=\)"):
        assert Shapes.make(side=2) == (Shapes, 2)

    def positional_only(n: int, /) -> int:
        return n

    with pytest.raises(TypeError, match="'n' is positional-only: no keyword to rename"):
        renamed_keyword("side", "n", since="0.2.0")(positional_only)


def test_an_optimizers_renamed_keyword_still_binds_under_its_mistake_checks(registry: dict) -> None:
    """Each optimizer's __init__ checks its call (dp.nn.optim._explains_mistakes); a deprecated keyword
    below that check is still accepted, with the warning, and named as the user calls it."""
    import dp
    from dp._api import renamed_keyword
    from dp.nn.optim import _explains_mistakes

    class Adam2(dp.Adam):
        @_explains_mistakes
        @renamed_keyword("epsilon", "eps", since="0.2.0")
        def __init__(self, model=None, x_train=None, y_train=None, learning_rate=1e-3, *, eps=1e-8) -> None:
            super().__init__(model, x_train, y_train, learning_rate, eps=eps)

    with pytest.warns(DeprecationWarning, match=r"Adam2\(epsilon=\) is deprecated .* use .*Adam2\(eps=\)"):
        assert Adam2(epsilon=1e-3).eps == 1e-3
    with pytest.raises(TypeError, match="has no argument 'epsilonn'"):
        Adam2(epsilonn=1e-3)


def test_each_lazy_name_of_dp_export_is_defined_where_dp_export_looks_for_it() -> None:
    import ast
    from pathlib import Path

    import dp.export as export

    folder = Path(export.__file__).parent
    for name, home in export._HOMES.items():
        tree = ast.parse((folder / f"{home}.py").read_text(encoding="utf-8"))
        defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)} | {
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        assert name in defined, f"dp.export.{name} is looked for in dp.export.{home}, which does not define it"


def test_a_class_read_from_source_lists_its_kinds_of_method_and_its_attributes() -> None:
    """dp.export's lazily loaded classes are read from their source, not imported (no torch)."""
    source = (
        "class K(Base):\n    size = 3\n    def __init__(self, a: int = 1) -> None: ...\n"
        "    @staticmethod\n    def make(x): ...\n    @property\n    def p(self): ...\n    def run(self, y): ...\n"
    )
    assert _ast_lines("m.K", "K", ast.parse(source)) == [
        "m.K: class(Base) (a: int = 1) -> None",
        "m.K.make: staticmethod (x)",
        "m.K.p: property",
        "m.K.run: method (self, y)",
        "m.K.size: attribute = 3",
    ]


class _Counter:
    def __init__(self, start: int = 0) -> None:
        self.count, self.rate = start, 1.0
        self.total: int = 0
        self._hidden = None
        self.total += 1


def test_the_attributes_init_sets_on_self_are_listed() -> None:
    assert instance_attributes(_Counter) == {"count", "rate", "total"}
    assert "m.C.steps_taken: instance attribute" not in class_lines("m.C", _Counter)
    assert "m.C.count: instance attribute" in class_lines("m.C", _Counter)


def test_deprecations_are_listed_in_the_snapshot(registry: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from dp._api import deprecated_alias

    alias = deprecated_alias(new_function, "old_function", since="0.2.0")
    monkeypatch.setattr(sys.modules[__name__], "old_function", alias, raising=False)  # where the old name lives
    assert f"{__name__}.old_function: deprecated -> {__name__}.new_function, remove in 0.3.0" in snapshot().splitlines()


if __name__ == "__main__":
    if sys.argv[1:] == ["--print"]:
        sys.stdout.write(snapshot())
    elif sys.argv[1:] == ["--update"]:
        # Written as the test reads it (a fresh interpreter, no DP_* settings), so that it then passes.
        before = SNAPSHOT.read_text(encoding="utf-8").splitlines() if SNAPSHOT.exists() else []
        after = _fresh_snapshot()
        SNAPSHOT.write_text(after, encoding="utf-8")
        changed = [line for line in difflib.ndiff(before, after.splitlines()) if line[:2] in ("- ", "+ ")]
        removed, added = sum(line[0] == "-" for line in changed), sum(line[0] == "+" for line in changed)
        print("\n".join(changed) or "no change")
        print(f"wrote {SNAPSHOT} ({removed} line(s) out, {added} in); now add a CHANGELOG.md entry for the change")
    else:
        sys.exit(f"usage: {sys.argv[0]} --update | --print")
