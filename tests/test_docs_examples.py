"""The documentation's examples run and print what the pages show.

Every `>>>` example in docs/ (the concept pages write them as ```pycon blocks) and in dp's
docstrings (what help() shows) is run with doctest, one namespace per page or module, so an
example whose code or output went stale fails here.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(path for path in DOCS.rglob("*.md") if ">>> " in path.read_text(encoding="utf-8"))


def test_the_concept_pages_have_examples():
    assert {path.name for path in (DOCS / "concepts").glob("*.md")} <= {path.name for path in PAGES}


@pytest.mark.parametrize("page", PAGES, ids=[str(path.relative_to(DOCS)) for path in PAGES])
def test_the_pages_examples_print_what_the_page_shows(page):
    # Compared exactly, whitespace too: the pages show code, whose indentation is part of it.
    result = doctest.testfile(str(page), module_relative=False, verbose=False, report=True)
    assert result.attempted > 0 and result.failed == 0, (
        f"{result.failed} of {result.attempted} examples of {page} failed"
    )


SOURCE = DOCS.parent / "src"
MODULES = sorted(
    ".".join(path.relative_to(SOURCE).with_suffix("").parts).removesuffix(".__init__")
    for path in SOURCE.rglob("*.py")
    if ">>> " in path.read_text(encoding="utf-8")
)


@pytest.mark.parametrize("name", MODULES)
def test_the_docstrings_examples_print_what_they_show(name):
    """help() shows these: every `>>>` example in dp's docstrings runs as written."""
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False, report=True)
    assert result.attempted > 0 and result.failed == 0, (
        f"{result.failed} of {result.attempted} examples of {name} failed"
    )
