# batchcore — build, demo, test, install.
#   make demo     build everything and run a batch over samples/
#   make test     install what is missing, build, run every test suite
#   make install  PREFIX=/usr/local
#   make bench    benchmarks against the peers (bench/README.md)

PREFIX ?= /usr/local
SWIFT ?= swift
BUILD := .build/release
VENV := .build/venv
OUT := out

.PHONY: all build deps demo test test-swift test-tsan test-c test-cli test-python test-install test-bench bench bench-quick install clean

all: build

deps:
	@scripts/install-deps

build: deps
	@scripts/embed-page
	$(SWIFT) build -c release
	@mkdir -p $(BUILD)/batchcore && cp plugins/*.toml $(BUILD)/batchcore/

demo: build
	@mkdir -p $(OUT) && rm -f $(OUT)/demo.jsonl $(OUT)/demo.jsonl.journal
	$(BUILD)/batchhost run samples --glob '*.txt' -p text -o $(OUT)/demo.jsonl
	@echo
	@echo "First result:"
	@head -n 1 $(OUT)/demo.jsonl
	@echo
	@echo "Results of $$(wc -l < $(OUT)/demo.jsonl) documents are in $(OUT)/demo.jsonl"

test: build test-swift test-tsan test-c test-cli test-python test-install test-bench

test-swift:
	$(SWIFT) test

# The concurrent core under ThreadSanitizer, in a build folder of its own.
test-tsan:
	$(SWIFT) test --sanitize=thread --scratch-path .build-tsan

test-c: build
	Tests/c/run.sh $(BUILD)

$(VENV)/bin/pytest:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check pytest

test-cli: build $(VENV)/bin/pytest
	$(VENV)/bin/pytest -q Tests/cli

# The Python package, installed from the checkout into the venv, against the built library.
test-python: build $(VENV)/bin/pytest
	$(VENV)/bin/pip install --quiet --disable-pip-version-check 'setuptools>=61' wheel
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation ./bindings/python
	$(VENV)/bin/pytest -q bindings/python/tests

test-install: build
	Tests/install.sh

# A smoke run: every scenario runs and produces numbers (not how fast).
test-bench: build
	bench/run --quick

bench: build
	bench/run

bench-quick: build
	bench/run --quick

install: build
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BUILD)/libbatchcore.so $(BUILD)/libbatchcore-*.so $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/batchhost $(DESTDIR)$(PREFIX)/bin/
	install -m 644 include/batchcore.h include/batchcore_plugin.h $(DESTDIR)$(PREFIX)/include/
	install -d $(DESTDIR)$(PREFIX)/lib/batchcore
	install -m 644 plugins/*.toml $(DESTDIR)$(PREFIX)/lib/batchcore/
	install -m 755 $(BUILD)/batchcore-worker $(DESTDIR)$(PREFIX)/lib/batchcore/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e "s|@VERSION@|$$($(BUILD)/batchhost --version | cut -d' ' -f2)|" \
		batchcore.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/batchcore.pc

clean:
	rm -rf .build .build-tsan $(OUT)
