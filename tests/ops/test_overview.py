"""The IT admin's overview (/admin/overview/): who may open it, and each figure it shows.

The figures are read by apps/ops/selectors.py; these tests hold each selector to what it reads
(the presence store, the message table, the broker, the files, backups, directory syncs, clamd)
on the embedded default and, in the second pass, on PostgreSQL and Redis.
"""

from __future__ import annotations

import io
import uuid
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import DirectorySyncRun, Role, User
from apps.chat.models import Channel, Message
from apps.chat.presence import AWAY, ONLINE, presence_store
from apps.chat.selectors import messages_created_since
from apps.core.errors import Forbidden
from apps.files import services as files_services
from apps.files.scanner import scanner_status_forget
from apps.ops import health, selectors
from apps.ops.models import BackupRun, JobStatus, RestoreDrill
from tests.conftest import REDIS_TEST_URL
from tests.factories import ChannelFactory, UserFactory
from tests.files.clamd_server import ClamdServer, clamd_installed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

OVERVIEW = "/admin/overview/"


@pytest.fixture(autouse=True)
def _fresh_checks(settings: Any, tmp_path: Path) -> Iterator[None]:
    # No clamd unless a test starts one: the scanner reads as unreachable, quickly.
    settings.ENCLAVE_CLAMD_ADDRESS = f"unix://{tmp_path}/no-clamd.sock"
    scanner_status_forget()
    health.readiness_forget()
    yield
    scanner_status_forget()
    health.readiness_forget()


def person(role: str, **kwargs: Any) -> User:
    return UserFactory(
        role=role,
        is_staff=role in (Role.OWNER, Role.ADMIN),
        is_superuser=role == Role.OWNER,
        **kwargs,
    )


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- who may open it ------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_owner_and_admin_open_the_overview(role: str) -> None:
    response = signed_in(person(role)).get(OVERVIEW)

    assert response.status_code == 200
    assert b'id="overview-components"' in response.content


@pytest.mark.parametrize("role", [Role.MEMBER, Role.GUEST])
def test_member_and_guest_are_refused(role: str) -> None:
    response = signed_in(person(role)).get(OVERVIEW)

    assert response.status_code == 403
    assert b"overview-components" not in response.content


def test_a_member_with_the_staff_flag_is_still_refused() -> None:
    """The organisation role decides, not a stray is_staff."""
    member = UserFactory(role=Role.MEMBER, is_staff=True)

    response = signed_in(member).get(OVERVIEW)

    assert response.status_code == 403


def test_anonymous_is_sent_to_the_log_in_page() -> None:
    response = Client().get(OVERVIEW)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_a_deactivated_admin_is_refused_by_the_selector() -> None:
    admin = person(Role.ADMIN, is_active=False)

    with pytest.raises(Forbidden):
        selectors.ops_overview(user=admin)


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_the_admin_index_links_to_the_overview(role: str) -> None:
    response = signed_in(person(role)).get(reverse("admin:index"))

    assert response.status_code == 200
    assert f'href="{OVERVIEW}"'.encode() in response.content


def test_the_overview_speaks_chinese() -> None:
    admin = person(Role.ADMIN, language="zh-hans")
    client = signed_in(admin)

    response = client.get(OVERVIEW, HTTP_ACCEPT_LANGUAGE="zh-hans")

    text = response.content.decode()
    assert "组件" in text  # Components
    assert "今日消息" in text  # Messages today
    assert "Components" not in text


# --- messages today ---------------------------------------------------------------------------


def _messages(channel: Channel, sender: User, times: list[datetime]) -> list[Message]:
    """Messages in id order with the given creation times (as the send path writes them)."""
    return [
        Message.objects.create(
            channel=channel,
            seq=number,
            version=number,
            sender=sender,
            client_msg_id=uuid.uuid4(),
            body="x",
            html="x",
            created_at=created_at,
        )
        for number, created_at in enumerate(times, start=1)
    ]


