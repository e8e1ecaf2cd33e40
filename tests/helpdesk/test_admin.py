"""The knowledge base in the admin console: an FAQ entry written there and a document
uploaded there are indexed and answer questions."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from apps.accounts.models import Role
from apps.helpdesk.models import HelpDesk, IndexState, KnowledgeDocument
from apps.helpdesk.selectors import kb_rank
from tests.factories import UserFactory
from tests.helpdesk.test_knowledge_base import docx_with_paragraphs

pytestmark = pytest.mark.django_db(transaction=True)  # the upload indexes after commit


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(UserFactory(role=Role.ADMIN, is_staff=True, is_superuser=True))
    return client


def test_an_faq_entry_added_in_the_admin_is_indexed(admin_client: Client) -> None:
    desk = HelpDesk.objects.create(name="HR")
    response = admin_client.post(
        reverse("admin:helpdesk_knowledgedocument_add"),
        {"helpdesk": desk.pk, "title": "", "question": "报销要多久？", "body": "五个工作日。"},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert kb_rank(helpdesk_id=desk.pk, question="报销多久")[0].answer_text == "五个工作日。"


def test_a_document_uploaded_in_the_admin_is_indexed(admin_client: Client) -> None:
    desk = HelpDesk.objects.create(name="HR")
    upload = SimpleUploadedFile("leave.docx", docx_with_paragraphs(["Parental leave is 98 days."]))
    response = admin_client.post(
        reverse("admin:helpdesk_knowledgedocument_add"),
        {"helpdesk": desk.pk, "title": "Leave", "question": "", "body": "", "upload": upload},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    document = KnowledgeDocument.objects.get(title="Leave")
    assert document.state == IndexState.READY
    assert kb_rank(helpdesk_id=desk.pk, question="parental leave")[0].document_id == document.pk


def test_an_empty_entry_is_refused(admin_client: Client) -> None:
    desk = HelpDesk.objects.create(name="HR")
    response = admin_client.post(
        reverse("admin:helpdesk_knowledgedocument_add"),
        {"helpdesk": desk.pk, "title": "x", "question": "", "body": ""},
    )

    assert response.status_code == 200
    assert not KnowledgeDocument.objects.exists()
