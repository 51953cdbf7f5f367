"""The ctypes structures mirror the C structs byte for byte.

A C program, generated from the ctypes definitions and compiled against
include/, prints sizeof and offsetof of every struct the bindings mirror and
of every field they declare; a field the C struct lacks does not compile.
"""
from __future__ import annotations

import ctypes
import json
import subprocess

from conftest import ROOT

from batchcore import _capi

MIRRORED = sorted(
    (value for name, value in vars(_capi).items()
     if name.startswith("bc_") and isinstance(value, type) and issubclass(value, ctypes.Structure)),
    key=lambda struct: struct.__name__)


def c_layouts(tmp_path):
    """{struct: {"size": n, "fields": {name: offset}}} as the C compiler lays them out."""
    lines = ['#include <stddef.h>', '#include <stdio.h>', '#include "batchcore.h"', "int main(void) {",
             '    printf("{");']
    for index, struct in enumerate(MIRRORED):
        name = struct.__name__
        comma = "," if index else ""
        lines.append(f'    printf("{comma}\\"{name}\\":{{\\"size\\":%zu,\\"fields\\":{{", sizeof({name}));')
        for position, (field, *_) in enumerate(struct._fields_):
            separator = "," if position else ""
            lines.append(f'    printf("{separator}\\"{field}\\":%zu", offsetof({name}, {field}));')
        lines.append('    printf("}}");')
    lines += ['    printf("}\\n");', "    return 0;", "}"]
    source = tmp_path / "layouts.c"
    source.write_text("\n".join(lines) + "\n")
    program = tmp_path / "layouts"
    subprocess.run(["cc", "-std=c99", f"-I{ROOT / 'include'}", str(source), "-o", str(program)], check=True)
    return json.loads(subprocess.run([str(program)], check=True, capture_output=True, text=True).stdout)


def test_the_mirrors_are_found():
    # What the layout test below checks: a struct dropped from this list goes unchecked.
    assert [struct.__name__ for struct in MIRRORED] == ["bc_doc", "bc_event", "bc_host_api", "bc_plugin", "bc_processor_def", "bc_result",
                                                         "bc_stats"]


def test_ctypes_sizes_and_offsets_match_the_c_structs(tmp_path):
    layouts = c_layouts(tmp_path)
    for struct in MIRRORED:
        name = struct.__name__
        c = layouts[name]
        python = {field: getattr(struct, field).offset for field, *_ in struct._fields_}
        assert python == c["fields"], name
        assert ctypes.sizeof(struct) == c["size"], f"{name}: ctypes {ctypes.sizeof(struct)} bytes, C {c['size']}"


def test_the_result_reader_reads_every_field_where_ctypes_does():
    # bc_results are read with one struct.unpack (RESULT_FIELDS), not field by field.
    result = _capi.sized(_capi.bc_result)
    text = ctypes.create_string_buffer(64)
    expected = []
    for number, (field, kind) in enumerate(_capi.bc_result._fields_, start=7):
        if field == "struct_size":
            expected.append(result.struct_size)
        elif kind in (ctypes.c_char_p, ctypes.POINTER(ctypes.c_char)):
            setattr(result, field, ctypes.cast(ctypes.addressof(text) + number, kind))
            expected.append(ctypes.addressof(text) + number)
        else:
            value = number * 1.5 if kind is ctypes.c_double else number
            setattr(result, field, value)
            expected.append(value)
    assert list(_capi.RESULT_FIELDS.unpack(bytes(result))) == expected