@pytest.fixture
def channel_and_sender() -> tuple[Channel, User]:
    return ChannelFactory(), UserFactory()


@pytest.mark.parametrize(("before", "after"), [(0, 0), (0, 3), (5, 0), (1, 1), (37, 11), (64, 1)])
def test_messages_since_counts_exactly_the_later_ones(
    channel_and_sender: tuple[Channel, User], before: int, after: int
) -> None:
    since = datetime(2025, 3, 4, 16, 0, tzinfo=UTC)
    times = [since - timedelta(minutes=before - n) for n in range(before)]
    times += [since + timedelta(seconds=n) for n in range(after)]
    _messages(*channel_and_sender, times)

    assert messages_created_since(since=since) == after
    assert after == Message.objects.filter(created_at__gte=since).count()


def test_messages_since_reads_a_few_rows_per_halving(
    channel_and_sender: tuple[Channel, User],
) -> None:
    """Bisecting the primary key: about log2(messages) look-ups, whatever the day's share."""
    since = datetime(2025, 3, 4, 16, 0, tzinfo=UTC)
    times = [since - timedelta(seconds=300 - n) for n in range(300)]
    times += [since + timedelta(seconds=n) for n in range(20)]
    _messages(*channel_and_sender, times)

    with CaptureQueriesContext(connection) as queries:
        assert messages_created_since(since=since) == 20

    assert len(queries) <= 2 + 10 + 1  # first and last, log2(320) < 10 halvings, the count


def test_messages_today_start_at_midnight_in_the_admins_time_zone(
    channel_and_sender: tuple[Channel, User],
) -> None:
    shanghai = zoneinfo.ZoneInfo("Asia/Shanghai")
    # 2025-03-05 00:00 in Shanghai is 2025-03-04 16:00 UTC.
    _messages(
        *channel_and_sender,
        [
            datetime(2025, 3, 4, 15, 59, tzinfo=UTC),
            datetime(2025, 3, 4, 16, 1, tzinfo=UTC),
            datetime(2025, 3, 4, 20, 0, tzinfo=UTC),
        ],
    )
    now = datetime(2025, 3, 4, 23, 0, tzinfo=UTC)

    assert selectors.messages_today(now=now, zone=shanghai) == 2
    assert selectors.messages_today(now=now, zone=zoneinfo.ZoneInfo("UTC")) == 3


# --- online users -----------------------------------------------------------------------------


def test_online_users_come_from_the_presence_store() -> None:
    online, away, idle, gone = (UserFactory() for _ in range(4))
    store = presence_store()
    store.set(online.pk, "tab-1", AWAY)
    store.set(online.pk, "tab-2", ONLINE)  # one active tab of several: online
    store.set(away.pk, "tab-3", AWAY)
    store.set(gone.pk, "tab-4", ONLINE)
    gone.is_active = False  # deactivated: not counted, whatever its stale entry says
    gone.save(update_fields=["is_active"])

    assert selectors.online_users() == selectors.OnlineUsers(online=1, away=1)
    assert idle.pk  # offline users are simply not counted


# --- queues -----------------------------------------------------------------------------------


def test_queue_depths_do_not_apply_to_eager_tasks(settings: Any) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = True

    assert selectors.celery_queue_depths() == selectors.QueueDepths(applicable=False, depths={})


@pytest.mark.redis
def test_queue_depths_are_the_brokers_list_lengths(settings: Any) -> None:
    import redis

    queue = f"overview-test-{uuid.uuid4().hex}"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = REDIS_TEST_URL
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    client = redis.Redis.from_url(REDIS_TEST_URL)
    try:
        client.rpush(queue, "a", "b", "c")
        client.rpush(f"{queue}\x06\x163", "d")  # a priority step's list

        depths = selectors.celery_queue_depths()
    finally:
        client.delete(queue, f"{queue}\x06\x163")
        client.close()

    assert depths == selectors.QueueDepths(applicable=True, depths={queue: 4})


