"""JupyterLab as a reader meets it, in Chromium: every chapter runs, its
sliders redraw, MyST renders, and nothing leaves 127.0.0.1 (issue 17).

The test starts the server ``make lab`` starts (``lab/jupyter_lab_config.py``
and its settings overrides) on 127.0.0.1 and a free port, with a throw-away
workspace, settings, Jupyter directories and copies of the notebooks (see
``labdriver.py``), opens every chapter, runs Run All and waits for the kernel
to go idle. Then, per chapter:

- no error output, no traceback on stderr, every code cell executed;
- every markdown cell rendered by jupyterlab-myst, with no raw fence (```,
  :::), raw role, or "Unknown Directive/Role" in the rendered text;
- every slider output is a live widget, and every control of it, moved with the
  keyboard, changes the picture and the value shown next to it (and shows no
  error);
- no ``literalinclude`` (JupyterLab cannot render it: the library code would be
  invisible).

Browser requests outside the server are blocked and recorded; the server and
kernels record connections and name lookups outside 127.0.0.1 (audit hooks). A
throw-away notebook shows the checks can fail (a frozen slider, a failing
slider, an unknown directive, an error) and that a fast drag is throttled (far
fewer redraws than moves; the last value wins).

Run alone with ``.venv/bin/python -m pytest -q
tests/browser/test_jupyterlab.py`` (about 2.5 min on the book's 2-core machine;
``-s`` prints the time per chapter).
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

import labdriver as L
import pytest
from offline import block_outside

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted(
    p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
)

RAW_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,}|:{3,})", re.M)
RAW_ROLE = re.compile(r"\{[a-z]+(?::[a-z-]+)?\}`")
MYST_ERRORS = ("Unknown Directive", "Unknown Role")


def raw_markup(text: str) -> list[str]:
    """Pieces of MyST source visible in rendered text (a directive or role
    that did not render)."""
    found = [m.group(0).strip() for m in RAW_FENCE.finditer(text)]
    found += RAW_ROLE.findall(text)
    found += [e for e in MYST_ERRORS if e in text]
    return found


def visit(
    nb: L.Notebook, move: bool = True, move_timeout: float = 10_000
) -> dict:
    """Bring a notebook to the front, Run All, and collect everything the
    tests check."""
    page = nb.page
    report: dict = {"path": nb.path}
    t0 = time.monotonic()
    nb.activate()
    report["open_s"] = time.monotonic() - t0
    report["run_s"] = (
        nb.wait_run_all() if nb.started else nb.run_all()
    ) / 1000
    t1 = time.monotonic()
    nb.wait_attached()
    cells = nb.outputs()
    report["errors"] = [
        f"cell {c['index']}: {e}" for c in cells for e in c["errors"]
    ]
    report["tracebacks"] = [
        f"cell {c['index']}: {t[:200]}"
        for c in cells
        for t in c["stderr"]
        if "Traceback" in t
    ]
    report["unexecuted"] = [
        c["index"] for c in cells if c["count"] is None and c["source"].strip()
    ]
    report["widget_outputs"] = sum(c["widgets"] for c in cells)
    md = nb.markdown()
    report["markdown"] = len(md)
    report["unrendered"] = [
        i for i, m in enumerate(md) if not (m["rendered"] and m["myst"])
    ]
    report["raw"] = [
        (i, r) for i, m in enumerate(md) for r in raw_markup(m["text"])
    ]
    report["literalinclude"] = nb.literalincludes()
    boxes = nb.sliders()
    report["live_sliders"] = len(boxes)
    report["moves"] = []
    report["check_s"] = time.monotonic() - t1
    t1 = time.monotonic()
    if move:
        for b, box in enumerate(boxes):
            box.scroll_into_view_if_needed()
            n = L.slider_state(box)["controls"]
            for k in range(n):
                m = _move(page, box, k, min(move_timeout, 2_000))
                if not m["picture_changed"] and not m["error"]:
                    # a slow redraw, or the others sit where this control
                    # changes nothing (chapter 1: at p1 = 1 the split of p2 and
                    # p3 is empty): put them in the middle, try again
                    for j in range(n):
                        if j != k:
                            L.move_slider(
                                page,
                                box,
                                j,
                                fraction=0.5,
                                timeout=move_timeout,
                            )
                    m = _move(page, box, k, move_timeout)
                m.update(slider=b, control=k)
                report["moves"].append(m)
    report["move_s"] = time.monotonic() - t1
    return report


def _move(page, box, k: int, timeout: float) -> dict:
    """Move control k to the far end; what changed (picture, value shown,
    error)."""
    before = L.slider_state(box)
    elapsed = L.move_slider(page, box, k, timeout=timeout)
    after = L.slider_state(box)
    # the value next to the slider arrives a moment after the picture
    for _ in range(20):
        if elapsed is None or after["readouts"][k] != before["readouts"][k]:
            break
        page.wait_for_timeout(50)
        after = L.slider_state(box)
    return {
        "ms": elapsed,
        "picture_changed": after["src"] != before["src"],
        "value_before": before["readouts"][k],
        "value_after": after["readouts"][k],
        "error": after["error"],
    }


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    work = tmp_path_factory.mktemp("jupyterlab")
    with L.JupyterLab(
        L.throwaway_root(ROOT, work), work, code_root=ROOT
    ) as server:
        yield server


@pytest.fixture(scope="module")
def session(browser, lab):
    """One JupyterLab page for the whole module; requests leaving the server
    are blocked and kept."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    outside, errors = block_outside(context, lab.base), []
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.on("pageerror", lambda e: errors.append(str(e)))
    L.open_lab(page, lab)
    yield page, outside, errors
    context.close()


