"""The text of an uploaded knowledge-base document: PDF (PDFium), DOCX (python-docx), Markdown.

Each reader is given bytes and returns plain text with paragraphs separated by blank lines, or
raises `UnreadableDocument`.
"""

from __future__ import annotations

import io

import docx
import pypdfium2

from apps.helpdesk.models import DocumentKind

MAX_PDF_PAGES = 500


class UnreadableDocument(Exception):
    pass


def kind_for_name(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith(".pdf"):
        return DocumentKind.PDF
    if lower.endswith(".docx"):
        return DocumentKind.DOCX
    if lower.endswith((".md", ".markdown", ".txt")):
        return DocumentKind.MARKDOWN
    return None


def _pdf_text(data: bytes) -> str:
    try:
        pdf = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as error:
        raise UnreadableDocument(str(error)) from error
    try:
        pages = []
        for index in range(min(len(pdf), MAX_PDF_PAGES)):
            page = pdf[index]
            textpage = page.get_textpage()
            pages.append(textpage.get_text_range().replace("\r\n", "\n"))
            textpage.close()
            page.close()
        return "\n\n".join(pages)
    finally:
        pdf.close()


def _docx_text(data: bytes) -> str:
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as error:  # python-docx raises zipfile, KeyError and lxml errors alike
        raise UnreadableDocument(str(error)) from error
    blocks = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            blocks.append(" | ".join(cell.text for cell in row.cells))
    return "\n\n".join(block for block in blocks if block.strip())


def _markdown_text(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableDocument("not UTF-8 text") from error


def document_text(*, kind: str, data: bytes) -> str:
    readers = {
        DocumentKind.PDF: _pdf_text,
        DocumentKind.DOCX: _docx_text,
        DocumentKind.MARKDOWN: _markdown_text,
    }
    text = readers[DocumentKind(kind)](data).strip()
    if not text:
        raise UnreadableDocument("no text")
    return text
