# One-command set-up on a fresh machine: `make demo` runs the built-in demo, `make test` the tests.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test bench clean

$(BIN)/vidsynth: requirements.txt setup.py
	@command -v apt-get >/dev/null && ! ldconfig -p | grep -q libusb-1.0 && \
		(apt-get update -qq && apt-get install -y -qq libusb-1.0-0) || true
	@command -v apt-get >/dev/null && ! command -v chromedriver >/dev/null && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) || true  # the studio's browser tests
	@command -v apt-get >/dev/null && [ ! -f /usr/share/doc/opencv-doc/examples/data/vtest.avi ] && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq opencv-doc) || true  # real clips: vtest.avi (people walking), Megamind.avi
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	@touch $@

setup: $(BIN)/vidsynth

demo: setup
	$(BIN)/vidsynth demo --output out/demo.mp4

test: setup
	$(BIN)/python -m pytest -q tests

bench: setup
	$(BIN)/python -m benchmarks.pipeline && $(BIN)/python -m benchmarks.live

clean:
	rm -rf $(VENV) out
