"""Builds the PDF and DOCX documents of the unseen set from sources/*.txt (lines starting with '# ' are headings,
'TABLE a | b' a table row in a .docx).

Run once by hand (`python eval/unseen/make_files.py`, needs `fpdf2`); the built files are committed, so the
evaluation itself needs neither this script nor fpdf2.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
FORMATS = {"u02": "pdf", "u04": "pdf", "u12": "pdf", "u15": "pdf", "u17": "pdf", "u03": "docx", "u07": "docx",
           "u09": "docx", "u13": "docx"}


def _lines(path: Path) -> list[tuple[bool, str]]:
    out = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.strip():
            out.append((raw.startswith("# "), raw[2:].strip() if raw.startswith("# ") else raw.strip()))
    return out


def make_pdf(lines: list[tuple[bool, str]], out: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_margins(22, 20, 22)
    pdf.add_page()
    for heading, text in lines:
        text = text.replace("–", "-").replace("’", "'")  # Helvetica (core font) is Latin-1 only
        pdf.set_font("Helvetica", "B" if heading else "", 13 if heading else 10.5)
        pdf.multi_cell(0, 6 if heading else 5.2, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
    pdf.set_title(lines[0][1])
    pdf.output(str(out))


def make_docx(lines: list[tuple[bool, str]], out: Path) -> None:
    import docx

    d = docx.Document()
    rows: list[list[str]] = []
    for heading, text in lines + [(False, "")]:
        if text.startswith("TABLE "):  # "TABLE a | b | c": a row of a table, the first row its headers
            rows.append([c.strip() for c in text[6:].split("|")])
            continue
        if rows:
            table = d.add_table(rows=len(rows), cols=len(rows[0]))
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    table.cell(r, c).text = value
            rows = []
        if not text:
            continue
        if heading:
            d.add_heading(text, level=1)
        else:
            d.add_paragraph(text)
    d.save(str(out))


def main() -> None:
    for src in sorted((HERE / "sources").glob("*.txt")):
        kind = FORMATS[src.stem[:3]]
        out = HERE / "docs" / f"{src.stem}.{kind}"
        (make_pdf if kind == "pdf" else make_docx)(_lines(src), out)
        print(out.name)


if __name__ == "__main__":
    main()
