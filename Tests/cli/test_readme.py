"""The examples of README.md and docs/*.md work as written.

- Every ```c block is a complete file that compiles with clang and with gcc
  (-std=c99 -Wall -Wextra -Werror). A block with main() is linked against the
  built library and run; a block exporting batchcore_plugin_entry is built as
  a plugin; any other is compiled alone.
- Every ```sh block that calls batchhost is run, command by command, with
  bash in a fresh folder per section of the document (the blocks of one
  section run in order, in the same folder). The folder holds sample inputs
  under the names the examples use (samples/, scans/, notes/, ...), a copy of
  the bundled declarations in plugins/ and the headers in include/. Each
  command must exit 0. `batchhost` is the built one; a run with an llm stage
  gets the base_url of a local mock API added (the only change to a command).
- A marker in an HTML comment on the line just before a block:
    <!-- readme-test: skip: REASON -->  the block is not run; the reason is required
    <!-- readme-test: file NAME -->     the block is also saved as NAME for later blocks of its section
"""
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import BATCHHOST, BUILD, ROOT
from mock_llm import ANY_KEY, MockLLM

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
MARKER = re.compile(r"^<!--\s*readme-test:\s*(.*?)\s*-->$")


@dataclass
class Block:
    path: Path
    line: int        # of the opening fence, 1-based
    lang: str
    text: str
    section: str
    marker: str = ""

    @property
    def where(self):
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def skip_reason(self):
        return self.marker[len("skip:"):].strip() if self.marker.startswith("skip:") else None

    @property
    def file_name(self):
        return self.marker[len("file "):].strip() if self.marker.startswith("file ") else None

    def show(self):
        numbered = "\n".join(f"{self.line + 1 + i:5}  {text}" for i, text in enumerate(self.text.splitlines()))
        return f"{self.where} ({self.section}):\n{numbered}"


def read_blocks(path):
    blocks, section, marker = [], "", ""
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = re.match(r"^```(\w*)\s*$", line)
        if fence:
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), len(lines))
            blocks.append(Block(path, i + 1, fence.group(1), "\n".join(lines[i + 1:end]) + "\n", section, marker))
            i, marker = end + 1, ""
            continue
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        if line.strip():
            found = MARKER.match(line.strip())
            marker = found.group(1) if found else ""
        i += 1
    return blocks


BLOCKS = [block for path in DOCUMENTS for block in read_blocks(path)]


def test_markers_are_known_and_give_a_reason():
    for block in BLOCKS:
        if not block.marker:
            continue
        assert block.skip_reason or block.file_name, \
            f"unknown marker {block.marker!r} before {block.where}: expected 'skip: REASON' or 'file NAME'"


# -- C --------------------------------------------------------------------------

C_BLOCKS = [b for b in BLOCKS if b.lang == "c" and b.skip_reason is None]


