# Two entry points that do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench system spark clean

demo: $(STAMP) system
	$(BIN)/crmreport demo --out out/demo

test: $(STAMP) system spark
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(STAMP) system
	$(BIN)/python bench/bench_demo.py
	$(BIN)/python bench/bench_clv.py
	$(BIN)/python bench/bench_ingest.py
	$(BIN)/python bench/bench_emails.py
	$(BIN)/python bench/measure_models.py
	$(BIN)/python bench/bench_letters.py
	$(BIN)/python bench/bench_report.py

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/python -m crmreport.report.plotly_bundle
	touch $(STAMP)

# Debian packages: chromium renders the report charts to SVG, fonts make PDFs legible, Java
# 17+ runs Spark 4 for the engine parity test (engine: spark; Debian 12's default is 17).
system:
	@command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi dejavu || { \
	  echo "installing chromium and fonts with apt-get" >&2; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    chromium fonts-dejavu-core fonts-liberation >/dev/null; }
	@major=$$(java -version 2>&1 | sed -n 's/.* version "1\.\([0-9]*\).*/\1/p; s/.* version "\([0-9]*\).*/\1/p' \
	  | head -n 1); [ "$${major:-0}" -ge 17 ] || { \
	  echo "installing Java 17 for Spark 4 with apt-get (java: $${major:-missing})" >&2; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    default-jre-headless >/dev/null; }

# The engine parity test runs Spark locally and over a local Spark Connect server: pyspark
# with its Connect client, the spark extra (its Java: `system`).
SPARK_STAMP := $(VENV)/.installed-spark
spark: $(SPARK_STAMP)

$(SPARK_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[dev,spark]'
	touch $(SPARK_STAMP)

clean:
	rm -rf out .venv .pytest_cache .mypy_cache .ruff_cache
