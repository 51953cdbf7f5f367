# batchcore — build, demo, test, install.
#   make demo     build everything and run a batch over samples/
#   make test     install what is missing, build, run every test suite
#                 (one line per suite; V=1 shows everything; docs/testing.md)
#   make mutants  check that the tests catch the bugs they claim to
#   make install  PREFIX=/usr/local
#   make bench    benchmarks against the peers (bench/README.md)
#   make stress   thousands of short runs, for rare crashes (not part of make test)

PREFIX ?= /usr/local
SWIFT ?= swift
BUILD := .build/release
VENV := .build/venv
OUT := out
# Each test suite prints one line and its runner's closing line, its whole
# output only when it fails; V=1 shows everything as it comes.
SUITE := scripts/run-suite $(if $(V),--verbose)
# Under make test the build steps are quiet too (STEP is empty otherwise).
test: STEP = $(SUITE) --step

.PHONY: all build deps demo test test-sizes test-swift test-tsan test-c test-cli test-python test-install test-bench stress bench bench-quick install clean mutants

all: build

deps:
	@$(STEP) $(if $(STEP),deps --) scripts/install-deps

build: deps
	@scripts/embed-page
	@$(STEP) $(if $(STEP),build --) $(SWIFT) build -c release
	@mkdir -p $(BUILD)/batchcore && cp plugins/*.toml $(BUILD)/batchcore/

demo: build
	@mkdir -p $(OUT) && rm -f $(OUT)/demo.jsonl $(OUT)/demo.jsonl.journal
	$(BUILD)/batchhost run samples --glob '*.txt' -p text -o $(OUT)/demo.jsonl
	@echo
	@echo "First result:"
	@head -n 1 $(OUT)/demo.jsonl
	@echo
	@echo "Results of $$(wc -l < $(OUT)/demo.jsonl) documents are in $(OUT)/demo.jsonl"

test: build test-sizes test-swift test-tsan test-c test-cli test-python test-install test-bench

# The engine's files stay under 400 lines and its functions under 60.
test-sizes:
	@$(SUITE) --step sizes -- scripts/check-sizes

test-swift:
	@$(SUITE) swift -- $(SWIFT) test

# The concurrent core under ThreadSanitizer, in a build folder of its own.
test-tsan:
	@$(SUITE) tsan -- $(SWIFT) test --sanitize=thread --scratch-path .build-tsan

test-c: build
	@$(SUITE) c -- Tests/c/run.sh $(BUILD)

# The test venv, made again when Tests/requirements.txt changes.
$(VENV)/bin/pytest: Tests/requirements.txt
	@$(STEP) $(if $(STEP),venv --) sh -c 'python3 -m venv $(VENV) && \
		$(VENV)/bin/pip install --quiet --disable-pip-version-check -r Tests/requirements.txt && touch $@'

test-cli: build $(VENV)/bin/pytest
	@$(SUITE) cli -- $(VENV)/bin/pytest -q Tests/cli

# The Python package, installed from the checkout into the venv, against the built library.
test-python: build $(VENV)/bin/pytest
	@$(SUITE) --step python-package -- sh -c "$(VENV)/bin/pip install --quiet --disable-pip-version-check 'setuptools>=61' wheel && \
		$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation ./bindings/python"
	@$(SUITE) python -- $(VENV)/bin/pytest -q bindings/python/tests

test-install: build
	@$(SUITE) install -- Tests/install.sh

# A smoke run: every scenario runs and its figures are sane (not how fast).
test-bench: build
	@$(SUITE) bench -- bench/run --quick

# Applies each mutant of Tests/mutants.toml in a scratch copy and runs the
# tests that must catch it (slow: not part of make test). MUTANTS=name,... for some.
mutants: $(VENV)/bin/pytest
	@scripts/mutants $(if $(MUTANTS),--only $(MUTANTS))

# Thousands of short batchhost runs at once; fails on any crash (a few minutes).
stress: build
	Tests/stress.sh $(BUILD)

bench: build
	bench/run

bench-quick: build
	bench/run --quick

install: build
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BUILD)/libbatchcore.so $(BUILD)/libbatchcore-*.so $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/batchhost $(DESTDIR)$(PREFIX)/bin/
	install -m 644 include/batchcore.h include/batchcore_plugin.h include/batchcore_version.h $(DESTDIR)$(PREFIX)/include/
	install -d $(DESTDIR)$(PREFIX)/lib/batchcore
	install -m 644 plugins/*.toml $(DESTDIR)$(PREFIX)/lib/batchcore/
	install -m 755 $(BUILD)/batchcore-worker $(DESTDIR)$(PREFIX)/lib/batchcore/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e "s|@VERSION@|$$($(BUILD)/batchhost --version | cut -d' ' -f2)|" \
		batchcore.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/batchcore.pc

clean:
	rm -rf .build .build-tsan $(OUT)