def test_an_unreachable_broker_shows_as_unavailable(settings: Any) -> None:
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    overview = selectors.ops_overview(user=person(Role.ADMIN), use_cache=False)

    assert overview.queues is None
    assert overview.components is not None  # the other figures are still read


# --- storage ----------------------------------------------------------------------------------


def test_storage_counts_stored_bytes_and_lists_the_largest_uploaders() -> None:
    admin = person(Role.ADMIN)
    big, small = UserFactory(username="big"), UserFactory(username="small")
    files_services.attachment_upload(uploader=big, source=io.BytesIO(b"a" * 5000), name="a.txt")
    files_services.attachment_upload(uploader=big, source=io.BytesIO(b"b" * 3000), name="b.txt")
    files_services.attachment_upload(uploader=small, source=io.BytesIO(b"c" * 10), name="c.txt")

    storage = selectors.storage_summary(user=admin)

    assert storage.total_bytes == 8010
    assert [(row["name"], row["files"], row["bytes"]) for row in storage.top_users] == [
        ("big", 2, 8000),
        ("small", 1, 10),
    ]


def test_storage_sizes_are_shown_human_readable() -> None:
    files_services.attachment_upload(
        uploader=UserFactory(), source=io.BytesIO(b"a" * 3 * 1024 * 1024), name="big.bin"
    )

    response = signed_in(person(Role.ADMIN)).get(OVERVIEW)

    assert "3.0\xa0MB" in response.content.decode()


# --- backups and restore drills ---------------------------------------------------------------


def test_backups_without_a_key_are_not_configured(settings: Any) -> None:
    settings.ENCLAVE_BACKUP_KEY = ""

    state = selectors.backups_state()
    response = signed_in(person(Role.OWNER)).get(OVERVIEW)

    assert state.configured is False
    assert state.status.last_backup is None
    assert b'data-backups="not-configured"' in response.content


def test_the_last_backup_and_drill_are_shown(settings: Any) -> None:
    settings.ENCLAVE_BACKUP_KEY = "configured"
    now = timezone.now()
    BackupRun.objects.create(
        started_at=now - timedelta(hours=3),
        finished_at=now - timedelta(hours=3) + timedelta(minutes=2),
        duration_seconds=120,
        status=JobStatus.SUCCEEDED,
    )
    RestoreDrill.objects.create(
        started_at=now - timedelta(hours=1),
        finished_at=now - timedelta(hours=1),
        status=JobStatus.FAILED,
        error="rows differ in chat_message",
    )

    state = selectors.backups_state()
    response = signed_in(person(Role.OWNER)).get(OVERVIEW)

    assert state.configured is True
    assert state.status.last_backup is not None
    assert state.status.last_backup.succeeded
    assert state.status.last_drill is not None
    assert not state.status.last_drill.succeeded
    text = response.content.decode()
    assert 'data-job="backup" data-status="succeeded"' in text
    assert 'data-job="drill" data-status="failed"' in text
    assert "rows differ in chat_message" in text
    assert 'data-backups="not-configured"' not in text


# --- directory sync ---------------------------------------------------------------------------


def test_a_refused_directory_sync_is_shown_as_refused(settings: Any) -> None:
    settings.ENCLAVE_LDAP = {**settings.ENCLAVE_LDAP, "SERVER_URI": "ldap://directory.internal"}
    now = timezone.now()
    good = DirectorySyncRun.objects.create(ok=True, finished_at=now - timedelta(hours=2))
    refused = DirectorySyncRun.objects.create(
        ok=False,
        refused=True,
        finished_at=now,
        error="would deactivate 40 of 100 users (limit 10 %)",
    )
    DirectorySyncRun.objects.filter(pk=good.pk).update(started_at=now - timedelta(hours=2))

    state = selectors.directory_sync_state()
    response = signed_in(person(Role.ADMIN)).get(OVERVIEW)

    assert state.configured is True
    assert state.last_run is not None
    assert (state.last_run.pk, state.last_run.outcome) == (refused.pk, "refused")
    assert state.last_success_at == good.finished_at
    text = response.content.decode()
    assert 'data-sync-outcome="refused"' in text
    assert "would deactivate 40 of 100 users" in text


