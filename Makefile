# Anchor-settlement accessibility. `make help` lists the targets.
# Each rule makes real files under data_raw/$(region)/, data_processed/$(region)/ or maps/$(region)/
# from its inputs and the code that makes them, so a re-run redoes only what changed.

region ?= vologda
ifdef config
  REGION_FILE := $(config)
  region := $(basename $(notdir $(config)))
  REGION_ARGS := --config "$(config)"
else
  REGION_FILE := regions/$(region).toml
  REGION_ARGS := --region $(region)
endif

PYTHON_BOOT ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PYTHON := $(VENV)/bin/python
RUN := $(PYTHON) -m pipeline

RAW := data_raw/$(region)
OUT := data_processed/$(region)
SOURCES := $(RAW)/SOURCES.json
OSM := $(OUT)/osm.gpkg
NETWORK := $(OUT)/network.npz
RESULTS := $(OUT)/$(region).gpkg
MAP := maps/$(region)/index.html

CODE := pipeline/__init__.py pipeline/__main__.py pipeline/cli.py pipeline/config.py \
        pipeline/errors.py pipeline/_io.py pipeline/stages.py pipeline/export.py
REGION_INPUTS := $(REGION_FILE) $(wildcard regions/$(region)/*)
DEPS := $(VENV)/.installed $(CODE) $(REGION_INPUTS)

.DEFAULT_GOAL := all
.PHONY: all test lint clean help fetch extract network catchments maps check
.DELETE_ON_ERROR:

all: $(MAP) ## run every stage for the region
	@echo "Results for $(region):"
	@echo "  GeoPackage   $(RESULTS)"
	@echo "  travel times $(OUT)/travel_time.tif"
	@echo "  figures      $(OUT)/summary.json, $(OUT)/summary.csv"
	@echo "  map          $(MAP)"
	@echo "  logs         logs/$(region)/"

$(VENV)/.installed: pyproject.toml
	test -x $(PYTHON) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[test]'
	touch $@

check: $(VENV)/.installed ## validate the region file only
	$(RUN) check $(REGION_ARGS)

# fetch always asks: it reuses a verified download at once, or retries one that failed offline.
fetch: $(VENV)/.installed ## get the OSM extract (or record the offline fallback)
	$(RUN) fetch $(REGION_ARGS)

$(SOURCES): pipeline/fetch.py $(DEPS)
	$(RUN) fetch $(REGION_ARGS)

extract: $(OSM) ## roads, settlements and boundaries from the extract
$(OSM): $(SOURCES) pipeline/osm.py pipeline/reference.py $(DEPS)
	$(RUN) extract $(REGION_ARGS)

network: $(NETWORK) ## the routable road graph
$(NETWORK): $(OSM) pipeline/network.py $(DEPS)
	$(RUN) network $(REGION_ARGS)

catchments: $(RESULTS) ## travel times, catchments, gaps, figures
$(RESULTS) $(OUT)/travel_time.tif $(OUT)/summary.json $(OUT)/summary.csv &: $(NETWORK) $(OSM) \
		pipeline/catchments.py pipeline/routing.py pipeline/surface.py pipeline/network.py $(DEPS)
	$(RUN) catchments $(REGION_ARGS)

maps: $(MAP) ## the HTML map
$(MAP): $(RESULTS) pipeline/maps.py $(DEPS)
	$(RUN) maps $(REGION_ARGS)

test: $(VENV)/.installed ## run the test suite
	$(PYTHON) -m pytest

lint: $(VENV)/.installed ## ruff checks
	$(PYTHON) -m ruff check pipeline tests
	$(PYTHON) -m ruff format --check pipeline tests

clean: ## remove the region's results, maps and logs (downloads in data_raw/ are kept)
	rm -rf $(OUT) maps/$(region) logs/$(region)

help: ## list the targets
	@echo "make [target] region=NAME   (or config=path/to/region.toml); regions: $(notdir $(basename $(wildcard regions/*.toml)))"
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort
