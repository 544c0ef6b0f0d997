"""The web app in a real browser: Playwright for Python driving the system's
chromium (Playwright's own browser download is not used), against real
`troth run` processes on 127.0.0.1.

Skips, saying why, when Playwright or a chromium is missing (`.ci/run`
installs Debian's `chromium`; set TROTH_CHROMIUM to use another binary).
axe-core, for the accessibility checks, is a pinned npm release fetched into
a cache on first use and checked against its registry integrity hash; its
tests skip when it cannot be fetched. Screenshots go to the run's artifacts
directory (`$TROTH_ARTIFACTS`, else `.artifacts/web` in the checkout).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import signal
import socket
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from node.store.home import Home, edit_config
from tests.harness import ROOT, Proc

pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed "
                                                   "(pip install -e '.[dev]')")
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright  # noqa: E402

AXE_VERSION = "4.14.1"
AXE_URL = f"https://registry.npmjs.org/axe-core/-/axe-core-{AXE_VERSION}.tgz"
# `npm view axe-core@4.14.1 dist.integrity`: the tarball's sha512, as the registry signs it.
AXE_INTEGRITY = ("sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFoo"
                 "JpZe37OgudVGtQ==")
# Skew allowance of the test nodes: votes are tallied this long after they close.
SKEW_S = 1.0
# Browser timezone: the tests type local times into date/time pickers.
TIMEZONE = "UTC"


def _chromium() -> str | None:
    env = os.environ.get("TROTH_CHROMIUM")
    if env:
        return env
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    exe = _chromium()
    if exe is None:
        pytest.skip("no chromium found for the browser tests: install it "
                    "(apt-get install -y chromium) or set TROTH_CHROMIUM")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe)
        yield b
        b.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where this run's screenshots go (kept after the run, unlike pytest's temp dirs)."""
    env = os.environ.get("TROTH_ARTIFACTS")
    path = Path(env) if env else ROOT / ".artifacts" / "web"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's axe.min.js, from the cache or the npm registry (integrity checked)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    path = cache / "troth-tests" / f"axe-core-{AXE_VERSION}" / "axe.min.js"
    if not path.exists():
        try:
            tgz = httpx.get(AXE_URL, timeout=30, follow_redirects=True).raise_for_status().content
        except httpx.HTTPError as exc:
            pytest.skip(f"axe-core {AXE_VERSION} is not cached and cannot be fetched: {exc}")
        digest = "sha512-" + base64.b64encode(hashlib.sha512(tgz).digest()).decode()
        assert digest == AXE_INTEGRITY, "axe-core tarball does not match its pinned integrity"
        with tarfile.open(fileobj=io.BytesIO(tgz)) as tar:
            member = tar.extractfile("package/axe.min.js")
            assert member is not None
            source = member.read()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_suffix(".tmp").write_bytes(source)
        path.with_suffix(".tmp").replace(path)
    return path.read_text()


class WebNode(Proc):
    """A `troth run` process and what a browser needs to open its app."""

    @property
    def agent(self) -> str:
        return str(self.ident()["agent_id"])

    @property
    def write_token(self) -> str:
        return self.home.api_token()

    @property
    def app_url(self) -> str:
        """What `troth web` opens: the read token in the fragment."""
        return f"{self.api}/#read={self.home.api_read_token()}"


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory, browser: Browser) -> Iterator[
        tuple[WebNode, WebNode]]:
    """Nodes A and B, B bootstrapped from A, started at once (A listens on a port
    chosen here, so B knows its address before it runs); once per module."""
    base = tmp_path_factory.mktemp("web")
    with socket.socket() as s:  # (a free port; a clash would fail the start loudly)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    homes = []
    for name in ("a", "b"):
        home, identity = Home.init(base / name)
        homes.append((home, identity.agent_id))
        home.config_path.write_text(edit_config(home.config_path.read_text(),
                                                {"trust": {"skew_allowance_s": SKEW_S}}))
    a_home, a_id = homes[0]
    a_home.config_path.write_text(edit_config(a_home.config_path.read_text(),
                                              {"network": {"listen": [
                                                  f"/ip4/127.0.0.1/tcp/{port}"]}}))
    a = WebNode(a_home.path, [])
    b = WebNode(homes[1][0].path, [f"/ip4/127.0.0.1/tcp/{port}/p2p/{a_id}"])
    try:
        for node in (a, b):
            node.launch()
        for node in (a, b):
            node.ready()
        yield a, b
    finally:
        for node in (a, b):
            if node.proc is not None and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        for node in (a, b):
            if node.proc is not None:
                node.proc.wait(timeout=30)
                node.http.close()


class Console:
    """Console errors and uncaught exceptions of every page in a context."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        # Substrings of errors a test expects (e.g. the 403 it provokes).
        self.allowed: list[str] = []

    def watch(self, page: Page) -> None:
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in self.allowed)]


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def context(browser: Browser, console: Console) -> Iterator[BrowserContext]:
    """A fresh browser profile (its own sessionStorage); no console errors allowed."""
    ctx = browser.new_context(timezone_id=TIMEZONE, locale="en-GB",
                              viewport={"width": 1280, "height": 900})
    ctx.on("page", console.watch)
    yield ctx
    ctx.close()
    assert console.unexpected() == [], "the app logged errors"


def open_app(context: BrowserContext, node: WebNode, view: str = "overview") -> Page:
    """A page on the node's app as `troth web` opens it, then on `view`."""
    page = context.new_page()
    page.goto(node.app_url)
    page.locator("#live.on").wait_for()  # following the event stream
    assert "read=" not in page.url  # the token left the address bar
    if view != "overview":
        page.goto(f"{node.api}/#/{view}")
    page.locator(f"nav a[aria-current=page][href='#/{view}']").wait_for()
    page.locator("main[aria-busy=false]").wait_for()
    return page


def write_token_dialog(page: Page, token: str) -> None:
    """Answer the app's write-token dialog (it opens on the first action)."""
    dialog = page.get_by_role("dialog", name="Write token needed")
    dialog.wait_for()
    dialog.get_by_label("Token").fill(token)
    dialog.get_by_role("button", name="Use this token").click()


def run_axe(page: Page, source: str) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.x A and AA violations on the page as it is."""
    page.locator("main[aria-busy=false]").wait_for()  # (not in the middle of a refresh)
    page.evaluate(source)
    assert page.evaluate("axe.version") == AXE_VERSION
    result = page.evaluate("""async () => (await axe.run(document, {runOnly: {type: 'tag',
        values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})).violations.map(v => ({
        id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))""")
    return list(result)
