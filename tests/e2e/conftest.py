"""The live server and the browser for the end-to-end tests.

pytest-django's live_server speaks WSGI and has no WebSocket, so these tests run the real thing:
daphne in a subprocess on a loopback port, on its own SQLite database in a temporary directory
(never the pytest-django test database). The demo company is loaded once per run, into a
template database that every xdist worker copies; each worker then runs its own daphne.

Tests create what they need (channels with unique names) through the REST API, so they do not
depend on each other or on their order.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import browser_problem
from tests.files.clamd_server import ClamdServer, clamd_installed

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
DAPHNE = str(Path(PYTHON).with_name("daphne"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_PASSWORD = "enclave-demo"
ARTIFACTS = ROOT / "test-artifacts"
START_TIMEOUT_S = 30.0
EXPECT_TIMEOUT_MS = 10_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENCLAVE_", "REDIS_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{var_dir / 'e2e.sqlite3'}",
        DJANGO_SETTINGS_MODULE="config.settings.local",
        ENCLAVE_DEBUG="false",
        ENCLAVE_VAR_DIR=str(var_dir),
        PYTHONUNBUFFERED="1",
    )
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _template_database(shared_dir: Path) -> Path:
    """Migrate and seed once per run; concurrent xdist workers wait on the lock."""
    template_dir = shared_dir / "e2e-template"
    template_dir.mkdir(exist_ok=True)
    database = template_dir / "e2e.sqlite3"
    with open(shared_dir / "e2e-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (template_dir / "ready").exists():
            env = _server_env(template_dir)
            _manage(env, "migrate", "--noinput", "-v0")
            _manage(env, "seed_demo")
            # One file to copy: fold the write-ahead log back into the database.
            _manage(
                env,
                "shell",
                "-c",
                "from django.db import connection; "
                "connection.cursor().execute('PRAGMA wal_checkpoint(TRUNCATE)')",
            )
            (template_dir / "ready").touch()
    return database


UVICORN = str(Path(PYTHON).with_name("uvicorn"))


class LiveServer:
    """daphne (or uvicorn, the production server) in a subprocess; `restart()` stops it and
    starts it again on the same port."""

    def __init__(self, var_dir: Path, server: str = "daphne") -> None:
        self.server = server
        self.var_dir = var_dir
        self.env = _server_env(var_dir)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = var_dir / "daphne.log"
        # The scanner this server uses; started only by tests that need it (`e2e_clamd`), so
        # until then uploads end up `failed` (no verdict), never clean.
        self.clamd = ClamdServer()
        self.env.update(
            ENCLAVE_CLAMD_ADDRESS=self.clamd.address, ENCLAVE_CLAMD_TIMEOUT_SECONDS="10"
        )

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        command = (
            [DAPHNE, "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"]
            if self.server == "daphne"
            else [
                *(UVICORN, "config.asgi:application", "--host", "127.0.0.1"),
                *("--port", str(self.port), "--loop", "uvloop", "--http", "httptools"),
                *("--ws", "websockets-sansio", "--ws-per-message-deflate", "false"),
                *("--lifespan", "off", "--no-access-log"),
            ]
        )
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.server} exited:\n{self.log_path.read_text()[-3000:]}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response,  # noqa: S310
            ):
                if response.status == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(
            f"{self.server} did not answer /healthz:\n{self.log_path.read_text()[-3000:]}"
        )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def shell(self, code: str) -> str:
        """Run Python in `manage.py shell` against this server's database."""
        return _manage(self.env, "shell", "-c", code)


@pytest.fixture(scope="session")
def e2e_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    problem = browser_problem()
    if problem:
        pytest.skip(f"[browser] {problem}")
    server = _live_server(tmp_path_factory, "daphne")
    yield server
    server.stop()
    server.clamd.cleanup()