@pytest.fixture(scope="module")
def reports(session):
    page, _, _ = session
    out = {}
    t0 = time.monotonic()
    notebooks = [L.Notebook(page, f"notebooks/{name}") for name in CHAPTERS]
    notebooks[0].open()
    for k, (name, nb) in enumerate(zip(CHAPTERS, notebooks)):
        t = time.monotonic()
        if not nb.started:
            nb.activate().start_run_all()
        # the next chapter runs while this one is checked (two cores, two
        # kernels)
        if k + 1 < len(notebooks):
            notebooks[k + 1].open(activate=False)
            notebooks[k + 1].activate().start_run_all()
        prefetch = time.monotonic() - t
        try:
            out[name] = visit(nb)
        except Exception as exc:  # reported by the chapter's own test
            out[name] = {"exception": f"{type(exc).__name__}: {exc}"}
        finally:
            t = time.monotonic()
            try:
                nb.close()
            except Exception:
                pass
            out[name].update(prefetch_s=prefetch, close_s=time.monotonic() - t)
    print(
        f"\nJupyterLab: {len(CHAPTERS)} chapters in "
        f"{time.monotonic() - t0:.0f} s "
        "(start this and the next / bring to front / Run All from its start / "
        "checks / sliders / close, s):"
    )
    for name, r in out.items():
        if "exception" not in r:
            print(
                f"  {name:28s} {r['prefetch_s']:5.1f} {r['open_s']:5.1f} "
                f"{r['run_s']:5.1f} {r['check_s']:5.1f} "
                f"{r['move_s']:5.1f} {r['close_s']:5.1f}"
            )
    return out


def _get(lab, path: str) -> dict:
    with urllib.request.urlopen(
        f"{lab.base}{path}?token={lab.token}", timeout=10
    ) as r:
        return json.loads(r.read())


def test_reader_settings_ask_nothing_and_fetch_nothing(lab):
    """No news prompt, no update check, no news feed, no PyPI: from the
    project's own lab/ files."""
    # lab/settings/overrides.json changes the defaults every reader gets (the
    # user's own settings are empty)
    defaults = _get(
        lab, "/lab/api/settings/@jupyterlab/apputils-extension:notification"
    )["schema"]["properties"]
    assert (
        defaults["fetchNews"]["default"] == "false"
        and defaults["checkForUpdates"]["default"] is False
    )
    assert _get(lab, "/lab/api/news")["news"] == []
    assert _get(lab, "/lab/api/update")["notification"] is None


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_runs_and_its_sliders_redraw(reports, chapter):
    r = reports[chapter]
    assert "exception" not in r, f"{chapter}: {r.get('exception')}"
    assert r["errors"] == [], f"{chapter}: error outputs {r['errors']}"
    assert r["tracebacks"] == [], (
        f"{chapter}: tracebacks on stderr {r['tracebacks']}"
    )
    assert r["unexecuted"] == [], (
        f"{chapter}: code cells not executed {r['unexecuted']}"
    )
    assert r["markdown"] > 0 and r["unrendered"] == [], (
        f"{chapter}: markdown cells not rendered {r['unrendered']}"
    )
    assert r["raw"] == [], (
        f"{chapter}: MyST source visible in rendered markdown (cell, text): "
        f"{r['raw']}"
    )
    assert r["live_sliders"] == r["widget_outputs"], (
        f"{chapter}: {r['widget_outputs']} widget outputs but "
        f"{r['live_sliders']} live sliders rendered"
    )
    for m in r["moves"]:
        where = f"{chapter}: slider {m['slider']}, control {m['control']}"
        assert m["error"] == "", f"{where}: {m['error']}"
        assert m["ms"] is not None and m["picture_changed"], (
            f"{where}: moved, but the picture did not change"
        )
        assert m["value_after"] != m["value_before"], (
            f"{where}: moved, but the value shown stayed {m['value_before']}"
        )


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_library_code_is_visible_in_jupyterlab(reports, chapter):
    r = reports[chapter]
    assert "exception" not in r
    assert r["literalinclude"] == 0, (
        f"{chapter}: {r['literalinclude']} literalinclude block(s) (invisible "
        "in JupyterLab)"
    )


def test_sliders_were_exercised(reports):
    """Guards the chapter test against passing vacuously."""
    moved = [m for r in reports.values() for m in r.get("moves", [])]
    assert (
        sum(r.get("live_sliders", 0) for r in reports.values()) >= 10
        and len(moved) >= 10
    )


