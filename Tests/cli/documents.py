"""Test documents made on the spot: text PDFs, scans, images with known words.

Text PDFs come from a small PDF writer (standard Helvetica, one content
stream a page) so nothing binary is committed; scans and images are drawn
with pillow and Debian's DejaVu font; encrypted PDFs come from qpdf.
text_pdf needs only the standard library (bench/run uses it too).
"""
import subprocess
from pathlib import Path

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _pdf_string(text):
    return "(" + text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"


def text_pdf(pages, title=None, author=None, producer="batchcore tests",
             created="D:20240102030405Z"):
    """A PDF whose page i shows the lines in pages[i]: strings, one a row, or
    (x, row, text) to place a string x points from the left on a row."""
    objects = []  # object bodies, numbered from 1

    def add(body):
        objects.append(body)
        return len(objects)

    catalog = add(None)
    tree = add(None)
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for lines in pages:
        ops = []
        for i, line in enumerate(lines):
            # A line is its text, or (x, row, text): x points from the left, on that row.
            x, row, text = line if isinstance(line, tuple) else (72, i, line)
            ops += ["BT", "/F1 14 Tf", f"{x} {720 - 16 * row} Td", f"{_pdf_string(text)} Tj", "ET"]
        stream = "\n".join(ops).encode("latin-1")
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        kids.append(add(f"<< /Type /Page /Parent {tree} 0 R /MediaBox [0 0 612 792] "
                        f"/Resources << /Font << /F1 {font} 0 R >> >> /Contents {content} 0 R >>".encode()))
    objects[catalog - 1] = f"<< /Type /Catalog /Pages {tree} 0 R >>".encode()
    objects[tree - 1] = (f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] "
                         f"/Count {len(kids)} >>").encode()
    info_fields = {"Title": title, "Author": author, "Producer": producer, "CreationDate": created}
    info = add(("<< " + " ".join(f"/{k} {_pdf_string(v)}" for k, v in info_fields.items() if v)
                + " >>").encode())

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root {catalog} 0 R /Info {info} 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


def text_image(lines, width=1200, size=48):
    """A white image with black lines of text in DejaVu Sans."""
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.truetype(FONT, size)
    height = 80 + len(lines) * int(size * 1.6)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((60, 40 + i * int(size * 1.6)), line, font=font, fill=0)
    return image


def save_png(path, lines):
    text_image(lines).save(path, "PNG", dpi=(300, 300))
    return Path(path)


def save_jpeg(path, lines):
    text_image(lines).save(path, "JPEG", quality=90, dpi=(300, 300))
    return Path(path)


def scanned_pdf(path, pages):
    """An image-only PDF (no text layer): each page a picture of its lines."""
    images = [text_image(lines).convert("RGB") for lines in pages]
    images[0].save(path, "PDF", resolution=150, save_all=True, append_images=images[1:])
    return Path(path)


def encrypted_pdf(path, plain, password="secret"):
    """`plain` (a PDF file) encrypted with AES-256 by qpdf."""
    subprocess.run(["qpdf", "--encrypt", password, password, "256", "--", str(plain), str(path)],
                   check=True)
    return Path(path)