def _live_server(
    tmp_path_factory: pytest.TempPathFactory,
    kind: str,
    *,
    name: str | None = None,
    env: dict[str, str] | None = None,
    shell: str | None = None,
) -> LiveServer:
    """A started server on a copy of the demo database; `env` for its process, `shell` run
    against its database before it starts."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    template = _template_database(shared)
    var_dir = tmp_path_factory.mktemp(name or f"e2e-{kind}")
    shutil.copyfile(template, var_dir / "e2e.sqlite3")
    server = LiveServer(var_dir, server=kind)
    server.env.update(env or {})
    if shell:
        server.shell(shell)
    server.start()
    return server


def flag_on(name: str) -> str:
    """Shell code that turns feature flag `name` on for everyone (for `own_server`'s `shell`)."""
    return (
        "from apps.ops.models import FeatureFlag; "
        f"FeatureFlag.objects.get_or_create(name={name!r}, defaults={{'everyone': True}})"
    )


@contextlib.contextmanager
def own_server(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    *,
    env: dict[str, str] | None = None,
    shell: str | None = None,
    kind: str = "daphne",
) -> Iterator[LiveServer]:
    """A module's own server (daphne, or uvicorn as `kind`, on a copy of the demo database) for
    settings or flags the shared one must not have: a flag set behind a running server's back
    would wait for its cache, so `shell` runs before the start."""
    problem = browser_problem()
    if problem:
        pytest.skip(f"[browser] {problem}")
    server = _live_server(tmp_path_factory, kind, name=name, env=env, shell=shell)
    try:
        yield server
    finally:
        server.stop()
        server.clamd.cleanup()


@pytest.fixture(scope="session")
def uvicorn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The production server (uvicorn with uvloop, httptools, websockets-sansio)."""
    server = _live_server(tmp_path_factory, "uvicorn")
    yield server
    server.stop()
    server.clamd.cleanup()


@pytest.fixture(scope="session")
def e2e_clamd(e2e_server: LiveServer) -> ClamdServer:
    """Start the e2e server's clamd (Debian's clamd with our test signatures), or skip."""
    if not clamd_installed():
        pytest.skip("[clamav] needs ClamAV's clamd (apt-get install clamav-daemon)")
    if e2e_server.clamd.process is None:
        try:
            e2e_server.clamd.start()
        except RuntimeError as error:
            pytest.skip(f"[clamav] clamd did not start: {error}")
    return e2e_server.clamd


@pytest.fixture(scope="package")
def playwright() -> Iterator[Any]:
    """The one Playwright of the e2e tests. Its sync API marks an event loop as running in this
    thread for as long as it lives: a second sync_playwright() fails ("Sync API inside the
    asyncio loop"), so every browser is launched from this one; and an async test elsewhere
    fails ("cannot be called from a running event loop"), so it lives only while this package's
    tests run (a worker that comes back to them starts a new one)."""
    from playwright.sync_api import expect, sync_playwright

    # Explicit waits everywhere; generous enough for a loaded 2-core CI machine.
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="package")
def browser(playwright: Any, e2e_server: LiveServer) -> Iterator[Any]:
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield chromium
    chromium.close()


def sign_in(context: Any, base_url: str, username: str) -> Any:
    """A new page of `context`, signed in as `username` through the real login form."""
    page = context.new_page()
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login" not in url)
    return page


@pytest.fixture(scope="package")
def session_states(browser: Any, e2e_server: LiveServer) -> Callable[[str], dict[str, Any]]:
    """Log each user in once through the real form; contexts start from the saved cookies."""
    states: dict[str, dict[str, Any]] = {}

    def state_for(username: str) -> dict[str, Any]:
        if username not in states:
            context = browser.new_context()
            sign_in(context, e2e_server.url, username)
            states[username] = context.storage_state()
            context.close()
        return states[username]

    return state_for


# Chromium reports a CSP violation to the page as a `securitypolicyviolation` event (its console
# line "Refused to ..." does not reach Playwright); a policy header it cannot parse is a console
# error. Both go to the test.
REPORT_POLICY_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__enclavePolicyViolation(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"}`
      + ` at ${event.sourceFile}:${event.lineNumber} ${event.sample}`,
  );
});
"""


def watch_policies(target: Any, complaints: list[str]) -> None:
    """Collect into `complaints` every policy violation of a page or browser context (set up
    before its first navigation: it applies to the documents loaded after)."""

    def violation(source: Any, text: str) -> None:
        complaints.append(f"policy: {source['page'].url}: {text}")

    def console(message: Any) -> None:
        if "Permissions-Policy" in message.text or message.text.startswith("Refused to"):
            complaints.append(f"policy: {message.text}")

    target.expose_binding("__enclavePolicyViolation", violation)
    target.add_init_script(REPORT_POLICY_VIOLATIONS)
    target.on("console", console)


class AppPage:
    """One user's tab on the chat page, with the JavaScript errors it raised."""

    def __init__(self, page: Any, username: str, base_url: str) -> None:
        self.page = page
        self.username = username
        self.base_url = base_url
        self.errors: list[str] = []
        # What the tab said and did, printed if the test fails (`open_app`'s teardown).
        self.journal: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", self._console)
        # A Content-Security-Policy violation fails the test like a JavaScript error: the
        # policy is on in every browser test.
        watch_policies(page, self.errors)
        page.on("websocket", self._watch_socket)

    def _console(self, message: Any) -> None:
        self._note(f"console.{message.type}: {message.text}")

    def _note(self, line: str) -> None:
        self.journal.append(f"{time.monotonic():.3f} {line}")

    def _watch_socket(self, socket: Any) -> None:
        self._note(f"websocket opened {socket.url}")
        socket.on("framesent", lambda payload: self._note(f"ws sent {str(payload)[:200]}"))
        socket.on("framereceived", lambda payload: self._note(f"ws got {str(payload)[:200]}"))
        socket.on("close", lambda _socket: self._note("websocket closed"))

    def open(self, channel_id: int | None = None) -> AppPage:
        path = f"/c/{channel_id}/" if channel_id else "/"
        from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

        self.page.goto(self.base_url + path)
        try:
            self.page.wait_for_selector("#app:not(.is-loading)")
        except PlaywrightTimeoutError:
            # The deploy tests on the other worker add and remove network interfaces; Chromium
            # then aborts the loads in flight (net::ERR_NETWORK_CHANGED) and the page never
            # finishes loading. One reload, noted in the journal, is what a person would do.
            self._note("the app did not finish loading: reloading once")
            self.page.reload()
            self.page.wait_for_selector("#app:not(.is-loading)")
        if channel_id:
            self.wait_channel_open(channel_id)
        return self

    def wait_socket_ready(self, timeout_s: float = 10.0) -> None:
        """Until the tab's WebSocket got the server's hello: pushes reach it from then on."""
        deadline = time.monotonic() + timeout_s
        while not any('"type":"hello"' in line for line in self.journal):
            assert time.monotonic() < deadline, f"{self.username}'s socket never said hello"
            self.page.wait_for_timeout(50)  # lets Playwright deliver the frame events

    def wait_channel_open(self, channel_id: int) -> None:
        # Attached, not visible: on a phone the sidebar is off screen.
        self.page.wait_for_selector(
            f'a[data-channel-id="{channel_id}"][aria-current="page"]', state="attached"
        )
        # Test channels are fresh: their whole history is loaded when the intro shows.
        self.page.wait_for_selector("#history-status .channel-intro")

    def sidebar_link(self, channel_id: int) -> Any:
        return self.page.locator(f'.conversation-link[data-channel-id="{channel_id}"]')

    def message(self, text: str, pane: str = "#message-list") -> Any:
        return self.page.locator(f"{pane} article[data-message-id]", has_text=text)

    def send(self, text: str, input_selector: str = "#composer-input") -> None:
        self.page.fill(input_selector, text)
        self.page.press(input_selector, "Enter")

    def message_ids(self) -> list[int]:
        return [
            int(value)
            for value in self.page.eval_on_selector_all(
                "#message-list article[data-message-id]", "els => els.map(e => e.dataset.messageId)"
            )
        ]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so fixtures can tell that the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def open_app(
    request: pytest.FixtureRequest,
    browser: Any,
    e2e_server: LiveServer,
    session_states: Callable[[str], dict[str, Any]],
) -> Iterator[Callable[..., AppPage]]:
    """`open_app("alice", channel_id=..., locale=...)`: a fresh browser context per call."""
    contexts: list[Any] = []
    pages: list[AppPage] = []

    def open_(
        username: str,
        channel_id: int | None = None,
        locale: str = "en-US",
        viewport: dict[str, int] | None = None,
    ) -> AppPage:
        context = browser.new_context(
            storage_state=session_states(username),
            locale=locale,
            viewport=viewport or {"width": 1280, "height": 800},
        )
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        contexts.append(context)
        app = AppPage(context.new_page(), username, e2e_server.url)
        pages.append(app)
        return app.open(channel_id)

    yield open_
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        # A flaky failure is diagnosed from this: each tab's console and sockets, the server's log.
        for app in pages:
            print(f"--- {app.username}'s tab ---", *app.journal, sep="\n")
        lines = e2e_server.log_path.read_text(errors="replace").splitlines()
        log = [line for line in lines if '"GET /static/' not in line][-80:]
        print(f"--- {e2e_server.server} log, last lines ---", *log, sep="\n")
    for context in contexts:
        context.close()
    errors = [f"{app.username}: {error}" for app in pages for error in app.errors]
    assert not errors, f"JavaScript errors in the page: {errors}"


class ChannelTabs:
    """Tabs signed in through the login form and opened on a channel, each in a context of its
    own (the calls and meetings tests, whose browsers run with fake media devices)."""

    def __init__(self, browser: Any, *, init_script: str | None = None) -> None:
        self.browser = browser
        self.init_script = init_script
        self.contexts: list[Any] = []
        self.pages: list[AppPage] = []

    def open(self, base_url: str, username: str, channel_id: int, width: int = 1280) -> AppPage:
        context = self.browser.new_context(viewport={"width": width, "height": 800})
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        if self.init_script:
            context.add_init_script(self.init_script)
        self.contexts.append(context)
        app = AppPage(sign_in(context, base_url, username), username, base_url)
        self.pages.append(app)
        app.page.goto(f"{base_url}/c/{channel_id}/")
        app.page.wait_for_selector("#app:not(.is-loading)")
        app.wait_socket_ready()
        return app

    def close_and_check(self) -> None:
        """Close every tab, then fail if any raised a JavaScript error."""
        for context in self.contexts:
            context.close()
        errors = [f"{app.username}: {error}" for app in self.pages for error in app.errors]
        assert not errors, f"JavaScript errors in the page: {errors}"


class Api:
    """REST calls as one user (an API token), for setting up and checking test data."""

    def __init__(self, request: Any, base_url: str, username: str) -> None:
        response = request.post(
            f"{base_url}/api/v1/auth/token/",
            data={"username": username, "password": DEMO_PASSWORD, "name": f"e2e-{uuid.uuid4()}"},
        )
        assert response.ok, response.text()
        self.headers = {"Authorization": f"Bearer {response.json()['token']}"}
        self.request = request
        self.base = f"{base_url}/api/v1/"

    def get(self, path: str, **params: Any) -> Any:
        response = self.request.get(self.base + path, headers=self.headers, params=params)
        assert response.ok, f"GET {path}: {response.status} {response.text()}"
        return response.json()

    def post(self, path: str, data: dict[str, Any]) -> Any:
        response = self.request.post(self.base + path, headers=self.headers, data=data)
        assert response.ok, f"POST {path}: {response.status} {response.text()}"
        return response.json() if response.status != 204 else None

    def user_id(self, username: str) -> int:
        users = self.get("users/", limit=500)
        rows = users["results"] if isinstance(users, dict) else users
        return next(int(u["id"]) for u in rows if u["username"] == username)

    def create_channel(self, *, members: tuple[str, ...] = (), private: bool = False) -> dict:
        name = f"e2e-{uuid.uuid4().hex[:10]}"
        return self.post(
            "channels/",
            {
                "name": name,
                "kind": "private" if private else "public",
                "member_ids": [self.user_id(username) for username in members],
            },
        )

    def send(self, channel_id: int, body: str, **extra: Any) -> dict:
        payload = {"body": body, "client_msg_id": str(uuid.uuid4()), **extra}
        return self.post(f"channels/{channel_id}/messages/", payload)["message"]

    def history(self, channel_id: int) -> list[dict[str, Any]]:
        return self.get(f"channels/{channel_id}/messages/", limit=100)["messages"]


@pytest.fixture(scope="package")
def api_for(browser: Any, e2e_server: LiveServer) -> Iterator[Callable[[str], Api]]:
    clients: dict[str, Api] = {}
    request = browser.new_context()

    def api(username: str) -> Api:
        if username not in clients:
            clients[username] = Api(request.request, e2e_server.url, username)
        return clients[username]

    yield api
    request.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