def test_nothing_leaves_127_0_0_1(reports, session, lab):
    page, outside, errors = session
    assert page.get_by_text("official Jupyter news").count() == 0, (
        "JupyterLab asked about news"
    )
    assert outside == [], f"the browser asked for: {outside}"
    assert lab.outside_requests() == [], (
        f"the server or a kernel connected to: {lab.outside_requests()}"
    )
    assert errors == [], f"page errors: {errors}"


PROBE = [
    (
        "code",
        "import time\nfrom lecture_code.plot import new_figure\nfrom "
        "lecture_code.sliders import Range, slider\n"
        "from lecture_code.source import show_source\n\n"
        "fig, ax = new_figure(2.0, 1.5, margins=dict(left=0.05, right=0.95, "
        "bottom=0.05, top=0.8))\n"
        "ax.set_axis_off()\ntitle = ax.set_title('')\ncalls = []\n\n\n"
        "def slow(a):\n    calls.append(a)\n    time.sleep(0.1)  # a redraw "
        "slower than the drag\n"
        "    title.set_text(f'a = {a:.2f}')\n    return fig\n\n\n"
        "slow_slider = slider(slow, a=Range(0, 1, stops=3))\nslow_slider",
    ),
    (
        "code",
        "frozen_fig, _ = new_figure(2.0, 1.5)\n\n\n"
        "def frozen(b):\n    return frozen_fig  # ignores b: the picture "
        "never changes\n\n\n"
        "slider(frozen, b=Range(0, 1, stops=3))",
    ),
    (
        "code",
        "live = []\n\n\n"
        "def failing(c):\n    if live and c > 0.9:\n        raise "
        "ValueError('deliberately broken for c > 0.9')\n"
        "    title.set_text(f'c = {c:.2f}')\n    return fig\n\n\n"
        "broken = slider(failing, c=Range(0, 1, "
        "stops=3))\nlive.append(True)\nbroken",
    ),
    ("code", "show_source(Range.sample)"),
    ("markdown", ":::{nosuchdirective}\nThis directive does not exist.\n:::"),
    ("code", "raise RuntimeError('deliberate error')"),
]


def test_the_checks_can_fail_and_a_fast_drag_is_throttled(session, lab):
    page, _, _ = session
    L.write_notebook(
        lab.root_dir / "notebooks" / "_probe.ipynb", PROBE, "probe"
    )
    nb = None
    try:
        nb = L.Notebook(page, "notebooks/_probe.ipynb").open()
        r = visit(nb, move_timeout=3000)
        # the error stops Run All at the last cell; everything else ran
        assert r["errors"] == ["cell 5: RuntimeError: deliberate error"]
        assert r["raw"] and r["raw"][0][1] == "Unknown Directive"
        by_slider = {m["slider"]: m for m in r["moves"]}
        assert (
            by_slider[0]["picture_changed"]
            and by_slider[0]["value_after"] != by_slider[0]["value_before"]
        )
        # frozen: caught
        assert (
            not by_slider[1]["picture_changed"] and by_slider[1]["ms"] is None
        )
        # failing: caught, shown under the picture
        assert "deliberately broken" in by_slider[2]["error"]
        # show_source: highlighted Python in JupyterLab
        source = page.locator(f"#{nb.id} .lc-source .highlight pre").first
        assert (
            source.inner_text().startswith("def sample(self")
            and source.locator("span.k").count() > 0
        )

        # a fast drag: 40 moves of a slider whose redraw takes 0.1 s
        box = nb.sliders()[0]
        n0 = int(nb.kernel_eval("print(len(calls))"))
        L.drag_slider(page, box, 0, moves=40)
        # the last update reaches the kernel, the last picture comes back
        page.wait_for_timeout(1500)
        final = nb.kernel_eval(
            "print(slow_slider.widget().children[0].children[0].value)"
        ).strip()
        shown = L.slider_state(box)["readouts"][0]
        assert float(final) > 0.8 and shown == f"{float(final):.2f}", (
            f"the thumb ended at {final}, the picture shows {shown}"
        )
        # the last redraw drew the last value
        assert nb.kernel_eval("print(calls[-1])").strip() == final
        redraws = int(nb.kernel_eval("print(len(calls))")) - n0
        assert 1 <= redraws <= 15, (
            f"{redraws} redraws for 40 moves: stale values were not dropped"
        )

        # the outside-request detectors see a request: in a kernel (an audit
        # event, no packet sent) ...
        nb.kernel_eval(
            "import sys; sys.audit('socket.connect', None, ('192.0.2.1', 9))"
        )
        assert any("192.0.2.1" in line for line in lab.outside_requests())
        # ... and in the browser (the route blocks it)
        _, outside, _ = session
        page.evaluate(
            "() => fetch('http://192.0.2.1/probe').catch(() => null)"
        )
        assert "http://192.0.2.1/probe" in outside
        outside.remove("http://192.0.2.1/probe")
    finally:
        try:
            if nb is not None:
                nb.close()
        except Exception:
            pass
        (lab.root_dir / "notebooks" / "_probe.ipynb").unlink(missing_ok=True)