def test_directory_sync_without_ldap_is_not_configured(settings: Any) -> None:
    settings.ENCLAVE_LDAP = {**settings.ENCLAVE_LDAP, "SERVER_URI": ""}

    state = selectors.directory_sync_state()
    response = signed_in(person(Role.ADMIN)).get(OVERVIEW)

    assert (state.configured, state.last_run, state.last_success_at) == (False, None, None)
    assert b'data-directory="not-configured"' in response.content


@pytest.mark.parametrize(
    ("ok", "refused", "finished", "outcome"),
    [(True, False, True, "ok"), (False, False, True, "failed"), (False, False, False, "running")],
)
def test_directory_sync_outcomes(ok: bool, refused: bool, finished: bool, outcome: str) -> None:
    DirectorySyncRun.objects.create(
        ok=ok, refused=refused, finished_at=timezone.now() if finished else None
    )

    state = selectors.directory_sync_state()

    assert state.last_run is not None
    assert state.last_run.outcome == outcome


# --- scanner ----------------------------------------------------------------------------------


def test_an_unreachable_scanner_has_no_signatures() -> None:
    state = selectors.scanner_state()

    assert (state.reachable, state.trusted, state.signatures) == (False, False, "")


@pytest.fixture(scope="module")
def clamd_for_overview() -> Iterator[ClamdServer]:
    if not clamd_installed():
        pytest.skip("[clamav] needs ClamAV's clamd (apt-get install clamav-daemon)")
    server = ClamdServer()
    server.start()
    yield server
    server.cleanup()


@pytest.mark.clamav
def test_a_trusted_scanner_shows_what_clamd_says_of_its_signatures(
    clamd_for_overview: ClamdServer, settings: Any
) -> None:
    """The suite's clamd loads only Enclave's test signatures: no official database version."""
    settings.ENCLAVE_CLAMD_ADDRESS = clamd_for_overview.address

    state = selectors.scanner_state()
    response = signed_in(person(Role.ADMIN)).get(OVERVIEW)

    assert (state.reachable, state.trusted) == (True, True)
    assert state.signatures.startswith("ClamAV ")
    assert state.signature_version == ""
    text = response.content.decode()
    assert 'data-scanner="trusted"' in text
    assert "No official signature database loaded" in text


def test_the_signature_version_and_date_are_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    """clamd with freshclam's database answers VERSION with its version and date."""
    state = selectors.ScannerState(
        reachable=True, trusted=True, problem="", signatures="27480/Mon Dec  1 09:27:02 2025"
    )
    monkeypatch.setattr(selectors, "scanner_state", lambda: state)

    response = signed_in(person(Role.ADMIN)).get(OVERVIEW)

    assert (state.signature_version, state.signature_date) == ("27480", "Mon Dec  1 09:27:02 2025")
    assert "Signature database 27480, dated Mon Dec  1 09:27:02 2025." in response.content.decode()


# --- version, dashboards, the page as a whole -------------------------------------------------


def test_the_version_is_the_release_file_the_deployment_writes(
    settings: Any, tmp_path: Path
) -> None:
    settings.BASE_DIR = tmp_path
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "enclave"\nversion = "0.9.1"\n')

    assert selectors.app_version() == "0.9.1"

    (tmp_path / "VERSION").write_text("20250304-1530-abc1234\n")

    assert selectors.app_version() == "20250304-1530-abc1234"


def test_grafana_links_only_when_configured(settings: Any) -> None:
    admin = person(Role.ADMIN)
    settings.ENCLAVE_GRAFANA_URL = ""

    assert selectors.grafana_links() == []
    assert b"overview-grafana" not in signed_in(admin).get(OVERVIEW).content

    settings.ENCLAVE_GRAFANA_URL = "https://grafana.example.com/"
    selectors_cache_clear()

    links = dict(selectors.grafana_links())
    assert links["enclave"] == "https://grafana.example.com/dashboards?tag=enclave"
    assert b'href="https://grafana.example.com/dashboards?tag=enclave"' in (
        signed_in(admin).get(OVERVIEW).content
    )


