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

# A region that does not exist: say so in one line, not as a missing make rule. Targets that
# need no region (tests, lint, help, benchmark, many regions, clean) are let through.
ifneq ($(filter-out test lint help bench bench-valhalla many clean,$(or $(MAKECMDGOALS),all)),)
  ifeq ($(wildcard $(REGION_FILE)),)
    $(error unknown region '$(region)': no file $(REGION_FILE); available: $(notdir $(basename $(wildcard regions/*.toml))) (or config=path/to/region.toml))
  endif
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
# A what-if run (season=… and/or scenario=…) keeps its results in its own folder.
season ?=
scenario ?=
RUN_DIR := $(if $(season)$(scenario),runs/$(or $(scenario),baseline)/$(or $(season),default)/,)
RUN_ARGS := $(if $(season),--season $(season)) $(if $(scenario),--scenario $(scenario))
RESULTS := $(OUT)/$(RUN_DIR)$(region).gpkg
MAP := maps/$(region)/$(RUN_DIR)index.html
REPORT := maps/$(region)/$(RUN_DIR)report.html
CSV := $(OUT)/$(RUN_DIR)settlements.csv
QGZ := $(OUT)/$(RUN_DIR)$(region).qgz
# What the reader sees: words, colours, the page's script and the inlined Leaflet.
LOOK := pipeline/i18n.py pipeline/palette.py
WEB := $(LOOK) $(wildcard pipeline/web/*) $(wildcard pipeline/vendor/leaflet/*) \
       $(wildcard pipeline/vendor/leaflet/images/*)
SEASONS := $(OUT)/seasons.gpkg
a ?= baseline
b ?=
run_gpkg = $(if $(filter baseline,$(1)),$(OUT)/$(region).gpkg,$(OUT)/runs/$(1)/default/$(region).gpkg)
DIFF := $(OUT)/diff/$(a)__$(b).gpkg
# `make plan k=5`: planning answers on the baseline results (k: anchors to propose).
k ?=
PLAN_DIR := $(OUT)/plan
PLAN := $(PLAN_DIR)/plan.json
ifneq ($(filter diff,$(MAKECMDGOALS)),)
  ifeq ($(b),)
    $(error make diff needs b=<scenario> (and a=, default baseline): make diff region=$(region) b=new_bridge)
  endif
endif

CODE := pipeline/__init__.py pipeline/__main__.py pipeline/cli.py pipeline/config.py \
        pipeline/errors.py pipeline/_io.py pipeline/stages.py pipeline/export.py
REGION_INPUTS := $(REGION_FILE) $(wildcard regions/$(region)/*) $(wildcard regions/$(region)/scenarios/*)
DEPS := $(VENV)/.installed $(CODE) $(REGION_INPUTS)

# `make regions="vologda andorra …"`: many regions at once on Dask (see `many` below).
ifdef regions
  .DEFAULT_GOAL := many
else
  .DEFAULT_GOAL := all
endif
.PHONY: all test lint clean help fetch extract network catchments maps report qgis check seasons diff many bench bench-valhalla plan FORCE
.DELETE_ON_ERROR:

all: $(MAP) $(REPORT) $(QGZ) ## run every stage for the region
	@echo "Results for $(region):"
	@echo "  GeoPackage   $(RESULTS)"
	@echo "  travel times $(OUT)/$(RUN_DIR)travel_time.tif"
	@echo "  figures      $(OUT)/$(RUN_DIR)summary.json, $(OUT)/$(RUN_DIR)summary.csv"
	@echo "  map          $(MAP)"
	@echo "  report       $(REPORT)"
	@echo "  spreadsheet  $(CSV)"
	@echo "  QGIS project $(QGZ)"
	@echo "  logs         logs/$(region)/"

$(VENV)/.installed: pyproject.toml
	test -x $(PYTHON) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e '.[test]'
	touch $@

check: $(VENV)/.installed ## validate the region file and its scenario files
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
$(RESULTS) $(OUT)/$(RUN_DIR)travel_time.tif $(OUT)/$(RUN_DIR)summary.json $(OUT)/$(RUN_DIR)summary.csv &: $(NETWORK) $(OSM) \
		pipeline/catchments.py pipeline/routing.py pipeline/surface.py pipeline/network.py \
		pipeline/qgis.py $(LOOK) $(DEPS)
	$(RUN) catchments $(REGION_ARGS) $(RUN_ARGS)

maps: $(MAP) ## the HTML map
$(MAP): $(RESULTS) pipeline/maps.py $(WEB) $(DEPS)
	$(RUN) maps $(REGION_ARGS) $(RUN_ARGS)

report: $(REPORT) ## the reviewer's report page and settlements.csv
$(REPORT) $(CSV) &: $(RESULTS) $(SOURCES) pipeline/report.py pipeline/maps.py $(LOOK) $(DEPS) \
		$(if $(RUN_DIR),,$(wildcard $(OUT)/seasons.json $(OUT)/plan/plan.json))
	$(RUN) report $(REGION_ARGS) $(RUN_ARGS)

qgis: $(QGZ) ## the QGIS project (and the raster's default style)
$(QGZ) $(OUT)/$(RUN_DIR)travel_time.qml &: $(RESULTS) $(OUT)/$(RUN_DIR)travel_time.tif \
		pipeline/qgis.py $(LOOK) $(DEPS)
	$(RUN) qgis $(REGION_ARGS) $(RUN_ARGS)

seasons: $(SEASONS) ## every season: worst/best season, all-season access, crossings
$(SEASONS): $(NETWORK) $(OSM) pipeline/seasons.py pipeline/catchments.py pipeline/routing.py \
		pipeline/surface.py pipeline/network.py pipeline/services.py $(DEPS)
	$(RUN) seasons $(REGION_ARGS)

diff: $(DIFF) ## compare two runs: a=baseline b=<scenario>
$(DIFF): $(call run_gpkg,$(a)) $(call run_gpkg,$(b)) pipeline/diff.py $(DEPS)
	$(RUN) diff $(REGION_ARGS) --a $(a) --b $(b)

plan: $(PLAN) ## planning answers: anchors to add (k=N), inter-municipal ties, monotown reach
$(PLAN) $(PLAN_DIR)/plan.gpkg $(PLAN_DIR)/proposals.csv $(PLAN_DIR)/cross_border.csv \
		$(PLAN_DIR)/monotown_reach.csv &: $(OUT)/$(region).gpkg $(NETWORK) $(OSM) $(PLAN_DIR)/.k \
		pipeline/planning.py pipeline/catchments.py pipeline/routing.py pipeline/network.py $(DEPS)
	$(RUN) plan $(REGION_ARGS) $(if $(k),--k $(k))

# The k asked for last: rewritten only when `k=` changes, so a new k (and only that) redoes the plan.
$(PLAN_DIR)/.k: FORCE
	@mkdir -p $(@D)
	@printf '%s\n' '$(k)' | cmp -s - $@ || printf '%s\n' '$(k)' > $@

# A scenario's run in the default season, as `make diff` needs it.
$(OUT)/runs/%/default/$(region).gpkg: $(NETWORK) $(OSM) pipeline/scenarios.py pipeline/catchments.py \
		pipeline/routing.py pipeline/surface.py pipeline/network.py $(DEPS)
	$(RUN) catchments $(REGION_ARGS) --scenario $*

test: $(VENV)/.installed ## run the test suite
	$(PYTHON) -m pytest

many: $(VENV)/.installed ## regions="a b …" in parallel on Dask (DASK_SCHEDULER=tcp://host:port: a cluster)
	$(if $(regions),,$(error make many needs regions="name1 name2 …"))
	$(RUN) many --regions $(regions)

# sizes="district" for one size, sizes=valhalla for the Valhalla comparison alone; see
# bench/README.md. Not part of `make test`. The Valhalla part builds its own Python 3.12 venv
# (bench/out/valhalla-venv, from bench/requirements-valhalla.txt) on first use; rev=COMMIT runs
# the pipeline/ of that commit instead of the work tree's.
bench: $(VENV)/.installed ## benchmark: synthetic district/oblast/macro regions vs osmnx+networkx, Andorra vs Valhalla
	$(PYTHON) -m bench.run $(if $(sizes),--sizes $(sizes)) $(if $(rev),--rev $(rev))

bench-valhalla: $(VENV)/.installed ## only the Andorra comparison with Valhalla (rev=COMMIT: that commit's pipeline/)
	$(PYTHON) -m bench.run --sizes valhalla $(if $(rev),--rev $(rev))

lint: $(VENV)/.installed ## ruff checks
	$(PYTHON) -m ruff check pipeline tests bench
	$(PYTHON) -m ruff format --check pipeline tests bench

clean: ## remove the region's results, maps and logs (downloads in data_raw/ are kept)
	rm -rf $(OUT) maps/$(region) logs/$(region)

help: ## list the targets
	@echo "make [target] region=NAME   (or config=path/to/region.toml); regions: $(notdir $(basename $(wildcard regions/*.toml)))"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | sort
