"""Drive a real JupyterLab in Chromium: start a throw-away server, open a
notebook, Run All, move sliders.

Used by ``tests/browser/test_jupyterlab.py`` (the end-to-end test of the live
path) and by ``tests/bench_lab.py`` (redraw latency). The server is the one
``make lab`` starts — the project's ``lab/jupyter_lab_config.py`` and its
settings overrides — on 127.0.0.1 and a free port, with a throw-away
user-settings directory, workspace, Jupyter config/data/runtime directories,
and:

- the notebook's windowing mode ``none`` (JupyterLab otherwise leaves cells far
  from the viewport out of the DOM, and a test could not see them);
- the app exposed to the page (``window.jupyterapp``) so the test runs
  JupyterLab's own commands;
- ``PYTHONPATH`` starting with the repository under test (its ``lecture_code``,
  not whichever one is installed) and with a ``sitecustomize`` that records
  every socket connection or name lookup that would leave 127.0.0.1, in the
  server and in every kernel (Python audit hooks).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAB_CONFIG = ROOT / "lab" / "jupyter_lab_config.py"

_AUDIT = '''"""Record connections that leave 127.0.0.1 (see labdriver.py)."""
import os, sys

_LOG = os.environ.get("LC_OUTSIDE_LOG")
_LOCAL = ("127.0.0.1", "::1", "localhost", "0.0.0.0", "", None)


def _record(what):
    with open(_LOG, "a", encoding="utf-8") as f:
        f.write(f"{os.getpid()} {what}\\n")


def _hook(event, args):
    try:
        if event == "socket.connect":
            addr = args[1]
            host = addr[0] if isinstance(addr, tuple) and addr else None
            if host not in _LOCAL and not str(host).startswith("127."):
                _record(f"connect {addr!r}")
        elif event == "socket.getaddrinfo":
            host = args[0]
            if isinstance(host, bytes):
                host = host.decode("ascii", "replace")
            if host not in _LOCAL and not str(host).startswith("127."):
                _record(f"getaddrinfo {host!r}")
    except Exception:
        pass


if _LOG:
    sys.addaudithook(_hook)
'''


#: The test's own user settings (on top of lab/settings/overrides.json, which
#: readers get too): every cell in the DOM, and nothing saved (Run All's
#: outputs must never reach the notebooks).
TEST_SETTINGS = {
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension:plugin": {"autosave": False},
}


def throwaway_root(repo: Path, work: Path) -> Path:
    """A server root that looks like ``repo`` but where the notebooks are
    copies.

    ``work/root/notebooks/*.ipynb`` are copies (JupyterLab may write to a
    notebook it runs); everything else (``figures/``, ``notebooks/data``, ...)
    is a symlink to the repository.
    """
    root = work / "root"
    (root / "notebooks").mkdir(parents=True, exist_ok=True)
    for entry in repo.iterdir():
        if (
            entry.name not in ("notebooks", ".git", ".venv", "_build")
            and not (root / entry.name).exists()
        ):
            (root / entry.name).symlink_to(entry)
    for entry in (repo / "notebooks").iterdir():
        target = root / "notebooks" / entry.name
        if entry.suffix == ".ipynb":
            shutil.copyfile(entry, target)
        elif not entry.name.startswith(".") and not target.exists():
            target.symlink_to(entry)
    return root


def write_notebook(path: Path, cells: list[tuple[str, str]], tag: str) -> None:
    """Write a python3 notebook of (kind, source) cells, kind "code" or
    "markdown", with ids ``tag-0``, ``tag-1``, ... (a probe or reference
    notebook the tests open in JupyterLab)."""
    out = []
    for i, (kind, source) in enumerate(cells):
        cell = {"cell_type": kind, "id": f"{tag}-{i}", "metadata": {}}
        cell["source"] = source
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        out.append(cell)
    kernel = {"name": "python3", "display_name": "Python 3"}
    nb = {
        "cells": out,
        "metadata": {"kernelspec": {**kernel, "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb), encoding="utf-8")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """A JupyterLab server for one test session (a context manager).

    Parameters
    ----------
    root_dir : Path
        The folder the server shows: a :func:`throwaway_root` copy of the
        repository.
    work : Path
        An empty folder for the throw-away settings, workspaces, config, data
        and runtime files.
    code_root : Path
        The repository whose ``lecture_code`` the kernels import (first on
        ``PYTHONPATH``).
    """

    def __init__(self, root_dir: Path, work: Path, code_root: Path = ROOT):
        self.root_dir = Path(root_dir)
        self.work = Path(work)
        self.code_root = Path(code_root)
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.outside_log = self.work / "outside.log"
        self.server_log = self.work / "server.log"
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> JupyterLab:
        w = self.work
        for plugin, values in TEST_SETTINGS.items():
            package, name = plugin.rsplit(":", 1)
            folder = w / "user-settings" / package
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{name}.jupyterlab-settings").write_text(
                json.dumps(values)
            )
        audit = w / "audit"
        audit.mkdir(exist_ok=True)
        (audit / "sitecustomize.py").write_text(_AUDIT)
        for d in ("config", "data", "runtime", "workspaces"):
            (w / d).mkdir(exist_ok=True)
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=str(w / "config"),
            JUPYTER_DATA_DIR=str(w / "data"),
            JUPYTER_RUNTIME_DIR=str(w / "runtime"),
            JUPYTER_PLATFORM_DIRS="1",
            LC_OUTSIDE_LOG=str(self.outside_log),
            PYTHONPATH=os.pathsep.join(
                [str(audit), str(self.code_root)]
                + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
            ),
            PYDEVD_DISABLE_FILE_VALIDATION="1",
        )
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            f"--config={LAB_CONFIG}",
            "--no-browser",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            f"--LabApp.user_settings_dir={w / 'user-settings'}",
            f"--LabApp.workspaces_dir={w / 'workspaces'}",
            "--LabApp.expose_app_in_browser=True",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self._log = open(self.server_log, "w")
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    "JupyterLab exited "
                    f"({self.proc.returncode}):\n{self.server_log.read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(
                    f"{self.base}/api/status?token={self.token}", timeout=2
                ) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"JupyterLab did not answer within {timeout:.0f} "
            f"s:\n{self.server_log.read_text()[-3000:]}"
        )

    def stop(self) -> None:
        if self.proc is None:
            return
        # start_new_session: the server leads its own process group (with its
        # kernels)
        pgid = self.proc.pid
        if self.proc.poll() is None:
            # jupyter_server: SIGINT twice = shut down kernels, stop
            self.proc.send_signal(signal.SIGINT)
            time.sleep(0.1)
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:
            # kernels left behind, if any (our own process group only)
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._log.close()
        self.proc = None

    def outside_requests(self) -> list[str]:
        """Connections or name lookups outside 127.0.0.1 made by the server
        or a kernel."""
        if not self.outside_log.exists():
            return []
        return self.outside_log.read_text().splitlines()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------
# The page side. Every helper takes a Playwright (sync) page showing
# JupyterLab.

JS_APP_READY = """() => !!(window.jupyterapp && window.jupyterapp.shell
  && window.jupyterapp.commands
  && window.jupyterapp.commands.hasCommand('docmanager:open'))"""

# Every snippet below takes the notebook's path (relative to the server root)
# as its first argument.
_FIND = """const app = window.jupyterapp;
  const find = (path) => {
      for (const w of app.shell.widgets('main')) if (w.context &&
          w.context.path === path) return w;
                            throw new Error('not open: ' + path); };"""

JS_OPEN = (
    """async ([path, activate, mode]) => {
  %s
  await app.restored;
  const options = mode ? {activate, mode} : {activate};
  const w = await app.commands.execute('docmanager:open', {path, factory:
      'Notebook', options});
  if (activate) app.shell.activateById(w.id);
  return w.id;
}"""
    % _FIND
)

JS_KERNEL_IDLE = (
    """(path) => {
  %s
  const w = find(path);
  const s = w.context.isReady && w.sessionContext.isReady &&
      w.sessionContext.session;
  return !!(s && s.kernel && s.kernel.connectionStatus === 'connected' &&
      s.kernel.status === 'idle');
}"""
    % _FIND
)

JS_CLOSE = (
    """async (path) => {
  %s
  const w = find(path);
  // not awaited: the server stops the kernel meanwhile
  const done = w.sessionContext.shutdown();
  w.context.model.dirty = false;  // the outputs of Run All are not saved
  w.dispose();
  done.catch(() => {});
}"""
    % _FIND
)

#: Start Run All on a notebook and return at once; JS_RUN_WAIT waits for it
#: (two kernels can run at a time).
JS_RUN_START = (
    """async (path) => {
  %s
  const w = find(path);
  app.shell.activateById(w.id);
  window.__lcRuns = window.__lcRuns || {};
  const t0 = performance.now();
  // bound to w, the current notebook
  const done = app.commands.execute('notebook:run-all-cells');
  window.__lcRuns[path] = done.then(async () => {
    const k = w.sessionContext.session.kernel;
    while (k.status !== 'idle') await new Promise(r => setTimeout(r, 50));
    return performance.now() - t0;
  });
  await new Promise(r => setTimeout(r, 0));
}"""
    % _FIND
)

JS_RUN_WAIT = """async (path) => await window.__lcRuns[path]"""

JS_RUN_ALL = (
    """async (path) => {
  %s
  const w = find(path);
  app.shell.activateById(w.id);
  const t0 = performance.now();
  await app.commands.execute('notebook:run-all-cells');
  const k = w.sessionContext.session.kernel;
  while (k.status !== 'idle') await new Promise(r => setTimeout(r, 50));
  return performance.now() - t0;
}"""
    % _FIND
)

#: Per code cell: index, execution count, source, error outputs, stderr text,
#: widget outputs (from the model).
JS_OUTPUTS = (
    """(path) => {
  %s
  const cells = find(path).content.model.cells;
  const out = [];
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type !== 'code') continue;
    const outs = c.outputs.toJSON();
    out.push({
      index: i,
      count: c.executionCount,
      source: c.sharedModel.getSource(),
      errors: outs.filter(o => o.output_type === 'error').map(o =>
          `${o.ename}: ${o.evalue}`),
      stderr: outs.filter(o => o.output_type === 'stream' &&
          o.name === 'stderr').map(o => [].concat(o.text).join('')),
      widgets: outs.filter(o => o.data &&
          o.data['application/vnd.jupyter.widget-view+json']).length,
    });
  }
  return out;
}"""
    % _FIND
)

#: Every markdown cell: rendered or not, by jupyterlab-myst (``.myst``) or
#: JupyterLab's own renderer, its source, and the text its rendered view
#: shows.
JS_MARKDOWN = (
    """(path) => {
  %s
  const w = find(path);
  return Array.from(w.node.querySelectorAll('.jp-MarkdownCell')).map(c => {
    const body = c.querySelector(
      '.jp-Cell-inputWrapper .myst, '
      + '.jp-Cell-inputWrapper .jp-RenderedMarkdown');
    return {rendered: c.classList.contains('jp-mod-rendered') && !!body,
            myst: !!(body && body.classList.contains('myst')), text: body ?
                body.innerText : ''};
  });
}"""
    % _FIND
)

JS_KERNEL_EVAL = (
    """async ([path, code]) => {
  %s
  const k = find(path).sessionContext.session.kernel;
  const future = k.requestExecute({code, silent: false, store_history: false});
  let out = '';
  future.onIOPub = (msg) => {
    if (msg.header.msg_type === 'stream') out += msg.content.text;
    if (msg.header.msg_type === 'error')
      out += msg.content.ename + ': ' + msg.content.evalue;
  };
  await future.done;
  return out;
}"""
    % _FIND
)


def open_lab(page, lab: JupyterLab, timeout: float = 120_000) -> None:
    """Load JupyterLab once (a fresh workspace); notebooks are then opened
    inside this page."""
    page.goto(
        f"{lab.base}/lab?reset&token={lab.token}",
        wait_until="domcontentloaded",
    )
    page.wait_for_function(JS_APP_READY, timeout=timeout, polling=200)


class Notebook:
    """One notebook open in the JupyterLab page (``path`` relative to the
    server root).

    ``Notebook(page, path).open(activate=False, beside=True)`` opens it
    (renders it, starts its kernel) beside another notebook that is running;
    :meth:`activate` brings it to the front and waits for its kernel to be
    idle.
    """

    def __init__(self, page, path: str):
        self.page = page
        self.path = path
        self.id = None
        self.started = False

    def open(self, activate: bool = True, beside: bool = False) -> Notebook:
        """Open the notebook (its kernel starts). ``beside``: in a panel
        split off to the right, so it is visible, and rendered, while the
        notebook in front keeps running."""
        self.id = self.page.evaluate(
            JS_OPEN, [self.path, activate, "split-right" if beside else None]
        )
        return self

    def activate(self, timeout: float = 120_000) -> Notebook:
        if self.id is None:
            self.open()
        self.page.evaluate(
            "(id) => window.jupyterapp.shell.activateById(id)", self.id
        )
        self.page.wait_for_function(
            JS_KERNEL_IDLE, arg=self.path, timeout=timeout, polling=100
        )
        return self

    def run_all(self) -> float:
        """Run every cell (JupyterLab's Run All); wait for the kernel to go
        idle. Returns ms."""
        return self.page.evaluate(JS_RUN_ALL, self.path)

    def start_run_all(self) -> None:
        """Start Run All and return at once (the kernel runs while the test
        looks at another notebook)."""
        self.page.evaluate(JS_RUN_START, self.path)
        self.started = True

    def wait_run_all(self) -> float:
        """Wait for the Run All started by :meth:`start_run_all`; ms from
        its start to an idle kernel."""
        return self.page.evaluate(JS_RUN_WAIT, self.path)

    def wait_attached(self, timeout: float = 120_000) -> None:
        """Wait until every cell is in the DOM (windowing ``defer`` attaches
        them when the page is idle)."""
        self.page.wait_for_function(
            """(path) => { %s const w = find(path);
                 return w.content.widgets.every(c => c.isAttached &&
                     c.node.isConnected); }"""
            % _FIND,
            arg=self.path,
            timeout=timeout,
            polling=200,
        )

    def outputs(self) -> list[dict]:
        return self.page.evaluate(JS_OUTPUTS, self.path)

    def markdown(self) -> list[dict]:
        return self.page.evaluate(JS_MARKDOWN, self.path)

    def literalincludes(self) -> int:
        """Markdown cells whose source has a ``literalinclude`` (invisible
        in JupyterLab)."""
        return self.page.evaluate(
            """(path) => { %s const cells = find(path).content.model.cells;
                let n = 0;
                for (let i = 0; i < cells.length; i++) {
                  const source = cells.get(i).sharedModel.getSource();
                  if (cells.get(i).type === 'markdown'
                      && source.includes('{literalinclude}')) n++;
                }
                return n; }"""
            % _FIND,
            self.path,
        )

    def sliders(self):
        """Locators of the live slider boxes (``lecture_code.sliders``'
        widget view) in this notebook."""
        loc = self.page.locator(f"#{self.id} .lc-live")
        return [loc.nth(k) for k in range(loc.count())]

    def kernel_eval(self, code: str) -> str:
        """Run ``code`` in this notebook's kernel (not in a cell); returns
        what it printed."""
        return self.page.evaluate(JS_KERNEL_EVAL, [self.path, code])

    def close(self) -> None:
        """Shut down the kernel and close the notebook without saving."""
        self.page.evaluate(JS_CLOSE, self.path)


#: Move the k-th control of a live slider box and time it, all inside the
#: page: the clock starts at the pointer/key event and stops when the new
#: picture has loaded (its ``load`` event).
JS_ARM = """(box) => {
  const img = box.querySelector('.lc-live-image img, img.lc-live-image, img');
  const before = img.src;
  window.__lc = {t0: null, t1: null, before};
  const start = () => {
      if (window.__lc.t0 === null) window.__lc.t0 = performance.now(); };
  box.addEventListener('pointerdown', start, {capture: true, once: true});
  box.addEventListener('keydown', start, {capture: true, once: true});
  const done = () => { if (img.src !== before &&
      window.__lc.t1 === null) window.__lc.t1 = performance.now(); };
  img.addEventListener('load', done);
  window.__lc.cleanup = () => img.removeEventListener('load', done);
}"""

JS_ELAPSED = """() => (window.__lc && window.__lc.t1 !== null
  && window.__lc.t0 !== null) ? window.__lc.t1 - window.__lc.t0 : null"""


def slider_state(box) -> dict:
    return box.evaluate(
        """(box) => ({
            src:
                (box.querySelector(
                  '.lc-live-image img, img.lc-live-image, img') || {}).src,
            readouts: Array.from(box.querySelectorAll('.lc-readout')).map(r =>
                r.innerText),
            error:
                Array.from(box.querySelectorAll('.lc-live-error')).filter(e =>
                    e.offsetParent !== null)
                        // only an error that is shown
                        .map(e => e.innerText).join(''),
            controls: box.querySelectorAll('.lc-live-control').length,
        })"""
    )


def drag_slider(page, box, k: int, moves: int = 40) -> None:
    """Drag control ``k``'s handle from its position across the track in
    ``moves`` quick pointer moves (a reader dragging), then release."""
    control = box.locator(".lc-live-control").nth(k)
    handle = control.locator(".noUi-handle").first
    track = control.locator(".noUi-base").first
    track.scroll_into_view_if_needed()
    h, t = handle.bounding_box(), track.bounding_box()
    x, y = h["x"] + h["width"] / 2, h["y"] + h["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, moves + 1):
        page.mouse.move(t["x"] + t["width"] * (0.05 + 0.9 * i / moves), y)
    page.mouse.up()


def move_slider(
    page,
    box,
    k: int,
    fraction: float | None = None,
    timeout: float = 10_000,
    control_selector: str = ".lc-live-control",
) -> float | None:
    """Move control ``k`` of a live slider box and wait for the new picture;
    returns ms or None.

    With ``fraction`` (0..1) the pointer clicks the slider's track at that
    position; without, the keyboard moves the handle to the far end (End, or
    Home if it is already there). Returns None if the picture did not change
    within ``timeout`` ms (or the slider's value did not change at all).
    """
    control = box.locator(control_selector).nth(k)
    handle = control.locator(".noUi-handle").first
    before = handle.get_attribute("aria-valuenow")
    box.evaluate(JS_ARM)
    if fraction is None:
        at_end = before == handle.get_attribute("aria-valuemax")
        handle.focus()
        page.keyboard.press("Home" if at_end else "End")
    else:
        track = control.locator(".noUi-base").first
        track.scroll_into_view_if_needed()
        bb = track.bounding_box()
        page.mouse.click(
            bb["x"] + fraction * bb["width"], bb["y"] + bb["height"] / 2
        )
    try:
        if handle.get_attribute("aria-valuenow") == before:
            page.wait_for_timeout(300)
            if handle.get_attribute("aria-valuenow") == before:
                return None  # the click landed on the value already shown
        page.wait_for_function(JS_ELAPSED, timeout=timeout, polling="raf")
    except Exception:
        return None
    finally:
        box.evaluate(
            "() => window.__lc && window.__lc.cleanup && window.__lc.cleanup()"
        )
    return page.evaluate(JS_ELAPSED)