def selectors_cache_clear() -> None:
    from django.core.cache import cache

    cache.clear()


def test_the_components_are_the_readiness_checks() -> None:
    components = selectors.component_health()

    assert [component.name for component in components] == list(health.CHECKS)
    by_name = {component.name: component for component in components}
    assert by_name["database"].status == "ok"
    assert (by_name["clamd"].status, by_name["clamd"].reason) == ("failed", "clamd unreachable")


def test_a_figure_that_fails_leaves_the_page_standing(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("presence store down")

    monkeypatch.setattr(selectors, "online_users", broken)

    response = signed_in(person(Role.ADMIN)).get(OVERVIEW)

    assert response.status_code == 200
    assert response.context["overview"].online_users is None
    assert response.context["overview"].messages_today == 0


def test_the_overview_is_kept_for_a_while(channel_and_sender: tuple[Channel, User]) -> None:
    admin = person(Role.ADMIN)
    first = selectors.ops_overview(user=admin)
    _messages(*channel_and_sender, [timezone.now()])

    with CaptureQueriesContext(connection) as queries:
        again = selectors.ops_overview(user=admin)

    assert again.messages_today == first.messages_today == 0
    assert len(queries) == 0
    assert selectors.ops_overview(user=admin, use_cache=False).messages_today == 1


@pytest.mark.postgres
def test_messages_today_read_only_the_primary_key_index_on_postgresql(
    channel_and_sender: tuple[Channel, User],
) -> None:
    """EXPLAIN every statement: no sequential scan of the message table (20,000 messages over
    ten days, the last 1 % today). On 1,000,000 messages (100,000 a day) the bisection took
    23 statements and 13 ms against 82 ms for `created_at >= ...` (a parallel seq scan)."""
    channel, sender = channel_and_sender
    since = timezone.now() - timedelta(hours=2)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO chat_message (channel_id, seq, version, sender_id, body, html,
                reply_count, mentions_everyone, created_at)
            SELECT %s, g, g, %s, 'x', 'x', 0, false,
                %s - interval '10 days' + g * interval '10 days' / 19800
            FROM generate_series(1, 20000) g
            """,
            [channel.pk, sender.pk, since],
        )
        cursor.execute("ANALYZE chat_message")

    with CaptureQueriesContext(connection) as queries:
        count = messages_created_since(since=since)

    assert count == Message.objects.filter(created_at__gte=since).count() == 201  # 19800..20000
    plans = []
    with connection.cursor() as cursor:
        for query in queries.captured_queries:
            cursor.execute(f"EXPLAIN {query['sql']}")
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert len(plans) <= 2 + 15 + 1
    assert all("Seq Scan" not in plan for plan in plans), plans
    assert "Index Only Scan using chat_message_pkey" in plans[-1]


# --- the web client's account menu ------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN])
def test_the_account_menu_offers_the_admin_console_to_admins(role: str) -> None:
    response = signed_in(person(role)).get(reverse("chat:home"))

    assert response.status_code == 200
    assert b'id="admin-console-link"' in response.content
    assert f'href="{OVERVIEW}"'.encode() in response.content


@pytest.mark.parametrize("role", [Role.MEMBER, Role.GUEST])
def test_the_account_menu_has_no_admin_console_for_others(role: str) -> None:
    response = signed_in(person(role)).get(reverse("chat:home"))

    assert response.status_code == 200
    assert b"admin-console-link" not in response.content
    assert OVERVIEW.encode() not in response.content


def test_the_admin_console_link_in_chinese() -> None:
    response = signed_in(person(Role.ADMIN, language="zh-hans")).get(reverse("chat:home"))

    assert "管理控制台" in response.content.decode()
