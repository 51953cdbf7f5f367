"""The bundled pdf and ocr plugins, end to end, on documents the tests make."""
import json
import subprocess

import pytest

from conftest import BATCHHOST, compile_plugin, read_jsonl, run
from documents import encrypted_pdf, save_jpeg, save_png, scanned_pdf, text_image, text_pdf

PAGES = [
    ["Invoice number 4711", "Customer Ada Lovelace"],
    ["Second page talks about engines"],
    ["Third page closes the file"],
]
SCAN = [["PATIENT MARGARET HAMILTON", "DOSE 20 MG DAILY"], ["REFILL TWICE"]]
NO_TEXT = "no text layer: scanned? use ocr=auto or the ocr processor"


@pytest.fixture
def folder(tmp_path):
    """invoice.pdf (3 text pages), scan.pdf (2 image pages), broken.pdf,
    locked.pdf (AES-256), words.png and words.jpg."""
    d = tmp_path / "in"
    d.mkdir()
    (d / "invoice.pdf").write_bytes(text_pdf(PAGES, title="Invoice 4711", author="Ada Lovelace"))
    scanned_pdf(d / "scan.pdf", SCAN)
    whole = text_pdf(PAGES)
    (d / "broken.pdf").write_bytes(whole[:9] + b"\x00garbage" * 40)
    plain = tmp_path / "plain.pdf"
    plain.write_bytes(whole)
    encrypted_pdf(d / "locked.pdf", plain)
    save_png(d / "words.png", ["QUICK BROWN FOX", "JUMPS OVER 42 DOGS"])
    save_jpeg(d / "words.jpg", ["LAZY YELLOW CAT"])
    return d


def by_name(records):
    return {rec["path"].rsplit("/", 1)[-1]: rec for rec in records}


def run_pdf(folder, out, *options, glob="*.pdf"):
    sets = [a for o in options for a in ("--set", f"pdf.{o}")]
    r = run("run", folder, "--glob", glob, "-p", "pdf", *sets, "-o", out)
    return r, by_name(read_jsonl(out))


def test_text_per_page_metadata_and_failures(folder, tmp_path):
    r, recs = run_pdf(folder, tmp_path / "out.jsonl", "format=json")
    assert r.code != 0 or recs, r  # failures make a non-zero exit, every document is recorded
    assert set(recs) == {"invoice.pdf", "scan.pdf", "broken.pdf", "locked.pdf"}

    invoice = recs["invoice.pdf"]
    assert invoice["status"] == "ok", invoice
    out = invoice["output"]
    assert out["metadata"] == {"title": "Invoice 4711", "author": "Ada Lovelace",
                               "creation_date": "2024-01-02T03:04:05Z", "producer": "batchcore tests",
                               "pages": 3}
    assert [p["page"] for p in out["pages"]] == [1, 2, 3]
    for page, lines in zip(out["pages"], PAGES):
        assert page["text"].split("\n")[:len(lines)] == lines
        assert page["text_layer"] is True
    assert out["no_text_layer"] == []

    scan = recs["scan.pdf"]
    assert scan["status"] == "partial" and scan["error"] == NO_TEXT
    assert scan["output"]["no_text_layer"] == [1, 2]
    assert all(p["text"].strip() == "" for p in scan["output"]["pages"])

    assert recs["locked.pdf"]["status"] == "failed"
    assert "locked.pdf' is encrypted" in recs["locked.pdf"]["error"]
    assert recs["broken.pdf"]["status"] == "failed"
    assert "broken.pdf' is not a readable PDF" in recs["broken.pdf"]["error"]


