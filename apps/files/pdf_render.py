"""Render the first page of a PDF as a PNG, in a child process of its own.

PDFs are complex input parsed by native code (PDFium, through pypdfium2): a malformed or hostile
file may loop, eat memory or crash the parser. So the task never parses one in its own process:
`render_pdf_preview` runs this module as a script with the PDF on stdin, under a wall-clock
time-out, and the child caps its own address space and CPU time before it loads PDFium. Whatever
goes wrong, the caller gets `PdfPreviewRefused` and the file stays as it is (downloadable if clean).

The child imports nothing from Django, so it starts in a fraction of a second.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

# The child's exit code when it refuses a PDF for a reason it can name (on stderr).
EXIT_REFUSED = 3
MAX_REASON_CHARS = 200


class PdfPreviewRefused(Exception):
    """No preview for this PDF: unreadable, over a limit, too slow, or the renderer crashed."""


@dataclass(frozen=True, slots=True)
class PdfLimits:
    box: int  # the PNG fits in box x box pixels
    max_pages: int  # documents with more pages get no preview
    max_pixels: int  # of the rendered bitmap (the box already bounds it; this is a second fence)
    timeout_seconds: float
    memory_bytes: int  # address space of the child


def render_pdf_preview(data: bytes, *, limits: PdfLimits) -> bytes:
    """The first page of `data` as a PNG of at most box x box pixels; raises PdfPreviewRefused."""
    command = [
        sys.executable,
        "-I",  # isolated: no user site, no PYTHON* variables, no current directory on the path
        str(Path(__file__).resolve()),
        str(limits.box),
        str(limits.max_pages),
        str(limits.max_pixels),
        str(limits.memory_bytes),
        str(max(1, int(limits.timeout_seconds) + 1)),
    ]
    try:
        done = subprocess.run(  # noqa: S603 - our own script, fixed arguments
            command,
            input=data,
            capture_output=True,
            timeout=limits.timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PdfPreviewRefused("timed out") from None
    except OSError as error:
        raise PdfPreviewRefused(f"renderer did not start: {error}") from error
    if done.returncode != 0 or not done.stdout.startswith(b"\x89PNG"):
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        last = reason[-1] if reason else f"exit status {done.returncode}"
        raise PdfPreviewRefused(last[:MAX_REASON_CHARS])
    return done.stdout


# --- the child -----------------------------------------------------------------------------------


def _refuse(reason: str) -> None:
    sys.stderr.write(reason + "\n")
    sys.exit(EXIT_REFUSED)


def _child(argv: list[str]) -> None:
    import io
    import resource

    box, max_pages, max_pixels, memory_bytes, cpu_seconds = (int(value) for value in argv)
    # Before PDFium is loaded: no allocation or loop in it can outgrow these.
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds))
    data = sys.stdin.buffer.read()

    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        _refuse(f"unreadable PDF: {error}")
    pages = len(document)
    if pages < 1:
        _refuse("the PDF has no pages")
    if pages > max_pages:
        _refuse(f"the PDF has {pages} pages (at most {max_pages})")
    page = document[0]
    width, height = page.get_size()
    if not (width > 0 and height > 0):
        _refuse("the first page has no size")
    scale = min(box / width, box / height)
    out_width, out_height = round(width * scale), round(height * scale)
    if out_width * out_height > max_pixels:
        _refuse("the preview would have too many pixels")
    try:
        bitmap = page.render(scale=scale, may_draw_forms=False)
        image = bitmap.to_pil()
    except pdfium.PdfiumError as error:
        _refuse(f"the first page cannot be rendered: {error}")
    out = io.BytesIO()
    image.convert("RGB").save(out, format="PNG", optimize=True)
    sys.stdout.buffer.write(out.getvalue())


if __name__ == "__main__":
    try:
        _child(sys.argv[1:])
    except MemoryError:
        _refuse("the PDF needs too much memory")
