"""The retention purge against a re-upload of the same bytes: the bytes of a live attachment are
never deleted, whichever of the two gets to the shared blob first."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from apps.accounts.models import User
from apps.files import services
from apps.files.models import Attachment, AttachmentStatus, StoredBlob
from apps.files.storage import files_storage, open_stored

DATA = b"the quarterly numbers, uploaded twice"
WAIT_S = 10.0


def _expired_upload(user: User, data: bytes = DATA) -> Attachment:
    """An upload deleted longer ago than the retention period: the purge will take it."""
    attachment = services.attachment_upload(uploader=user, source=io.BytesIO(data), name="a.txt")
    services.attachment_delete(actor=user, attachment_id=attachment.pk)
    Attachment.objects.filter(pk=attachment.pk).update(
        deleted_at=timezone.now() - timedelta(days=400)
    )
    return attachment


def _reupload(user: User, data: bytes = DATA) -> Attachment:
    return services.attachment_upload(uploader=user, source=io.BytesIO(data), name="again.txt")


def _bytes_of(attachment: Attachment) -> bytes:
    attachment = Attachment.objects.select_related("blob").get(pk=attachment.pk)
    with open_stored(attachment.blob.storage_name) as stored:
        return bytes(stored.read())


@pytest.mark.django_db
def test_purge_keeps_a_blob_claimed_by_a_reupload_after_it_chose_its_candidates(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    _expired_upload(user)
    purge_one = services._blob_purge_if_unused
    reuploads: list[Attachment] = []

    def reupload_then_purge(*, blob_id: int) -> bool:
        # The expired attachment is gone, the blob is a candidate, and now the same bytes arrive.
        reuploads.append(_reupload(user))
        return purge_one(blob_id=blob_id)

    monkeypatch.setattr(services, "_blob_purge_if_unused", reupload_then_purge)

    assert services.attachments_purge_deleted() == 1

    (again,) = reuploads
    assert StoredBlob.objects.filter(pk=again.blob_id).exists()
    assert _bytes_of(again) == DATA


@pytest.mark.django_db
def test_bytes_uploaded_again_after_their_purge_are_stored_again(user: User) -> None:
    first = _expired_upload(user)
    services.attachments_purge_deleted()
    assert not StoredBlob.objects.filter(pk=first.blob_id).exists()

    again = _reupload(user)

    assert _bytes_of(again) == DATA


@pytest.mark.django_db
def test_blob_row_left_without_its_bytes_is_healed_by_the_next_upload(user: User) -> None:
    first = _expired_upload(user)
    files_storage().delete(first.blob.storage_name)  # as if a purge died before its commit

    again = _reupload(user)

    assert again.blob_id == first.blob_id
    assert _bytes_of(again) == DATA


# --- real concurrency: PostgreSQL row locks -------------------------------------------------------


class Paused:
    """A point in one thread that waits until the test lets it go on."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.go_on = threading.Event()

    def __call__(self) -> None:
        self.reached.set()
        assert self.go_on.wait(WAIT_S), "the test never let the paused thread go on"


def _in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(work())
        except BaseException as error:
            results.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, results


@pytest.fixture
def paused_threads() -> Iterator[list[Paused]]:
    pauses: list[Paused] = []
    yield pauses
    for pause in pauses:  # never leave a thread waiting behind a failed assertion
        pause.go_on.set()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_purge_waits_for_a_reupload_holding_the_blob_and_then_keeps_it(
    user: User, monkeypatch: pytest.MonkeyPatch, paused_threads: list[Paused]
) -> None:
    _expired_upload(user)
    pause = Paused()
    paused_threads.append(pause)
    blob_for = services._blob_for

    def blob_for_then_pause(source: Any) -> StoredBlob:
        blob = blob_for(source)  # the row is locked now, until the upload commits
        pause()
        return blob

    monkeypatch.setattr(services, "_blob_for", blob_for_then_pause)
    upload_thread, uploaded = _in_thread(lambda: _reupload(user))
    assert pause.reached.wait(WAIT_S)

    purge_thread, purged = _in_thread(services.attachments_purge_deleted)
    purge_thread.join(0.5)
    assert purge_thread.is_alive()  # blocked on the blob's row lock
    pause.go_on.set()
    upload_thread.join(WAIT_S)
    purge_thread.join(WAIT_S)

    (again,) = uploaded
    assert isinstance(again, Attachment), again
    assert purged == [1]
    assert _bytes_of(again) == DATA
    again.refresh_from_db()
    assert again.status == AttachmentStatus.FAILED  # no clamd here: the scan failed closed


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_reupload_waits_for_a_purge_holding_the_blob_and_stores_the_bytes_again(
    user: User, monkeypatch: pytest.MonkeyPatch, paused_threads: list[Paused]
) -> None:
    first = _expired_upload(user)
    pause = Paused()
    paused_threads.append(pause)
    thumbnail_name = services.thumbnail_name

    def pause_after_deleting_the_bytes(sha256: str, size: int) -> str:
        pause()  # the purge holds the row lock and the bytes are gone; the row is not yet
        return thumbnail_name(sha256, size)

    monkeypatch.setattr(services, "thumbnail_name", pause_after_deleting_the_bytes)
    purge_thread, purged = _in_thread(services.attachments_purge_deleted)
    assert pause.reached.wait(WAIT_S)

    upload_thread, uploaded = _in_thread(lambda: _reupload(user))
    upload_thread.join(0.5)
    assert upload_thread.is_alive()  # blocked on the blob's row lock
    pause.go_on.set()
    purge_thread.join(WAIT_S)
    upload_thread.join(WAIT_S)

    (again,) = uploaded
    assert isinstance(again, Attachment), again
    assert purged == [1]
    assert not StoredBlob.objects.filter(pk=first.blob_id).exists()
    assert _bytes_of(again) == DATA
