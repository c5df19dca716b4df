"""The built book in a real browser: every page of the TOC, offline, with
math, images and sliders."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from offline import block_outside

ROOT = Path(__file__).resolve().parents[2]
HARMLESS_CONSOLE = ("THEBE_JS_URL has already been declared",)


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        pages += [ch["file"] for ch in part["chapters"]]
    return [f"{p}.html" for p in pages]


PAGES = toc_pages()


def open_page(browser, site, page_path):
    """Load a page, recording console errors and every request that would
    leave 127.0.0.1."""
    # the width issue 18 names
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside, errors = block_outside(context, site), []
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.on(
        "console",
        lambda m: (
            m.type == "error"
            and not any(h in m.text for h in HARMLESS_CONSOLE)
            and errors.append(m.text)
        ),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    response = page.goto(f"{site}/{page_path}", wait_until="load")
    return context, page, response, outside, errors


def wait_for_mathjax(page):
    page.wait_for_function(
        "() => !document.querySelector('.math') || (window.MathJax && "
        "MathJax.startup && MathJax.startup.promise)",
        timeout=60_000,
    )
    page.evaluate(
        "() => window.MathJax && MathJax.startup ? MathJax.startup.promise : "
        "null"
    )


RAW_TEX = ["$$", "\\(", "\\)", "\\[", "\\begin{", "\\frac", "\\mathbf"]


#: Tables wider than their column (the reader would have to scroll sideways),
# with their first row.
WIDE_TABLES = """() => Array.from(document.querySelectorAll('article table'))
    .filter(t => t.scrollWidth > t.parentElement.clientWidth + 1)
    .map(t => `${t.scrollWidth} px in ${t.parentElement.clientWidth} px: `
              + `${(t.rows[0] || {}).textContent}`.slice(0, 120))"""

#: Code blocks (code cells, show_source listings, code fences; not printed
# output) that scroll sideways, with their longest line. Folded blocks (the
# 検算 cells, exercise solutions) are unfolded first: the reader can open them.
# 79 columns of code fit: pyproject.toml's line length and
# book/_static/code.css go together.
WIDE_CODE = """() => {
    const article = document.querySelector('article');
    article.querySelectorAll('details').forEach(d => { d.open = true; });
    article.querySelectorAll('.toggle-hidden').forEach(
        e => e.classList.remove('toggle-hidden'));
    return Array.from(article.querySelectorAll(
        'div[class^="highlight-"] pre'))
      .filter(p => p.scrollWidth > p.clientWidth + 1)
      .map(p => `${p.scrollWidth} px in ${p.clientWidth} px: ` + p.textContent
        .split('\\n').reduce((a, b) => (b.length > a.length ? b : a), ''));
}"""


def move_static_sliders(page) -> list[str]:
    """Move every input of every static slider on the page once; what did
    not work (in the same visit)."""
    problems = []
    sliders = page.locator(".lc-slider")
    for k in range(sliders.count()):
        root = sliders.nth(k)
        size = root.evaluate("n => n.outerHTML.length")
        if size > 600_000:
            problems.append(f"slider {k} is {size} bytes (budget 600 KB)")
        img = root.locator("img.lc-frame")
        inputs = root.locator("input[type=range]")
        for j in range(inputs.count()):
            rng = inputs.nth(j)
            before_src = img.get_attribute("src")
            before_text = root.locator("output").nth(j).inner_text()
            current, top = (
                int(rng.input_value()),
                int(rng.get_attribute("max")),
            )
            target = 0 if current != 0 else top
            rng.evaluate(
                "(el, v) => { el.value = v; el.dispatchEvent(new "
                "Event('input')); }",
                str(target),
            )
            if img.get_attribute("src") == before_src:
                problems.append(f"slider {k}.{j} moved, picture did not")
            if root.locator("output").nth(j).inner_text() == before_text:
                problems.append(
                    f"slider {k}.{j} moved, the value shown did not"
                )
            if not page.evaluate(
                "(i) => i.complete && i.naturalWidth > 0", img.element_handle()
            ):
                problems.append(
                    f"slider {k}.{j}: the new picture did not load"
                )
    return problems


def inspect(browser, site, page_path) -> dict:
    """Everything the tests check about one page, from a single visit."""
    context, page, response, outside, errors = open_page(
        browser, site, page_path
    )
    try:
        report = {"status": response.status if response else None}
        wait_for_mathjax(page)
        page.wait_for_function(
            "() => Array.from(document.images).every(i => i.complete)",
            timeout=60_000,
        )
        report["math"] = page.locator(".math").count()
        report["typeset"] = page.locator("mjx-container").count()
        report["tex_errors"] = page.locator("mjx-merror").count()
        text = page.evaluate(
            """() => { const a = document.querySelector('article')
                                 || document.body;
                       const c = a.cloneNode(true);
                       c.querySelectorAll(
                         'pre, code, script, mjx-container, .highlight'
                       ).forEach(n => n.remove());
                       return c.innerText; }"""
        )
        report["raw_tex"] = [t for t in RAW_TEX if t in text]
        report["broken_images"] = page.evaluate(
            "() => Array.from(document.images).filter(i => !(i.complete && "
            "i.naturalWidth > 0)).map(i => i.src.slice(0, 80))"
        )
        report["svgs"] = page.evaluate(
            "() => Array.from(document.images).map(i => "
            "i.getAttribute('src')).filter(s => s && s.endsWith('.svg'))"
        )
        report["sliders"] = page.locator(".lc-slider").count()
        report["wide_tables"] = page.evaluate(WIDE_TABLES)
        report["wide_code"] = page.evaluate(WIDE_CODE)
        report["slider_problems"] = move_static_sliders(page)
        report["outside"] = list(outside)
        report["errors"] = list(errors)
        return report
    finally:
        context.close()


def inspect_or_record(browser, site, page_path) -> dict:
    try:
        return inspect(browser, site, page_path)
    # reported by the page's own test, not as an error of every test
    except Exception as exc:
        return {
            "exception": f"{type(exc).__name__}: {exc}",
            "sliders": 0,
            "svgs": [],
            "math": 0,
            "typeset": 0,
            "slider_problems": [],
            "wide_tables": [],
            "wide_code": [],
        }


@pytest.fixture(scope="module")
def reports(browser, site):
    return {p: inspect_or_record(browser, site, p) for p in PAGES}


@pytest.mark.parametrize("page_path", PAGES)
def test_page_loads_offline_with_math_and_images(reports, page_path):
    r = reports[page_path]
    assert "exception" not in r, f"{page_path}: {r.get('exception')}"
    assert r["status"] == 200, f"{page_path}: HTTP {r['status']}"
    assert r["outside"] == [], (
        f"{page_path}: requests left 127.0.0.1: {r['outside']}"
    )
    assert r["errors"] == [], f"{page_path}: console errors: {r['errors']}"
    if r["math"]:
        assert r["typeset"] >= r["math"], (
            f"{page_path}: math not typeset ({r['typeset']} of {r['math']})"
        )
        assert r["tex_errors"] == 0, (
            f"{page_path}: MathJax reported a TeX error"
        )
    assert r["raw_tex"] == [], (
        f"{page_path}: raw TeX left in the page: {r['raw_tex']}"
    )
    assert r["broken_images"] == [], (
        f"{page_path}: images that did not load: {r['broken_images']}"
    )
    assert r["wide_tables"] == [], (
        f"{page_path}: tables wider than the column at 1280 px: "
        f"{r['wide_tables']}"
    )
    assert r["wide_code"] == [], (
        f"{page_path}: code that scrolls sideways at 1280 px: {r['wide_code']}"
    )


def test_math_is_typeset_somewhere(reports):
    """Guards the test above against vacuous passes (a page with math must
    exist and be typeset)."""
    assert reports["notebooks/01_simplex.html"]["math"] > 10
    assert reports["notebooks/01_simplex.html"]["typeset"] > 10


def test_every_lecture_figure_is_shown(reports):
    """The lecture figures appear in the book, by their lecture names."""
    shown = {Path(s).name for r in reports.values() for s in r["svgs"]}
    assert {"04_fig_simplex.svg"} <= shown


def test_static_sliders_change_the_picture(reports):
    pages = [p for p, r in reports.items() if r["sliders"]]
    assert "notebooks/01_simplex.html" in pages, "chapter 1 must have a slider"
    problems = [
        f"{p}: {m}" for p in pages for m in reports[p]["slider_problems"]
    ]
    assert not problems, "\n".join(problems)


def test_the_slider_check_finds_a_frozen_slider(browser):
    """A static slider whose picture does not follow its input is reported
    (the check can fail)."""
    page = browser.new_page()
    try:
        page.set_content(
            '<div class="lc-slider"><input type="range" min="0" max="4" '
            'value="2">'
            '<output>2</output><img class="lc-frame" '
            'src="data:image/gif;base64,'
            'R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"></div>'
        )
        assert move_static_sliders(page) == [
            "slider 0.0 moved, picture did not",
            "slider 0.0 moved, the value shown did not",
        ]
    finally:
        page.close()


def test_the_table_check_finds_a_wide_table(browser):
    page = browser.new_page()
    try:
        page.set_content(
            '<article><div style="width:300px;overflow-x:auto"><table><tr><td '
            'style="white-space:nowrap">'
            + "x" * 200
            + "</td></tr></table></div></article>"
        )
        assert len(page.evaluate(WIDE_TABLES)) == 1
    finally:
        page.close()


def test_the_code_check_finds_a_long_line(browser, site):
    # 79 columns fit every code block of a chapter (cells, listings, blocks
    # inside exercises), 100 do not: measured in the built book itself, with
    # its style sheets
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    try:
        page.goto(f"{site}/notebooks/09_crf.html")
        assert page.evaluate(WIDE_CODE) == []
        n_blocks = page.evaluate(
            """() => document.querySelectorAll(
                'article div[class^="highlight-"] pre').length"""
        )
        assert n_blocks > 20
        for n, wide in ((79, 0), (100, n_blocks)):
            page.evaluate(
                """(n) => document.querySelectorAll(
                      'article div[class^="highlight-"] pre').forEach(
                      pre => { pre.textContent = 'x'.repeat(n); })""",
                n,
            )
            assert len(page.evaluate(WIDE_CODE)) == wide, n
    finally:
        page.close()