def compile_c(block, compiler, tmp_path):
    source = tmp_path / (block.file_name or "example.c")
    source.write_text(block.text)
    if "int main(" in block.text:
        target = tmp_path / "example"
        args = [source, "-L", BUILD, "-lbatchcore", f"-Wl,-rpath,{BUILD}", "-o", target]
    elif "batchcore_plugin_entry" in block.text:
        target = tmp_path / "example.so"
        args = ["-shared", "-fPIC", source, "-o", target]
    else:
        target = tmp_path / "example.o"
        args = ["-c", source, "-o", target]
    proc = subprocess.run([compiler, *STRICT, f"-I{ROOT / 'include'}", *map(str, args)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"{compiler} cannot compile the C block at {block.show()}\n{proc.stderr}"
    return target


@pytest.mark.parametrize("compiler", ["clang", "gcc"])
@pytest.mark.parametrize("block", C_BLOCKS, ids=lambda b: b.where)
def test_c_block_compiles(block, compiler, tmp_path):
    if shutil.which(compiler) is None:
        pytest.fail(f"{compiler} is not installed")
    compile_c(block, compiler, tmp_path)


@pytest.mark.parametrize("block", [b for b in C_BLOCKS if "int main(" in b.text], ids=lambda b: b.where)
def test_c_host_runs(block, tmp_path):
    program = compile_c(block, "cc", tmp_path)
    shutil.copytree(ROOT / "samples", tmp_path / "samples")
    proc = subprocess.run([str(program)], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"the host at {block.where} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    counts = re.search(r"^(\d+) ok, 0 failed$", proc.stdout, re.M)
    assert counts and int(counts.group(1)) > 0, f"the host at {block.where} printed:\n{proc.stdout}\n{proc.stderr}"


# -- Shell --------------------------------------------------------------------

def commands(text):
    """(line offset, command): continuation lines joined, heredocs kept
    whole; blank lines and comments left out."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = i
        if not lines[i].strip() or lines[i].lstrip().startswith("#"):
            i += 1
            continue
        command = [lines[i]]
        while command[-1].endswith("\\") and i + 1 < len(lines):
            i += 1
            command.append(lines[i])
        heredoc = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", "\n".join(command))
        if heredoc:
            while i + 1 < len(lines) and lines[i].strip() != heredoc.group(1):
                i += 1
                command.append(lines[i])
        i += 1
        yield start, "\n".join(command)


def runs_batchhost(block):
    return block.lang == "sh" and any(re.search(r"(^|[|;&(]\s*)batchhost\b", c) for _, c in commands(block.text))


SECTIONS = {}
for block in BLOCKS:
    if runs_batchhost(block) or (block.file_name and block.skip_reason is None):
        SECTIONS.setdefault((block.path, block.section), []).append(block)
SECTIONS = {key: blocks for key, blocks in SECTIONS.items() if any(runs_batchhost(b) for b in blocks)}


def pdf(text):
    """A one-page PDF showing `text`."""
    stream = f"BT /F1 12 Tf 20 50 Td ({text}) Tj ET"
    objects = ["<< /Type /Catalog /Pages 2 0 R >>",
               "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 100] /Contents 4 0 R"
               " /Resources << /Font << /F1 5 0 R >> >> >>",
               f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def sandbox(folder, mock_url):
    """Sample inputs under the names the examples use, and a batchhost on PATH."""
    shutil.copytree(ROOT / "samples", folder / "samples")
    for name in ["notes", "contracts", "docs", "inbox"]:
        shutil.copytree(ROOT / "samples" / "notes", folder / name)
    for name in ["scans", "invoices", "filings", "prescriptions"]:
        (folder / name).mkdir()
        for i in range(1, 4):
            (folder / name / f"2024-{i:03d}.pdf").write_bytes(pdf(f"Invoice 2024-{i:03d} from Acme GmbH, total 118{i}.50 EUR"))
    (folder / "plugins").mkdir()
    for declaration in (ROOT / "plugins").glob("*.toml"):
        shutil.copy(declaration, folder / "plugins")
    (folder / "include").symlink_to(ROOT / "include")
    (folder / "bin").mkdir()
    wrapper = folder / "bin" / "batchhost"
    wrapper.write_text(f"""#!/usr/bin/env bash
# The built batchhost; a run with an llm stage talks to the local mock API.
if [ "$1" = run ] && printf '%s\\n' "$@" | grep -qx llm; then
    args=() added=0
    for arg in "$@"; do
        if [ "$arg" = -- ] && [ $added = 0 ]; then args+=(--set llm.base_url={mock_url}); added=1; fi
        args+=("$arg")
    done
    [ $added = 1 ] || args+=(--set llm.base_url={mock_url})
    exec {BATCHHOST} "${{args[@]}}"
fi
exec {BATCHHOST} "$@"
""")
    wrapper.chmod(0o755)


def script(blocks):
    """The section's commands, each followed by a check of its exit status."""
    lines = ["set -o pipefail"]
    steps = []
    for block in blocks:
        if block.file_name:
            lines.append(f"cat > {block.file_name} <<'READMEFILE'\n{block.text}READMEFILE")
        if block.lang != "sh" or block.skip_reason is not None:
            continue
        for offset, command in commands(block.text):
            steps.append((block, block.line + 1 + offset, command))
            lines.append(command)
            lines.append(f'status=$?; if [ $status -ne 0 ]; then echo "readme-test: step {len(steps) - 1} exited $status" >&2; exit 97; fi')
    return "\n".join(lines) + "\n", steps


@pytest.fixture(scope="module")
def mock():
    server = MockLLM(key=ANY_KEY).start()
    yield server
    server.stop()


@pytest.mark.parametrize("key", list(SECTIONS), ids=lambda key: f"{key[0].name}: {key[1]}")
def test_shell_examples_run_as_written(key, mock, tmp_path):
    blocks = SECTIONS[key]
    sandbox(tmp_path, mock.base_url)
    text, steps = script(blocks)
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    proc = subprocess.run(["bash", "-c", text], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode == 0:
        return
    failed = re.search(r"readme-test: step (\d+) exited (\d+)", proc.stderr)
    if failed is None:
        pytest.fail(f"the examples of {blocks[0].where} stopped with exit {proc.returncode}\n{proc.stderr[-3000:]}")
    block, line, command = steps[int(failed.group(1))]
    pytest.fail(f"{block.path.relative_to(ROOT)}:{line}: exit {failed.group(2)} from\n    {command}\n"
                f"in the block {block.show()}\n--- stdout (end)\n{proc.stdout[-2000:]}\n--- stderr (end)\n{proc.stderr[-3000:]}")


# -- Tables ---------------------------------------------------------------------

def table_rows(heading, first_column):
    """Rows of the README table under `heading` whose header starts with `first_column`."""
    text = (ROOT / "README.md").read_text()
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    table = section.split(f"\n| {first_column} |", 1)[1].split("\n\n", 1)[0]
    return [[cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", row.strip().strip("|"))]
            for row in table.splitlines()[2:] if row.startswith("|")]


def test_readme_options_table_is_batchhost_options():
    printed = {}
    for line in subprocess.run([str(BATCHHOST), "options"], capture_output=True, text=True, check=True).stdout.splitlines():
        key, default, _ = line.split(None, 2)
        printed[key] = default
    documented = {row[0].strip("`"): row[1].strip("`") for row in table_rows("Options", "key")}
    assert documented == printed, "README's Options table differs from `batchhost options`: " + "; ".join(
        f"{key}: README {documented.get(key, 'missing')}, batchhost {printed.get(key, 'missing')}"
        for key in sorted(set(documented) | set(printed)) if documented.get(key) != printed.get(key))


def test_batchhost_options_columns_align():
    lines = subprocess.run([str(BATCHHOST), "options"], capture_output=True, text=True, check=True).stdout.splitlines()
    starts = {(m.start(2), m.start(3)) for m in (re.match(r"(\S+)\s+(\S+)\s+(\S)", line) for line in lines)}
    assert len(starts) == 1, "columns of `batchhost options` do not line up:\n" + "\n".join(lines)


def test_readme_flag_table_has_every_run_flag():
    help_text = subprocess.run([str(BATCHHOST), "run", "--help"], capture_output=True, text=True).stdout
    flags = set(re.findall(r"^\s+(?:-\w, )?(--[a-z][a-z-]*)", help_text, re.M)) - {"--help", "--version"}
    documented = {flag for row in table_rows("batchhost, the CLI", "flag") for flag in re.findall(r"--[a-z][a-z-]*", row[0])}
    assert flags - documented == set(), f"flags of `batchhost run` missing from README's flag table: {sorted(flags - documented)}"
