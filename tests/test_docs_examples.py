"""The documentation's examples run and print what the pages show.

Every `>>>` example in docs/ (the concept pages write them as ```pycon blocks) is run with doctest,
one namespace per page, so a page whose code or output went stale fails here.
"""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(path for path in DOCS.rglob("*.md") if ">>> " in path.read_text(encoding="utf-8"))


def test_the_concept_pages_have_examples():
    assert {path.name for path in (DOCS / "concepts").glob("*.md")} <= {path.name for path in PAGES}


@pytest.mark.parametrize("page", PAGES, ids=[str(path.relative_to(DOCS)) for path in PAGES])
def test_the_pages_examples_print_what_the_page_shows(page):
    result = doctest.testfile(
        str(page), module_relative=False, optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False, report=True
    )
    assert result.attempted > 0 and result.failed == 0, (
        f"{result.failed} of {result.attempted} examples of {page} failed"
    )