def test_text_format_pages_and_layout(folder, tmp_path):
    r, recs = run_pdf(folder, tmp_path / "out.jsonl", "pages=2-3", glob="invoice.pdf")
    assert r.code == 0, r
    text = recs["invoice.pdf"]["output"]
    assert text.split("\f") == [PAGES[1][0], PAGES[2][0], ""]
    assert recs["invoice.pdf"]["units"] == 2

    (folder / "table.pdf").write_bytes(text_pdf([[(72, 0, "Name"), (400, 0, "Value"), (72, 1, "x")]]))
    plain = run_pdf(folder, tmp_path / "plain.jsonl", glob="table.pdf")[1]["table.pdf"]["output"]
    laid = run_pdf(folder, tmp_path / "laid.jsonl", "layout=true", glob="table.pdf")[1]["table.pdf"]["output"]
    first = laid.split("\n")[0]
    assert first.split() == ["Name", "Value"] and first.startswith(" " * 5), repr(laid)
    assert first.index("Value") - first.index("Name") > 30  # 328 points apart
    assert "Name" in plain and len(laid) > len(plain)

    r, recs = run_pdf(folder, tmp_path / "none.jsonl", "pages=7-9", glob="invoice.pdf")
    assert recs["invoice.pdf"]["status"] == "failed"
    assert "option 'pages' selects no page" in recs["invoice.pdf"]["error"]


def test_bad_options_stop_the_batch(folder):
    for option, expected in [("pages=3-1", "option 'pages'"), ("format=xml", "option 'format'"),
                             ("ocr=maybe", "option 'ocr'"), ("layout=sideways", "option 'layout'")]:
        r = run("run", folder, "-p", "pdf", "--set", f"pdf.{option}")
        assert r.code != 0 and expected in r.err and "batchhost:" in r.err, r


def test_ocr_auto_reads_the_scan(folder, tmp_path):
    r, recs = run_pdf(folder, tmp_path / "out.jsonl", "format=json", "ocr=auto", glob="scan.pdf")
    assert r.code == 0, r
    scan = recs["scan.pdf"]
    assert scan["status"] == "ok", scan
    pages = scan["output"]["pages"]
    assert scan["output"]["no_text_layer"] == [1, 2]
    assert all(p["ocr"] is True and p["text_layer"] is False and p["confidence"] > 50 for p in pages)
    assert "MARGARET HAMILTON" in pages[0]["text"] and "20 MG" in pages[0]["text"]
    assert "REFILL" in pages[1]["text"]

    scanned_pdf(folder / "blank.pdf", [[""]])
    r, recs = run_pdf(folder, tmp_path / "blank.jsonl", "ocr=auto", glob="blank.pdf")
    assert recs["blank.pdf"]["status"] == "partial"
    assert recs["blank.pdf"]["error"] == "no text layer, and OCR found no text either"


def test_ocr_reads_images_and_scans(folder, tmp_path):
    first, second = text_image(["FIRST TIFF PAGE"]), text_image(["SECOND TIFF PAGE"])
    first.save(folder / "wide.tif", "TIFF", save_all=True, append_images=[second], dpi=(300, 300))
    out = tmp_path / "out.jsonl"
    r = run("run", folder, "--glob", "[sw]*.*", "-p", "ocr", "--set", "ocr.format=json", "-o", out)
    assert r.code == 0, r
    recs = by_name(read_jsonl(out))
    assert set(recs) == {"scan.pdf", "words.png", "words.jpg", "wide.tif"}
    tiff = [p["text"] for p in recs["wide.tif"]["output"]["pages"]]
    assert len(tiff) == 2 and "FIRST TIFF PAGE" in tiff[0] and "SECOND TIFF PAGE" in tiff[1]
    assert all(rec["status"] == "ok" for rec in recs.values()), recs
    png = recs["words.png"]["output"]
    assert "QUICK BROWN FOX" in png["pages"][0]["text"] and "42 DOGS" in png["pages"][0]["text"]
    assert "LAZY YELLOW CAT" in recs["words.jpg"]["output"]["pages"][0]["text"]
    scan = recs["scan.pdf"]["output"]
    assert len(scan["pages"]) == 2 and "REFILL" in scan["pages"][1]["text"]
    for rec in recs.values():
        confidences = [p["confidence"] for p in rec["output"]["pages"]]
        assert all(50 < c <= 100 for c in confidences)
        assert rec["output"]["confidence"] == pytest.approx(sum(confidences) / len(confidences), abs=0.1)
    assert recs["scan.pdf"]["units"] == 2

    r = run("run", folder, "--glob", "words.png", "-p", "ocr", "-o", tmp_path / "text.jsonl")
    text = read_jsonl(tmp_path / "text.jsonl")[0]["output"]
    assert text.endswith("\f") and "QUICK BROWN FOX" in text


