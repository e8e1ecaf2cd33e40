"""Real documents built by the tests (the assistant's files, the help desk's knowledge base):
PDFs written by hand, one of them with Chinese text, and DOCX files."""

from __future__ import annotations

import io

import docx

# A ToUnicode map that reads every two-byte code as the UTF-16 unit it is: the PDF's text is
# then what a reader extracts, Chinese included, without embedding a font.
_IDENTITY_TO_UNICODE = (
    "/CIDInit /ProcSet findresource begin 12 dict begin begincmap "
    "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def "
    "/CMapName /Adobe-Identity-UCS def /CMapType 2 def "
    "1 begincodespacerange <0000> <FFFF> endcodespacerange "
    "1 beginbfrange <0000> <FFFF> <0000> endbfrange "
    "endcmap CMapName currentdict /CMap defineresource pop end end"
)


def pdf_with_lines(lines: list[str]) -> bytes:
    """A one-page PDF showing `lines` (any BMP text) in a Type0 font whose codes are the
    characters' UTF-16 units, written by hand with a correct cross-reference table."""
    shown = " ".join(f"<{line.encode('utf-16-be').hex().upper()}> Tj T*" for line in lines)
    content = f"BT /F1 12 Tf 72 720 Td 14 TL {shown} ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type0 /BaseFont /EnclaveTest /Encoding /Identity-H "
        "/DescendantFonts [6 0 R] /ToUnicode 7 0 R >>",
        "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /EnclaveTest "
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
        "/FontDescriptor 8 0 R >>",
        f"<< /Length {len(_IDENTITY_TO_UNICODE)} >>\nstream\n{_IDENTITY_TO_UNICODE}\nendstream",
        "<< /Type /FontDescriptor /FontName /EnclaveTest /Flags 6 "
        "/FontBBox [0 -200 1000 900] /ItalicAngle 0 /Ascent 880 /Descent -120 "
        "/CapHeight 880 /StemV 93 >>",
    ]
    return pdf_from_objects(objects)


def pdf_with_text(lines: list[str]) -> bytes:
    """A one-page PDF (Helvetica, Latin text) showing `lines`."""
    content = "BT /F1 12 Tf 72 720 Td 14 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    return pdf_from_objects(
        [
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            "/Resources << /Font << /F1 5 0 R >> >> >>",
            f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        ]
    )


def pdf_from_objects(objects: list[str]) -> bytes:
    """A PDF of these objects (numbered from 1, the first the catalog) with a correct
    cross-reference table."""
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n".encode())
    out.write(f"startxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def docx_with_paragraphs(paragraphs: list[str]) -> bytes:
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
