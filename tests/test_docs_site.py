"""The documentation site: `mkdocs build --strict` succeeds offline, and the built pages work in a browser.

The site is built once per pytest worker into a temporary directory, the course converted but not
executed (what `make docs` adds by executing it is the notebooks' own business: tests/test_notebooks.py).
The structural tests read the HTML; the browser test serves the site on localhost and drives
Debian's headless Chromium over the DevTools protocol: the index and an API page render, KaTeX
has typeset every formula, and typing in the search box lists results. Without Chromium that
test is skipped, unless DP_REQUIRE_BROWSER=1 (CI) makes its absence a failure.
"""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXECUTED = "13_topological_order"  # the chapter the test build runs: short, with a picture and a plot


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {key: value for key, value in os.environ.items() if not key.startswith("DP_")}
    # One short chapter is run (the rest converted only), as make docs runs them all: its page
    # must show its outputs and figures.
    env.update(NO_MKDOCS_2_WARNING="1", DP_DOCS_EXECUTE=EXECUTED, DP_COURSE_FAST="1", OPENBLAS_NUM_THREADS="1")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stdout}\n{build.stderr}"
    return out


class _Assets(HTMLParser):
    """The scripts, style sheets and images a page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("script", "img") and attributes.get("src"):
            self.urls.append(attributes["src"])
        if tag == "link" and attributes.get("rel") in ("stylesheet", "icon") and attributes.get("href"):
            self.urls.append(attributes["href"])


def _assets(page: Path) -> list[str]:
    parser = _Assets()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.urls


PAGES = ["index.html", "api/dp.html", "course/11_reverse_mode_by_hand.html"]


@pytest.mark.parametrize("page", PAGES)
def test_every_asset_is_local_and_exists(site: Path, page: str) -> None:
    urls = _assets(site / page)
    assert any("katex.min.js" in url for url in urls) and any("auto-render" in url for url in urls)
    for url in urls:
        assert not re.match(r"[a-z]+:|//", url), f"{page} loads {url} from the network"
        target = ((site / page).parent / url.split("?")[0]).resolve()
        assert target.is_file(), f"{page} loads {url}, which the build does not contain"


def test_katex_fonts_the_css_asks_for_first_are_vendored(site: Path) -> None:
    css = site / "assets/katex/katex.min.css"
    fonts = re.findall(r"url\((fonts/[^)]+\.woff2)\)", css.read_text(encoding="utf-8"))
    assert len(fonts) >= 19
    assert all((css.parent / font).is_file() for font in fonts)


def test_no_google_fonts(site: Path) -> None:
    assert "fonts.googleapis" not in (site / "index.html").read_text(encoding="utf-8")


def test_maths_is_marked_for_katex(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    assert re.search(r'<div class="arithmatex">\\\[.*\\frac\{\\partial e\}', index, re.S)
    chapter = (site / "course/10_dual_numbers.html").read_text(encoding="utf-8")
    assert '<span class="arithmatex">\\(' in chapter


def test_every_notebook_is_a_course_page_that_says_what_it_shows(site: Path) -> None:
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        page = site / "course" / f"{notebook.stem}.html"
        assert page.is_file(), f"no course page for {notebook.name}"
        html = page.read_text(encoding="utf-8")  # the note says what the page shows, under the title
        shows = "reference solutions" if notebook.stem == EXECUTED else "without its outputs"
        assert html.index("</h1>") < html.index("This page") < html.index(shows), page.name


def test_the_executed_chapter_shows_its_outputs_and_figures(site: Path) -> None:
    html = (site / "course" / f"{EXECUTED}.html").read_text(encoding="utf-8")
    figures = re.findall(r'<img[^>]* src="(img/[^"]+)"', html)
    assert len(figures) >= 2 and all((site / "course" / figure).is_file() for figure in figures), figures
    assert html.count("notebook-output") >= 3 and "✓" in html


def test_an_executed_chapter_says_it_shows_the_reference_solutions_and_how_long_it_trained(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import docs_hooks
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    monkeypatch.delenv("DP_COURSE_FAST", raising=False)
    full = docs_hooks._how_it_was_run(execute=True)
    monkeypatch.setenv("DP_COURSE_FAST", "1")
    fast = docs_hooks._how_it_was_run(execute=True)
    assert "reference solutions in place of the exercises" in full and "shortened" not in full
    assert "shortened trainings (`DP_COURSE_FAST=1`)" in fast
    assert docs_hooks._with_note("# Title\n\nText", "NOTE\n").startswith("# Title\n\nNOTE\n")
    chapters = docs_hooks._chapters()
    for setting, chosen in [("1", len(chapters)), ("", 0), (f" {EXECUTED}.py , ", 1)]:
        monkeypatch.setenv("DP_DOCS_EXECUTE", setting)
        assert sum(docs_hooks._executed(chapters)) == chosen, setting
    monkeypatch.setenv("DP_DOCS_EXECUTE", "all")
    with pytest.raises(ValueError, match=r"names no chapter \['all'\]: give 1 for all, or chapters .* from 00_"):
        docs_hooks._executed(chapters)


def test_course_index_links_the_chapter_pages(site: Path) -> None:
    readme = (ROOT / "notebooks/README.md").read_text(encoding="utf-8")
    links = re.findall(r"\[([^]`]+)\]\((\d\d_\w+)\.py\)", readme)
    assert len(links) >= 10
    index = (site / "course/index.html").read_text(encoding="utf-8")
    for text, stem in links:
        assert f'<a href="{stem}.html">{text}</a>' in index, f"course/index does not link {stem}.py's page"


def test_api_reference_documents_each_package(site: Path) -> None:
    for page, name in [
        ("dp", "dp.Node"),
        ("nn", "dp.nn.Linear"),
        ("nn", "dp.nn.init.he_normal"),
        ("ops", "dp.ops.elementwise.sin"),
        ("ops", "dp.ops.linalg.einsum"),
        ("dp", "dp.types.Operand"),
        ("data", "dp.data.load_mnist"),
        ("export", "dp.export.torch_bridge.to_torch"),
        ("exercises", "dp.exercises.check"),
    ]:
        html = (site / "api" / f"{page}.html").read_text(encoding="utf-8")
        assert f'id="{name}"' in html, f"api/{page} has no entry for {name}"


def test_search_index_holds_the_docs_words(site: Path) -> None:
    index = json.loads((site / "search/search_index.json").read_text(encoding="utf-8"))
    text = " ".join(document["text"] for document in index["docs"])
    for word in ("backpropagate", "Dual", "unbroadcast", "W1-f32"):
        assert word in text


# The browser test.


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    if os.environ.get("DP_REQUIRE_BROWSER") == "1":
        pytest.fail("DP_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)")
    pytest.skip("no chromium on PATH (apt-get install chromium); the structural tests still ran")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A headless Chromium; yields the DevTools websocket of its one tab."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    process = subprocess.Popen(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        for line in process.stderr:
            if match := re.search(r"DevTools listening on ws://([\d.:]+)/", line):
                break
        else:
            raise AssertionError("chromium exited before opening its DevTools port")
        # Chromium keeps logging to stderr: drain it so that it never blocks on a full pipe.
        threading.Thread(target=process.stderr.read, daemon=True).start()
        with urllib.request.urlopen(f"http://{match.group(1)}/json/list") as response:
            tabs = [tab for tab in json.load(response) if tab["type"] == "page"]
        yield tabs[0]["webSocketDebuggerUrl"]
    finally:
        process.terminate()
        process.wait(timeout=30)


# Runs in the page after it has loaded: waits (up to 10 s) for KaTeX and for the search worker.
PAGE_REPORT = """
(async () => {
  const until = async (test) => {
    for (let i = 0; i < 200; i++) { if (test()) return true; await new Promise(r => setTimeout(r, 50)); }
    return false;
  };
  await until(() => document.readyState === "complete");
  const maths = [...document.querySelectorAll(".arithmatex")];
  await until(() => maths.every(m => m.querySelector(".katex")));
  const input = document.querySelector("input[data-md-component=search-query]");
  input.focus();
  input.value = "backpropagate";
  for (const type of ["input", "keyup"]) input.dispatchEvent(new Event(type, {bubbles: true}));
  const items = () => document.querySelectorAll(".md-search-result__item");
  await until(() => items().length > 0);
  const images = [...document.querySelectorAll(".md-content img")];
  await until(() => images.every(i => i.complete));
  return {
    title: document.title,
    images: images.length,
    drawn: images.filter(i => i.naturalWidth > 0).length,
    heading: document.querySelector(".md-content h1")?.textContent ?? "",
    maths: maths.length,
    typeset: maths.filter(m => m.querySelector(".katex") && !m.querySelector(".katex-error")).length,
    results: [...items()].map(item => item.textContent),
  };
})()
"""


async def _report(websocket_url: str, url: str) -> dict[str, Any]:
    from tornado.websocket import websocket_connect

    connection = await websocket_connect(websocket_url, max_message_size=1 << 26)
    ids = iter(range(1, 1 << 30))

    async def call(method: str, **params: Any) -> dict[str, Any]:
        number = next(ids)
        await connection.write_message(json.dumps({"id": number, "method": method, "params": params}))
        while True:  # events arrive in between: keep the answer to this call only
            message = json.loads(await connection.read_message())
            if message.get("id") == number:
                assert "error" not in message, message
                return message["result"]

    try:
        await call("Page.enable")
        await call("Page.navigate", url=url)
        await asyncio.sleep(0.5)  # let the navigation replace the old document before the script runs
        result = await call("Runtime.evaluate", expression=PAGE_REPORT, awaitPromise=True, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"]["value"]
    finally:
        connection.close()


@pytest.mark.parametrize(
    "page, heading, maths, images",
    [
        ("", "differentiable programming", 1, 0),
        ("api/dp.html", "dp", 0, 0),
        (f"course/{EXECUTED}.html", "Topological order", 1, 2),
    ],
)
def test_page_renders_typesets_maths_and_searches_in_chromium(
    served: str, browser: str, page: str, heading: str, maths: int, images: int
) -> None:
    report = asyncio.run(_report(browser, served + page))
    assert "dp" in report["title"]
    assert heading in report["heading"], report["heading"]
    assert report["maths"] >= maths
    assert report["images"] >= images and report["drawn"] == report["images"], report
    assert report["typeset"] == report["maths"], f"KaTeX typeset {report['typeset']} of {report['maths']} formulas"
    assert any("backpropagate" in result for result in report["results"]), report["results"]