def test_ocr_refuses_what_it_cannot_read(folder, tmp_path):
    (folder / "notes.txt").write_text("plain text")
    (folder / "cut.png").write_bytes((folder / "words.png").read_bytes()[:200])
    out = tmp_path / "out.jsonl"
    run("run", folder, "--glob", "[nbcl]*.*", "-p", "ocr", "-o", out)
    recs = by_name(read_jsonl(out))
    assert "is not a PDF, PNG, JPEG or TIFF" in recs["notes.txt"]["error"]
    assert "cannot decode the PNG image" in recs["cut.png"]["error"]
    assert "is encrypted" in recs["locked.pdf"]["error"]
    assert "not a readable PDF" in recs["broken.pdf"]["error"]
    assert all(rec["status"] == "failed" for rec in recs.values())

    r = run("run", folder, "-p", "ocr", "--set", "ocr.lang=xx_missing")
    assert r.code != 0 and "tesseract cannot load language 'xx_missing'" in r.err, r


PID_PLUGIN = r"""
#include "batchcore_plugin.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static const bc_host_api *host;
static int create(const bc_host_api *h, const bc_config *c, void **s, char *e, size_t n) {
    (void)c; (void)e; (void)n; host = h; *s = NULL; return 0;
}
static int process(void *s, bc_call *call, const bc_doc *d) {
    (void)s; (void)d;
    void *big = malloc((size_t)3 << 30); /* over the 2 GiB default for hostile documents */
    char out[64];
    int len = snprintf(out, sizeof out, "{\"pid\":%d,\"got_3gib\":%s}", (int)getpid(),
                       big ? "true" : "false");
    free(big);
    host->set_output_json(call, out, (size_t)len);
    return BC_OUTCOME_DONE;
}
static const bc_plugin plugin = {
    BC_PLUGIN_ABI_FIELDS, .name = "pid",
    .flags = FLAGS, .create = create, .process = process,
};
BC_PLUGIN_EXPORT const bc_plugin *batchcore_plugin_entry(void) { return &plugin; }
"""


@pytest.mark.parametrize("flags, isolation, isolated", [
    ("BC_PLUGIN_FLAG_PREFERS_PROCESS", None, True),
    ("BC_PLUGIN_FLAG_PREFERS_PROCESS", "thread", False),
    ("BC_PLUGIN_FLAG_NONE", None, False),
    ("BC_PLUGIN_FLAG_NONE", "process", True),
])
def test_a_plugin_that_prefers_processes_gets_them(tmp_path, docs, flags, isolation, isolated):
    """The descriptor flag puts the plugin in worker processes unless the
    user says thread, and gives them the default memory limit."""
    source = tmp_path / "pid.c"
    source.write_text(PID_PLUGIN)
    plugin = compile_plugin(source, tmp_path / "plugins" / "pid.so", f"-DFLAGS={flags}")
    out = tmp_path / "out.jsonl"
    args = ["run", docs, "-p", plugin, "-o", out]
    if isolation:
        args += ["--isolation", isolation]
    proc = subprocess.Popen([str(BATCHHOST), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    outputs = [rec["output"] for rec in read_jsonl(out)]
    pids = {o["pid"] for o in outputs}
    assert (proc.pid not in pids) == isolated, (proc.pid, pids)
    # Worker processes of a plugin that prefers them get a 2 GiB address space.
    limited = isolated and flags == "BC_PLUGIN_FLAG_PREFERS_PROCESS"
    assert all(o["got_3gib"] is not limited for o in outputs), outputs
