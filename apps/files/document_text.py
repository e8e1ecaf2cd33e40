"""The text of a document: PDF (PDFium), DOCX (python-docx), Markdown and plain text.

Each reader is given bytes and returns plain text with paragraphs separated by blank lines, or
raises `UnreadableDocument`; `split_passages` cuts the text into passages short enough to quote.
The help desk's knowledge base (apps.helpdesk) and the assistant's index of files
(apps.assistant.file_index) both read documents through here: it sits in the files app, below
both, and imports nothing of either.
"""

from __future__ import annotations

import io
import re

import docx
import pypdfium2

MAX_PDF_PAGES = 500
PASSAGE_TARGET_CHARS = 600
_SENTENCE_END = re.compile(r"(?<=[。！？!?.；;])\s*")

# The kinds of document read here (the help desk's `DocumentKind` values are the same strings).
PDF = "pdf"
DOCX = "docx"
MARKDOWN = "markdown"  # Markdown and plain text: UTF-8 read as it is
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_KIND_FOR_TYPE = {
    "application/pdf": PDF,
    DOCX_TYPE: DOCX,
    "text/markdown": MARKDOWN,
    "text/plain": MARKDOWN,
}


class UnreadableDocument(Exception):
    pass


def kind_for_name(name: str) -> str | None:
    """The kind of a document by its name's extension, or None when none is read here."""
    lower = name.lower()
    if lower.endswith(".pdf"):
        return PDF
    if lower.endswith(".docx"):
        return DOCX
    if lower.endswith((".md", ".markdown", ".txt")):
        return MARKDOWN
    return None


def kind_for_type(content_type: str) -> str | None:
    """The kind of a file by its sniffed content type (apps.files.sniffing), or None."""
    return _KIND_FOR_TYPE.get(content_type)


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
    """The text of `data`, a document of `kind` (`PDF`, `DOCX`, `MARKDOWN`)."""
    readers = {PDF: _pdf_text, DOCX: _docx_text, MARKDOWN: _markdown_text}
    text = readers[str(kind)](data).strip()
    if not text:
        raise UnreadableDocument("no text")
    return text


def split_passages(text: str, *, target: int = PASSAGE_TARGET_CHARS) -> list[str]:
    """`text` cut into passages of about `target` characters: paragraphs (blank-line separated)
    together while they fit; a longer paragraph by sentences. A Markdown heading starts a new
    passage and stays with what follows it."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= target:
            pieces.append(paragraph)
            continue
        sentence_run = ""
        for sentence in _SENTENCE_END.split(paragraph):
            if sentence_run and len(sentence_run) + len(sentence) > target:
                pieces.append(sentence_run.strip())
                sentence_run = ""
            sentence_run += sentence + " "
            while len(sentence_run) > 2 * target:  # no sentence ends: cut it hard
                pieces.append(sentence_run[:target].strip())
                sentence_run = sentence_run[target:]
        if sentence_run.strip():
            pieces.append(sentence_run.strip())
    passages: list[str] = []
    current = ""
    for piece in pieces:
        heading = piece.startswith("#")
        if current and (heading or len(current) + len(piece) > target):
            passages.append(current)
            current = ""
        current = f"{current}\n\n{piece}" if current else piece
    if current:
        passages.append(current)
    return passages
