"""The worker protocol: docs/worker-protocol.md, the engine's Frame.swift and
the Python worker's _frames must say the same thing."""
from __future__ import annotations

import re

from conftest import ROOT

from batchcore import _frames

DOC = (ROOT / "docs" / "worker-protocol.md").read_text()
SWIFT = (ROOT / "Sources" / "BatchCore" / "Isolation" / "Frame.swift").read_text()


def documented_kinds():
    return {name: int(number) for number, name in re.findall(r"^\| (\d+) \| (\w+) \|", DOC, re.M)}


def swift_kinds():
    enum = re.search(r"enum FrameKind: UInt8 \{(.*?)\n\}", SWIFT, re.S).group(1)
    return {name: int(number) for name, number in re.findall(r"case (\w+) = (\d+)", enum)}


def example(name):
    block = re.search(rf"<!-- frame: {name} -->\n```\n(.*?)```", DOC, re.S).group(1)
    return bytes.fromhex(block.replace("\n", " "))


def test_the_three_sources_name_the_same_kinds():
    assert len(documented_kinds()) == 9
    assert documented_kinds() == swift_kinds() == _frames.KINDS


def test_python_writes_and_reads_the_documented_start_frame():
    request = _frames.StartRequest("python", "mod:fn", "classify", {"prepare": "mod:setup"}, 0, None)
    assert request.encode() == example("start")
    buffer = _frames.Buffer()
    buffer.append(example("start"))
    frame = buffer.next()
    assert frame.kind == _frames.START and _frames.StartRequest.decode(frame) == request


def test_python_writes_and_reads_the_documented_result_frame():
    result = _frames.ResultFrame(outcome=1, output=b'{"a":1}', output_is_json=True, error="half",
                                 input_tokens=10, output_tokens=20, units=0, retry_after_ms=1500)
    assert result.encode() == example("result")
    buffer = _frames.Buffer()
    buffer.append(example("result")[:7])
    assert buffer.next() is None  # a frame is whole only once all of it arrived
    buffer.append(example("result")[7:])
    assert _frames.ResultFrame.decode(buffer.next()) == result
