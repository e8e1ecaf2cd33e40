"""Suite-wide fixtures and the real-service gate.

Tests marked `postgres`, `redis` or `ldap` (a throwaway slapd) need those servers; `browser`
tests need Playwright and /usr/bin/chromium; `deploy` tests boot Debian hosts (root, debootstrap,
unshare: tests/deploy/hosts.py). Locally they
skip with a reason when the server is absent; with ENCLAVE_REQUIRE_SERVICES=1 (CI) a missing
server fails them instead, so a green CI run means they ran.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from apps.accounts.models import Role, User
from apps.chat.models import Channel, ChannelKind, ChannelRole
from tests.factories import ChannelFactory, MembershipFactory, UserFactory

REQUIRE_SERVICES = os.environ.get("ENCLAVE_REQUIRE_SERVICES") == "1"
REDIS_TEST_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def redis_available() -> bool:
    from urllib.parse import urlparse

    parsed = urlparse(REDIS_TEST_URL)
    return _reachable(parsed.hostname or "127.0.0.1", parsed.port or 6379)


CHROMIUM_PATH = "/usr/bin/chromium"


def browser_problem() -> str | None:
    """Why the `browser` (Playwright + headless Chromium) tests cannot run here, if they cannot."""
    import importlib.util

    if importlib.util.find_spec("playwright") is None:
        return "needs the playwright Python package (pip install -r requirements/local.txt)"
    if not os.access(CHROMIUM_PATH, os.X_OK):
        return f"needs Chromium at {CHROMIUM_PATH} (apt-get install chromium)"
    return None


def _service_problem(marker: str) -> str | None:
    if marker == "postgres" and connection.vendor != "postgresql":
        return "needs PostgreSQL: run with DATABASE_URL=postgres://... (make test does)"
    if marker == "redis" and not redis_available():
        return f"needs Redis at {REDIS_TEST_URL}"
    if marker == "ldap":
        from tests.accounts.ldap_server import slapd_installed

        if not slapd_installed():
            return "needs OpenLDAP's slapd and ldap-utils (apt-get install slapd ldap-utils)"
    if marker == "clamav":
        from tests.files.clamd_server import clamd_installed

        if not clamd_installed():
            return "needs ClamAV's clamd (apt-get install clamav-daemon)"
    if marker == "browser":
        return browser_problem()
    if marker == "deploy":
        from tests.deploy.hosts import deploy_problem

        return deploy_problem()
    if marker == "prometheus":
        import shutil

        if shutil.which("prometheus") is None:
            return "needs Prometheus (apt-get install prometheus)"
    if marker == "turn":
        from tests.calls.turn_server import turnserver_installed

        if not turnserver_installed():
            return "needs coturn's turnserver (apt-get install coturn)"
    if marker == "janus":
        from tests.calls.janus_server import janus_installed

        if not janus_installed():
            return "needs Janus (apt-get install janus)"
    if marker == "chaos":
        from tests.load.chaos.services import services_problem

        return services_problem()
    return None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--encrypt-files",
        action="store_true",
        default=False,
        help="Run with encryption at rest of stored files on (a random key for the session), "
        "to prove every reader goes through the decrypting read path.",
    )


def pytest_configure(config: pytest.Config) -> None:
    """The suite's connections are tuned as an app server's are (config/asgi.py installs this
    in server processes): from the first connection, before any test opens one."""
    from apps.core.runtime import install_database_tuning

    install_database_tuning()


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in (
        "postgres",
        "redis",
        "ldap",
        "clamav",
        "browser",
        "deploy",
        "prometheus",
        "turn",
        "janus",
        "chaos",
    ):
        if item.get_closest_marker(marker) is None:
            continue
        problem = _service_problem(marker)
        if problem is None:
            continue
        if REQUIRE_SERVICES:
            pytest.fail(f"[{marker}] {problem} (ENCLAVE_REQUIRE_SERVICES=1: skipping not allowed)")
        pytest.skip(f"[{marker}] {problem}")


@pytest.fixture(autouse=True, scope="session")
def _files_storage_in_temp_dir(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[None]:
    """Uploaded files of the whole suite go to a temporary directory, never var/media; with
    --encrypt-files, encrypted under a key of the session."""
    from django.test import override_settings

    from apps.files.encryption import generate_key

    encryption = (
        {
            "ENCLAVE_FILES_ENCRYPTION_KEYS": f"suite:{generate_key()}",
            "ENCLAVE_FILES_ENCRYPTION_ACTIVE_KEY": "suite",
        }
        if pytestconfig.getoption("--encrypt-files")
        else {}
    )

    root = tmp_path_factory.mktemp("enclave-files")
    backend = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(root)},
    }
    with override_settings(
        STORAGES={**settings.STORAGES, "enclave_files": backend},
        ENCLAVE_FILES_ROOT=root,
        MEDIA_ROOT=root / "media",  # avatars (default storage)
        **encryption,
    ):
        yield


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """pytest-django's; and before it drops the test database, end the sessions other threads
    still hold (a send writer thread keeps its connection, by design) and close each pool.
    Otherwise the database is "being accessed by other users", and it is left behind."""
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        for alias in connections:
            wrapper = connections[alias]
            if wrapper.vendor == "postgresql":
                with wrapper.cursor() as cursor:
                    cursor.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
            close_pool = getattr(wrapper, "close_pool", None)
            if close_pool is not None:
                wrapper.close()
                close_pool()


@pytest.fixture(autouse=True)
def _isolated_presence() -> Iterator[None]:
    from apps.chat.presence import RedisPresenceStore, presence_store

    presence_store.cache_clear()
    store = presence_store()
    if isinstance(store, RedisPresenceStore):
        # Test databases reuse user ids; start each test with no one online.
        keys = list(store.client.scan_iter("enclave:presence:*"))
        if keys:
            store.client.delete(*keys)
    yield
    presence_store.cache_clear()


@pytest.fixture(autouse=True)
def _forget_cached_flags() -> Iterator[None]:
    """The product's feature flags are cached (waffle), and the cache is dropped when a change
    commits: a test database rolls back instead, so a flag one test made (or found missing)
    would stay so for the next test of the process."""
    from waffle.utils import get_cache

    from apps.core.features import FLAGS
    from apps.ops.models import FeatureFlag

    keys = [key for name in FLAGS for key in FeatureFlag(name=name).get_flush_keys()]
    get_cache().delete_many(keys)
    yield
    get_cache().delete_many(keys)


@pytest.fixture(autouse=True)
def _forget_assistant_bot() -> Iterator[None]:
    """The assistant's bot id is remembered per process; test databases roll back and reuse
    user ids, so a remembered id could name an ordinary user of the next test (whose messages
    the assistant would then leave out as its own)."""
    from apps.assistant.services import forget_bot_id

    forget_bot_id()
    yield
    forget_bot_id()


@pytest.fixture
def make_user(db: Any) -> Callable[..., User]:
    def make(role: str = Role.MEMBER, **kwargs: Any) -> User:
        return UserFactory(role=role, **kwargs)

    return make


@pytest.fixture
def user(make_user: Callable[..., User]) -> User:
    return make_user()


@pytest.fixture
def make_channel(db: Any) -> Callable[..., Channel]:
    """A channel with the given members; the first `admins` become channel admins."""

    def make(
        kind: str = ChannelKind.PUBLIC,
        members: tuple[User, ...] = (),
        admins: tuple[User, ...] = (),
        **kwargs: Any,
    ) -> Channel:
        channel = ChannelFactory(kind=kind, **kwargs)
        for admin in admins:
            MembershipFactory(channel=channel, user=admin, role=ChannelRole.ADMIN)
        for member in members:
            MembershipFactory(channel=channel, user=member)
        return channel

    return make


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def client_for() -> Callable[[User | None], APIClient]:
    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client

    return make


@pytest.fixture
def captured_events(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every frame published (after commit), decoded, with the topics it went to.

    Events leave only after commit, so tests using this need
    `@pytest.mark.django_db(transaction=True)` (a plain django_db test never commits).
    """
    import orjson

    from apps.core import events as core_events

    published: list[dict[str, Any]] = []

    def capture(topics: list[str], message: dict[str, Any]) -> None:
        if message.get("type") == core_events.PUSH:
            published.append({"topics": topics, **orjson.loads(message["frame"])})

    monkeypatch.setattr(core_events, "_send_to_topics", capture)
    return published


