"""Small real files of each format, built by the tests themselves."""

from __future__ import annotations

from pathlib import Path


def make_pdf(path: Path, lines: list[str], pages: int = 1) -> Path:
    """A minimal PDF with a text layer (Helvetica, WinAnsi), written by hand; with `pages` > 1 every page draws
    the same content stream (a shape seen in generated PDFs, and a worst case for text extraction)."""
    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 11 Tf", "14 TL", "50 780 Td"]
    for line in lines:
        ops.append(f"({esc(line)}) Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("cp1252")
    stream_ref, font_ref = pages + 3, pages + 4
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        *(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {stream_ref} 0 R "
          f"/Resources << /Font << /F1 {font_ref} 0 R >> >> >>".encode() for _ in range(pages)),
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    return _write_pdf(path, objects)


def make_docx(path: Path, heading: str, paragraphs: list[str]) -> Path:
    import docx

    d = docx.Document()
    d.add_heading(heading, level=1)
    for p in paragraphs:
        d.add_paragraph(p)
    d.save(str(path))
    return path


def make_html(path: Path, title: str, paragraphs: list[str]) -> Path:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
        f"<nav><a href='/'>Home</a> | <a href='/chi-siamo'>Chi siamo</a></nav>"
        f"<article><h1>{title}</h1>{body}</article><footer>Cookie policy</footer></body></html>",
        encoding="utf-8",
    )
    return path


def make_docx_bomb(path: Path, paragraphs: int, text: str = "a") -> Path:
    """A real .docx whose document.xml repeats one paragraph `paragraphs` times: tiny on disk (deflate),
    huge once expanded. Written in a stream, so building it costs the test no memory."""
    import zipfile

    base = make_docx(path.with_suffix(".base.docx"), "Bomba", ["x"])
    para = f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>".encode()
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            if info.filename != "word/document.xml":
                out.writestr(info, src.read(info))
                continue
            xml = src.read(info)
            head, tail = xml.split(b"<w:body>", 1)
            with out.open("word/document.xml", "w", force_zip64=True) as w:
                w.write(head + b"<w:body>")
                block = para * 10_000
                for _ in range(paragraphs // 10_000):
                    w.write(block)
                w.write(tail)
    return path


def make_scanned_pdf(path: Path, lines: list[str], dpi: int = 200) -> Path:
    """A PDF whose only page is a picture of typed text (a scanned act): no text layer at all."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = int(8.27 * dpi), int(11.69 * dpi)  # A4
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=int(dpi * 0.16))  # Pillow's own scalable font: no system font needed
    y = int(dpi * 0.8)
    for line in lines:
        draw.text((int(dpi * 0.8), y), line, fill=0, font=font)
        y += int(dpi * 0.28)
    image.save(path, "PDF", resolution=dpi)
    return path


def make_paged_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A PDF with a text layer and different lines on each page (Helvetica, WinAnsi), written by hand."""
    def esc(s: str) -> str:
        return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    n = len(pages)
    font_ref = 3 + 2 * n
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               f"<< /Type /Pages /Kids [{' '.join(f'{3 + i} 0 R' for i in range(n))}] /Count {n} >>".encode()]
    objects += [f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {3 + n + i} 0 R "
                f"/Resources << /Font << /F1 {font_ref} 0 R >> >> >>".encode() for i in range(n)]
    for lines in pages:
        ops = ["BT", "/F1 11 Tf", "14 TL", "50 780 Td", *(f"({esc(line)}) Tj T*" for line in lines), "ET"]
        stream = "\n".join(ops).encode("cp1252")
        objects.append(b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    return _write_pdf(path, objects)


def _write_pdf(path: Path, objects: list[bytes]) -> Path:
    """Numbered objects, the cross-reference table and the trailer (object 1 is the catalog)."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))
    return path
