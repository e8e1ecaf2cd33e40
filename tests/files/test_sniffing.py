"""The type sniffer: real types from magic bytes, and names that lie about them refused."""

from __future__ import annotations

import pytest

from apps.files.sniffing import sniff, sniff_content
from tests.api_matrix import png_bytes

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
ZIP = b"PK\x03\x04" + b"\x14\x00" * 20
EXE = b"MZ\x90\x00" + b"\x00" * 60


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (png_bytes(), "image/png"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"GIF89a\x01\x00", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (PDF, "application/pdf"),
        (ZIP, "application/zip"),
        (EXE, "application/x-msdownload"),
        ("会议纪要：明天十点".encode(), "text/plain"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "text/html"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', "image/svg+xml"),
        (b"\x00\x01\x02binary", "application/octet-stream"),
    ],
)
def test_content_type_comes_from_the_bytes(head: bytes, expected: str) -> None:
    assert sniff_content(head) == expected


def test_multibyte_character_cut_at_the_end_of_the_sample_is_still_text() -> None:
    assert sniff_content("中文".encode()[:-1]) == "text/plain"


@pytest.mark.parametrize(
    ("name", "head", "content_type"),
    [
        ("photo.PNG", png_bytes(), "image/png"),
        ("report.pdf", PDF, "application/pdf"),
        (
            "budget.xlsx",
            ZIP,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        ("notes.md", b"# Title\n", "text/markdown"),
        ("data.csv", b"a,b\n1,2\n", "text/csv"),
        ("page.html", b"<html><script>x()</script></html>", "text/html"),
        ("logo.svg", b"<svg onload=alert(1)></svg>", "image/svg+xml"),
        ("README", b"plain words", "text/plain"),
        ("blob.dat", b"\x00\x01", "application/octet-stream"),
    ],
)
def test_name_and_content_that_agree_are_accepted(
    name: str, head: bytes, content_type: str
) -> None:
    sniffed = sniff(name=name, head=head)

    assert (sniffed.content_type, sniffed.mismatch) == (content_type, None)


@pytest.mark.parametrize(
    ("name", "head"),
    [
        ("invoice.pdf", EXE),  # an executable dressed as a PDF
        ("photo.jpg", png_bytes()),  # wrong image family is still a lie
        ("notes.txt", b"<html><script>steal()</script></html>"),  # HTML posing as text
        ("cat.png", b"<svg onload=alert(1)></svg>"),  # SVG posing as a bitmap
        ("report.docx", PDF),
        ("archive.zip", b"just text"),
        ("page", b"<!doctype html><script>x()</script>"),  # active content without its name
    ],
)
def test_name_that_lies_about_the_content_is_refused(name: str, head: bytes) -> None:
    assert sniff(name=name, head=head).mismatch is not None
