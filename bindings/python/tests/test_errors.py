"""Each negative BC_E* code raises its own class, carrying the library's message."""
from __future__ import annotations

import json

import pytest
from conftest import ROOT, batchcore, compile_c

C_TEST_PLUGINS = ROOT / "Tests" / "c" / "plugins"


def test_every_class_is_a_batchcore_error_with_its_code():
    expected = {
        batchcore.InvalidArgumentError: -2, batchcore.OptionError: -3, batchcore.NotFoundError: -4,
        batchcore.PluginError: -5, batchcore.AbiError: -6, batchcore.InputError: -7,
        batchcore.StateError: -8, batchcore.WaitTimeout: -9, batchcore.BatchIOError: -10,
    }
    for cls, code in expected.items():
        assert issubclass(cls, batchcore.BatchcoreError) and cls.code == code
    assert issubclass(batchcore.WaitTimeout, TimeoutError) and issubclass(batchcore.BatchIOError, OSError)
    assert issubclass(batchcore.OptionError, ValueError) and issubclass(batchcore.NotFoundError, LookupError)


def test_unknown_processor_is_not_found_and_says_where_it_looked(engine, tmp_path):
    with engine.batch("no-such-processor") as batch:
        batch.add(tmp_path / "x")
        with pytest.raises(batchcore.NotFoundError, match=r"no processor named 'no-such-processor': looked for "
                                                          r"no-such-processor\.so, .* in: .*; built-in: exec"):
            batch.start()


def test_missing_and_malformed_manifests(engine, tmp_path):
    manifest = tmp_path / "docs.jsonl"
    manifest.write_text(json.dumps({"id": "a", "path": "a.txt"}) + "\n{not json\n")
    with engine.batch("text") as batch:
        with pytest.raises(batchcore.NotFoundError, match="manifest .*missing.jsonl' does not exist"):
            batch.add_manifest(tmp_path / "missing.jsonl")
        with pytest.raises(batchcore.InputError, match=r"docs\.jsonl:2: "):
            batch.add_manifest(manifest)
        with pytest.raises(batchcore.InputError, match="must be a JSON object, not an array"):
            batch.add(tmp_path / "a.txt", metadata="[1, 2]")


def test_configuring_a_started_batch_is_a_state_error(engine, tmp_path):
    (tmp_path / "a.txt").write_text("a")
    with engine.batch("text") as batch:
        with pytest.raises(batchcore.StateError, match="has not been started"):
            batch.wait()
        batch.add(tmp_path / "a.txt")
        batch.run()
        with pytest.raises(batchcore.StateError, match="the batch has already started"):
            batch.set("workers", 2)
    with engine.batch() as empty:
        with pytest.raises(batchcore.StateError, match="the batch has no stage"):
            empty.start()


def test_plugins_of_another_abi_and_plugins_that_refuse_to_start(engine, tmp_path):
    wrong_abi = compile_c(C_TEST_PLUGINS / "refused.c", tmp_path / "wrong_abi.so")
    bad_create = compile_c(C_TEST_PLUGINS / "bad_create.c", tmp_path / "bad_create.so")
    (tmp_path / "a.txt").write_text("a")
    with engine.batch(wrong_abi) as batch:
        batch.add(tmp_path / "a.txt")
        with pytest.raises(batchcore.AbiError, match=r"was built for ABI 2\.0, this host speaks ABI 1\."):
            batch.start()
    with engine.batch(bad_create) as batch:
        batch.add(tmp_path / "a.txt")
        with pytest.raises(batchcore.PluginError, match="cannot reach the model server"):
            batch.start()


def test_an_unwritable_output_is_an_io_error(engine, tmp_path):
    with engine.batch("text", output=tmp_path / "no-such-dir" / "out.jsonl", checkpoint=False) as batch:
        batch.add(tmp_path / "a.txt")
        with pytest.raises(batchcore.BatchIOError, match="cannot write the output file"):
            batch.start()


def test_plugin_dir_on_the_engine_finds_plugins_by_name(tmp_path):
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    compile_c(ROOT / "examples" / "plugin" / "upper.c", plugins / "upper.so")
    (tmp_path / "a.txt").write_text("shout")
    with batchcore.Engine(plugin_path=[plugins]) as engine, engine.batch("upper") as batch:
        batch.add(tmp_path / "a.txt")
        batch.run()
        assert next(batch.results()).text == "SHOUT"
