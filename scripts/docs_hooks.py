"""MkDocs hook: the course's jupytext notebooks (notebooks/*.py) as pages of the site, made at build time.

Each notebook becomes `course/<stem>.md`: its markdown cells as they are, its code cells as Python
blocks, and, when the notebook was executed, each cell's outputs (text as text blocks, figures as
PNG or SVG files beside the page, Markdown and HTML displays as they are). notebooks/README.md
becomes `course/index.md`, its links to the `.py` files turned into links to those pages, and
the chapters fill the nav's "Course" section in file order.

By default the notebooks are converted, not executed: a few seconds, which `make test` can
afford (it runs one chapter, `DP_DOCS_EXECUTE=13_topological_order`, to check the way outputs and
figures reach the pages). `DP_DOCS_EXECUTE=1` (what `make docs` sets) runs each one first, with the reference
solutions in place of the exercises (`DP_EXERCISES=solutions`), so that the pages show outputs and
figures; a cell that raises fails the build. The trainings run in full, so that the pages' numbers
are the ones the text discusses, unless `DP_COURSE_FAST=1` shortens them as the tests do. Each
page opens with a note that says which of these it shows.
"""

from __future__ import annotations

import base64
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jupytext
import nbformat
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
COURSE = "course"
# A notebook link in notebooks/README.md: "(16_static_and_dynamic_graphs.py)".
README_LINK = re.compile(r"\]\((\d\d_\w+)\.py\)")


def _chapters() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def _execute(path: Path) -> nbformat.NotebookNode:
    """The notebook at `path`, executed in notebooks/ as the tests run it."""
    from nbclient import NotebookClient

    notebook = jupytext.read(path)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    ).execute()
    return notebook


def _fence(text: str, language: str) -> str:
    # A fence longer than any backtick run inside, so that no output can close it early.
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip()}\n{fence}"


def _output_block(text: str) -> str:
    # The notebook-output class sets outputs apart from code (docs/assets/site.css).
    return _fence(text, "{.text .notebook-output}")


def _output(output: nbformat.NotebookNode, name: str, images: dict[str, bytes]) -> str:
    """One cell output as Markdown; a figure is added to `images` as `name` plus its extension."""
    if output.output_type == "stream":
        return _output_block(output.text)
    data = output.get("data", {})
    if "image/png" in data:
        images[name + ".png"] = base64.b64decode(data["image/png"])
        return f"![](img/{name}.png)"
    if "image/svg+xml" in data:
        images[name + ".svg"] = data["image/svg+xml"].encode()
        return f"![](img/{name}.svg)"
    if "text/markdown" in data:
        return data["text/markdown"]
    if "text/html" in data:
        return f'<div class="notebook-output" markdown="0">\n{data["text/html"]}\n</div>'
    if "text/plain" in data:
        return _output_block(data["text/plain"])
    return ""


def notebook_markdown(notebook: nbformat.NotebookNode, stem: str) -> tuple[str, dict[str, bytes]]:
    """A notebook as one Markdown page, and the figures its outputs show (file name -> bytes).

    The page links each figure as `img/<file name>`: the figures go to the `img/` folder beside it.
    """
    parts: list[str] = []
    images: dict[str, bytes] = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            parts.append(cell.source)
        elif cell.cell_type == "code" and cell.source.strip():
            parts.append(_fence(cell.source, "python"))
            for number, output in enumerate(cell.get("outputs", [])):
                rendered = _output(output, f"{stem}_{index}_{number}", images)
                if rendered:
                    parts.append(rendered)
    return "\n\n".join(parts) + "\n", images


def _how_it_was_run(execute: bool) -> str:
    """The note that opens each chapter's page: what its outputs are (there are none unexecuted)."""
    if not execute:
        shows = "without its outputs: this site was built without running the notebooks (`make docs` runs them)"
    else:
        shows = "as it ran with the reference solutions in place of the exercises, so each ✓ checked the reference"
        if os.environ.get("DP_COURSE_FAST") == "1":
            shows += (
                ", and with shortened trainings (`DP_COURSE_FAST=1`): numbers from training are below "
                "the ones the text discusses"
            )
    return f'!!! note "This page"\n    The chapter {shows}. To do the exercises, open the notebook (`make course`).\n'


def _page(path: Path, execute: bool) -> tuple[str, str, dict[str, bytes]]:
    notebook = _execute(path) if execute else jupytext.read(path)
    markdown, images = notebook_markdown(notebook, path.stem)
    return path.stem, _with_note(markdown, _how_it_was_run(execute)), images


def _with_note(markdown: str, note: str) -> str:
    """`note` after the page's title (its first line, a `# ` heading), else at its top."""
    title, newline, rest = markdown.partition("\n")
    if title.startswith("# "):
        return f"{title}\n\n{note}{newline}{rest}"
    return f"{note}\n{markdown}"


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Fills the nav's "Course" section: the course's index, then every chapter in order."""
    chapters = [f"{COURSE}/{path.stem}.md" for path in _chapters()]
    for position, item in enumerate(config.nav or []):
        if isinstance(item, dict) and "Course" in item:
            config.nav[position] = {"Course": [f"{COURSE}/index.md", *chapters]}
            return config
    raise ValueError("mkdocs.yml's nav has no 'Course' section for the notebooks")


def _executed(paths: list[Path]) -> list[bool]:
    """Which chapters to run: DP_DOCS_EXECUTE=1 all of them, a comma-separated list of chapter
    names (`13_topological_order`) those, unset none."""
    setting = os.environ.get("DP_DOCS_EXECUTE", "").strip()
    if setting in ("", "0", "1"):
        return [setting == "1"] * len(paths)
    chosen = {name.strip().removesuffix(".py") for name in setting.split(",") if name.strip()}
    unknown = chosen - {path.stem for path in paths}
    if unknown:
        raise ValueError(
            f"DP_DOCS_EXECUTE={setting!r} names no chapter {sorted(unknown)}: give 1 for all, or chapters "
            f"separated by commas, from {', '.join(path.stem for path in paths)}"
        )
    return [path.stem in chosen for path in paths]


def on_files(files: Files, config: MkDocsConfig, **_: Any) -> Files:
    """Adds the course's pages and figures to the site's files."""
    paths = _chapters()
    execute = _executed(paths)
    if any(execute):
        # The kernels inherit this environment. Notebooks are independent: one kernel per CPU,
        # each driven by a thread (the work happens in the kernels' processes).
        # No MPLBACKEND: the kernels' own inline backend is what puts figures in the outputs.
        os.environ.update(DP_EXERCISES="solutions", OPENBLAS_NUM_THREADS="1")
        os.environ.pop("MPLBACKEND", None)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        pages = list(pool.map(_page, paths, execute))
    for stem, markdown, images in pages:
        files.append(File.generated(config, f"{COURSE}/{stem}.md", content=markdown))
        for name, content in images.items():
            files.append(File.generated(config, f"{COURSE}/img/{name}", content=content))
    readme = (NOTEBOOKS / "README.md").read_text(encoding="utf-8")
    files.append(File.generated(config, f"{COURSE}/index.md", content=README_LINK.sub(r"](\1.md)", readme)))
    return files
