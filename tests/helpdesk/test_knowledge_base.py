"""The knowledge base: terms, passages, extraction of PDF/DOCX/Markdown, and the ranking's top
citations for Chinese and English questions."""

from __future__ import annotations

import pytest

from apps.files.document_text import UnreadableDocument, document_text
from apps.helpdesk import services, textindex
from apps.helpdesk.answer import compose_answer
from apps.helpdesk.models import IndexState, KnowledgeDocument, Passage
from apps.helpdesk.selectors import kb_rank
from tests.documents import docx_with_paragraphs, pdf_with_text
from tests.helpdesk.conftest import Desk

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]


def test_chinese_is_indexed_as_characters_and_pairs_and_asked_by_pairs() -> None:
    assert textindex.terms("退款") == ["退", "款", "退款"]
    assert textindex.terms("申请退款", query=True) == ["申请", "请退", "退款"]


def test_english_words_lose_stop_words_and_plural_endings() -> None:
    assert textindex.terms("How do I get refunds for the orders?") == ["get", "refund", "order"]


def test_long_text_is_split_into_passages_near_the_target_size() -> None:
    text = "\n\n".join(f"Paragraph {n} " + "word " * 40 for n in range(10))
    passages = textindex.split_passages(text, target=300)

    assert len(passages) > 3
    assert all(len(p) <= 600 for p in passages)
    assert "".join(passages).replace("\n", "").replace(" ", "") == text.replace("\n", "").replace(
        " ", ""
    )


def test_a_markdown_heading_starts_a_new_passage() -> None:
    passages = textindex.split_passages("# Refunds\n\nWithin 30 days.\n\n# Shipping\n\nFree.")

    assert passages == ["# Refunds\n\nWithin 30 days.", "# Shipping\n\nFree."]


@pytest.mark.parametrize(
    ("question", "expected_title"),
    [
        ("I forgot my password, how can I reset it?", "How do I reset my password?"),
        ("when is the office open", "What are the office opening hours?"),
        ("我想申请退款", "如何申请退款？"),
        ("年假有几天", "公司的年假有多少天？"),
    ],
)
def test_the_best_citation_is_the_matching_faq_entry(
    desk: Desk, question: str, expected_title: str
) -> None:
    ranked = kb_rank(helpdesk_id=desk.desk.pk, question=question)
    answer = compose_answer(question, ranked)

    assert answer is not None
    assert answer.citations[0]["title"] == expected_title
    assert answer.text == KnowledgeDocument.objects.get(title=expected_title).body
    assert answer.confidence >= 0.5


def test_a_question_the_knowledge_base_does_not_cover_has_low_or_no_confidence(desk: Desk) -> None:
    answer = compose_answer("quantum", kb_rank(helpdesk_id=desk.desk.pk, question="quantum"))
    assert answer is None

    partial = compose_answer(
        "password of the printer driver firmware",
        kb_rank(helpdesk_id=desk.desk.pk, question="password of the printer driver firmware"),
    )
    assert partial is not None
    assert partial.confidence < 0.5


def test_another_desks_knowledge_is_never_ranked(desk: Desk) -> None:
    from apps.helpdesk.models import HelpDesk

    other = HelpDesk.objects.create(name="HR")

    assert kb_rank(helpdesk_id=other.pk, question="reset my password") == []


def test_editing_an_faq_entry_reindexes_it(desk: Desk) -> None:
    entry = KnowledgeDocument.objects.get(title="How do I reset my password?")
    services.faq_save(
        helpdesk=desk.desk,
        question="How do I unlock my account?",
        answer="Ask IT to unlock it.",
        actor=None,
        document=entry,
    )

    assert kb_rank(helpdesk_id=desk.desk.pk, question="reset password") == []
    assert kb_rank(helpdesk_id=desk.desk.pk, question="unlock account")[0].document_id == entry.pk


# --- uploaded documents ---------------------------------------------------------------------------


def test_pdf_text_is_extracted() -> None:
    text = document_text(kind="pdf", data=pdf_with_text(["VPN access needs a token.", "Call 42."]))

    assert "VPN access needs a token." in text
    assert "Call 42." in text


def test_docx_text_is_extracted_with_chinese() -> None:
    text = document_text(
        kind="docx", data=docx_with_paragraphs(["报销流程", "发票需在月底前提交。"])
    )

    assert text == "报销流程\n\n发票需在月底前提交。"


def test_a_broken_file_is_unreadable() -> None:
    with pytest.raises(UnreadableDocument):
        document_text(kind="pdf", data=b"%PDF-1.4 nonsense")
    with pytest.raises(UnreadableDocument):
        document_text(kind="docx", data=b"PK not a zip")


@pytest.mark.parametrize(
    ("name", "data", "question", "quoted"),
    [
        (
            "vpn.pdf",
            pdf_with_text(["VPN access needs a hardware token from the IT office."]),
            "how do I get VPN access",
            "hardware token",
        ),
        (
            "报销.docx",
            docx_with_paragraphs(["报销流程", "发票需在月底前提交给财务部。"]),
            "发票什么时候提交",
            "月底前提交",
        ),
        (
            "printers.md",
            b"# Printers\n\nThe printer on floor 3 is named PRN-3; add it in Settings.\n",
            "which printer is on floor 3",
            "PRN-3",
        ),
    ],
)
def test_an_uploaded_document_is_indexed_and_quoted(
    desk: Desk, name: str, data: bytes, question: str, quoted: str
) -> None:
    document = services.document_upload(helpdesk=desk.desk, name=name, data=data, actor=None)
    # Tasks run eagerly here but only after commit, which a plain django_db test never does.
    services.document_index(document_id=document.pk)
    document.refresh_from_db()

    assert document.state == IndexState.READY
    answer = compose_answer(question, kb_rank(helpdesk_id=desk.desk.pk, question=question))
    assert answer is not None
    assert answer.citations[0]["document_id"] == document.pk
    assert quoted in answer.text


def test_an_unreadable_upload_is_marked_failed_and_indexes_nothing(desk: Desk) -> None:
    document = services.document_upload(
        helpdesk=desk.desk, name="broken.pdf", data=b"%PDF-1.4 broken", actor=None
    )
    services.document_index(document_id=document.pk)
    document.refresh_from_db()

    assert document.state == IndexState.FAILED
    assert document.error
    assert not Passage.objects.filter(document=document).exists()


def test_an_unsupported_upload_is_refused(desk: Desk) -> None:
    from apps.core.errors import InvalidInput

    with pytest.raises(InvalidInput) as raised:
        services.document_upload(helpdesk=desk.desk, name="x.exe", data=b"MZ", actor=None)
    assert raised.value.code == "unsupported_document_type"