@pytest.fixture
def settings_redis_realtime(settings: Any) -> None:
    """Route the real-time bus through the real Redis server for this test."""
    settings.ENCLAVE_REALTIME_URL = REDIS_TEST_URL


@pytest.fixture
def captured_controls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every control message (join/leave/close) sent to users' sockets after commit.

    Chains to whatever `_send_to_topics` is in place, so it combines with `captured_events`
    when requested after it. Needs `@pytest.mark.django_db(transaction=True)` like that one.
    """
    from apps.core import events as core_events

    controls: list[dict[str, Any]] = []
    forward = core_events._send_to_topics

    def capture(topics: list[str], message: dict[str, Any]) -> None:
        if message.get("type") == core_events.CONTROL:
            controls.append({"topics": topics, **message})
        else:
            forward(topics, message)

    monkeypatch.setattr(core_events, "_send_to_topics", capture)
    return controls


@pytest.fixture
def empty_cache() -> Iterator[None]:
    """Start with an empty cache: DRF throttles count requests there across tests."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


__all__ = ["settings"]


# --- real-time (WebSocket) fixtures ---------------------------------------------------------------


@pytest.fixture
def isolated_realtime(settings: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A real-time bus and presence keys of this test's own, in Redis under a prefix no other
    test or run shares.

    Topics ("chan.1", "user.1") and presence keys repeat across test databases, so parallel
    workers, concurrent runs and earlier runs must not meet in the same Redis keys.
    """
    import uuid

    from apps.chat import presence

    tag = f"enclave-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    settings.ENCLAVE_REALTIME_PREFIX = tag
    monkeypatch.setattr(
        presence.RedisPresenceStore,
        "_key",
        staticmethod(lambda user_id: f"{tag}:presence:{user_id}"),
    )
    return tag


@pytest.fixture
async def ws_connect(isolated_realtime: str) -> Any:
    """Open authenticated sockets on the real ASGI app: `await ws_connect(user, auth=...)`.

    Sockets still open at the end are disconnected. See tests/ws.py for the client (every
    received frame is schema-checked).
    """
    from channels.db import database_sync_to_async
    from django.db import connections

    from tests.ws import WsClient, open_socket

    opened: list[WsClient] = []

    async def connect(user: User, **kwargs: Any) -> WsClient:
        client = await open_socket(user, **kwargs)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        await client.disconnect()
    # The consumer's worker thread outlives the test; leave no connection to the test database.
    await database_sync_to_async(connections.close_all)()


@pytest.fixture(autouse=True, scope="session")
def _fast_postgres_flush() -> Iterator[None]:
    """On PostgreSQL, empty tables with DELETE instead of TRUNCATE after transactional tests.

    TRUNCATE takes a few hundred milliseconds on PostgreSQL whatever the table size (new files,
    fsync), DELETE of the handful of rows a test writes takes a millisecond; WebSocket tests
    must be transactional (the consumer's thread has its own connection and events leave on
    commit). Django's foreign keys are DEFERRABLE INITIALLY DEFERRED, so the order does not
    matter; anything unusual (RESTART IDENTITY, CASCADE, an error) falls back to TRUNCATE.
    """
    import re

    from django.db import DatabaseError, transaction
    from django.db.backends.postgresql.operations import DatabaseOperations

    plain_truncate = re.compile(r'^TRUNCATE ((?:"[^"]+"(?:, )?)+);$')
    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self: DatabaseOperations, sql_list: list[str]) -> None:
        matches = [plain_truncate.match(sql) for sql in sql_list]
        if sql_list and all(matches):
            tables = [t for m in matches if m for t in m.group(1).split(", ")]
            try:
                with (
                    transaction.atomic(using=self.connection.alias),
                    self.connection.cursor() as cursor,
                ):
                    cursor.execute("SET CONSTRAINTS ALL DEFERRED")
                    for table in tables:
                        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - quoted names
                return
            except DatabaseError:
                pass
        original(self, sql_list)

    DatabaseOperations.execute_sql_flush = execute_sql_flush  # type: ignore[method-assign]
    yield
    DatabaseOperations.execute_sql_flush = original  # type: ignore[method-assign]


# The organisation settings' admin form with every rule at its default: tests post it with the
# fields they change (`{**ORGANIZATION_SETTINGS_FORM, "bot_creators": "member"}`).
ORGANIZATION_SETTINGS_FORM = {
    "public_channel_creators": "member",
    "private_channel_creators": "member",
    "channel_inviters": "member",
    "mention_all_senders": "member",
    "bot_creators": "admin",
    "two_factor_required_for": "nobody",
}
ORGANIZATION_SETTINGS_URL = "/admin/accounts/organizationsettings/1/change/"


@pytest.fixture
def owner_admin(db: Any) -> Any:
    """A Django test client signed in to the admin console as the owner (a superuser); the
    organisation settings row exists."""
    from django.test import Client

    from apps.accounts.permissions import organization_settings

    organization_settings()
    client = Client()
    client.force_login(UserFactory(role=Role.OWNER, is_staff=True, is_superuser=True))
    return client
