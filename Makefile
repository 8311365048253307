# Anchor-settlement accessibility. `make help` lists the targets and the variables.
#
# A graph of files. Each stage makes real files under data_raw/$(region)/, data_processed/
# $(region)/ or maps/$(region)/ from the files an earlier stage made, the code it runs, and
# what it reads of the region file: the first step, `python -m pipeline deps`, writes for
# each stage the sections of the region file it reads and the sha256 of every file they name
# (an anchors CSV, a services CSV, the bundled offline data, the extract) to
# data_processed/$(region)/.config/<stage>.json, rewriting a stamp only when its content
# changes. So a re-run redoes only what changed: fixing an anchor name redoes the catchments
# and what follows, never fetch, extract or network.
#
# A failed or interrupted run deletes nothing: there is no .DELETE_ON_ERROR, outputs are
# .PRECIOUS, and every file is written under a hidden name and renamed when complete (a
# stage's files all together). No grouped targets (`&:`) or other GNU Make 4.x features, so
# older makes (macOS's 3.81, Debian 10's 4.2) should do; the tests run with GNU Make 4.3.

empty :=
space := $(empty) $(empty)
letters := a b c d e f g h i j k l m n o p q r s t u v w x y z
# What is left of $(1) once every character of the words $(2) is taken out of it.
strip_chars = $(if $(2),$(call strip_chars,$(subst $(firstword $(2)),,$(1)),$(wordlist 2,99,$(2))),$(1))
# Non-empty unless $(1) is a region name: lowercase ASCII letters, digits, - and _, from a letter.
bad_name = $(or $(filter-out 1,$(words $(1))),$(call strip_chars,$(1),$(letters) 0 1 2 3 4 5 6 7 8 9 - _),$(if $(filter $(addsuffix %,$(letters)),$(1)),,x))
# A path with spaces, escaped for $(wildcard).
escape = $(subst $(space),\$(space),$(1))
# A shell word: $(1) in single quotes.
quote = '$(subst ','\'',$(1))'
NAME_RULE := region names are lowercase ASCII letters, digits, - and _, starting with a letter
REGION_LIST := $(notdir $(basename $(wildcard regions/*.toml)))

region ?= vologda
# Two stages at a time where the graph of files allows it: the map, the report and the QGIS
# project read the same results and not each other, so they share the two cores (the stages
# before them wait for each other anyway). `make jobs=1` runs one stage at a time; an older
# make (3.81) ignores this and does so too.
jobs ?= 2
MAKEFLAGS += -j$(jobs)
ifdef config
  # The region is the file's name without .toml; the folders above it may hold spaces and
  # Cyrillic letters.
  override region := $(subst ?,$(space),$(patsubst %.toml,%,$(lastword $(subst /, ,$(subst $(space),?,$(config))))))
  REGION_FILE := $(config)
  REGION_ARGS := --config $(call quote,$(config))
else
  REGION_FILE := regions/$(region).toml
  REGION_ARGS := --region $(region)
endif

# Results go under the project folder, or under $PIPELINE_ROOT (tests, many regions at once).
ROOT := $(if $(PIPELINE_ROOT),$(patsubst %/,%,$(PIPELINE_ROOT))/,)
GOALS := $(or $(MAKECMDGOALS),$(if $(regions),many,all))
# A region that is not one: say so in one line, not as a missing make rule. Targets that need
# no region (tests, lint, help, benchmark, many regions) are let through; clean needs a name.
ifneq ($(filter-out test test-fast lint lock help bench bench-valhalla many,$(GOALS)),)
  ifneq ($(word 2,$(PIPELINE_ROOT)),)
    $(error PIPELINE_ROOT='$(PIPELINE_ROOT)' has a space, which make cannot handle in file names; use a folder without spaces)
  endif
  ifneq ($(call bad_name,$(region)),)
    ifdef config
      $(error the region file '$(config)' is named '$(region)', but $(NAME_RULE) (the name names the output folders); rename the file, e.g. to andorra2.toml, and set name = "andorra2" in it)
    else
      $(error '$(region)' is not a region name: $(NAME_RULE) (the file regions/<name>.toml names the output folders); available: $(REGION_LIST) (or config=path/to/region.toml))
    endif
  endif
  ifneq ($(filter-out clean,$(GOALS)),)
    ifeq ($(wildcard $(call escape,$(REGION_FILE))),)
      $(error unknown region '$(region)': no file $(REGION_FILE); available: $(REGION_LIST) (or config=path/to/region.toml))
    endif
  endif
endif

PYTHON_BOOT ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
# The project's own venv is built (and rebuilt when pyproject.toml changes) before any stage;
# `make PYTHON=/path/to/python …` runs another interpreter that has the package (the tests,
# pipeline/stages/many_regions.py). A PYTHON in the environment is not taken for that.
ifneq ($(origin PYTHON),command line)
  PYTHON := $(VENV)/bin/python
endif
INSTALLED := $(if $(filter $(VENV)/bin/python,$(PYTHON)),$(VENV)/.installed $(VENV)/.bytecode)
RUN := $(PYTHON) -m pipeline
# make's stage server (pipeline/stage_server.py): the first step starts a process that imports
# the pipeline once, and each stage then runs in a fork of it instead of importing everything
# again (half a second or more per stage). It ends with this make. `make server=no`: each
# stage imports on its own.
server ?= yes
ifeq ($(server),yes)
  export PIPELINE_STAGE_SERVER := $(shell echo $$PPID)
  SERVE_ARGS := --serve-stages
else
  unexport PIPELINE_STAGE_SERVER
endif

RAW := $(ROOT)data_raw/$(region)
OUT := $(ROOT)data_processed/$(region)
MAPS := $(ROOT)maps/$(region)
CONF := $(OUT)/.config
SOURCES := $(RAW)/SOURCES.json
OSM := $(OUT)/osm.gpkg
NETWORK := $(OUT)/network.npz
SEASONS := $(OUT)/seasons.gpkg
GRAPHML := $(OUT)/$(region).graphml
PLAN_DIR := $(OUT)/plan
# A what-if run (season=… and/or scenario=…) keeps its results in its own folder.
season ?=
scenario ?=
run_dir = $(if $(1)$(2),runs/$(or $(2),baseline)/$(or $(1),default)/,)
RUN_DIR := $(call run_dir,$(season),$(scenario))
RUN_ARGS := $(if $(season),--season $(season)) $(if $(scenario),--scenario $(scenario))
# The files of a run, by its folder ('' for the baseline, runs/<scenario>/<season>/ otherwise).
results = $(OUT)/$(1)$(region).gpkg
tif = $(OUT)/$(1)travel_time.tif
map = $(MAPS)/$(1)index.html
report = $(MAPS)/$(1)report.html
qgz = $(OUT)/$(1)$(region).qgz
RESULTS := $(call results,$(RUN_DIR))
MAP := $(call map,$(RUN_DIR))
REPORT := $(call report,$(RUN_DIR))
CSV := $(OUT)/$(RUN_DIR)settlements.csv
QGZ := $(call qgz,$(RUN_DIR))
# `make diff a=baseline b=<scenario>`; `make plan k=5`.
a ?= baseline
b ?=
k ?=
ifneq ($(filter diff,$(GOALS)),)
  ifeq ($(b),)
    $(error make diff needs b=<scenario> (and a=, default baseline): make diff region=$(region) b=new_bridge)
  endif
endif
diff_run = $(if $(filter baseline,$(1)),,runs/$(1)/default/)
DIFF := $(OUT)/diff/$(a)__$(b).gpkg
PLAN_GOAL := $(filter plan,$(GOALS))
DIFF_GOAL := $(filter diff,$(GOALS))
# Every run folder this invocation may build: the baseline, season=/scenario=, diff's a and b.
RUNS := $(sort base/ $(RUN_DIR) $(if $(DIFF_GOAL),$(call diff_run,$(a)) $(call diff_run,$(b))))
run_of = $(patsubst base/%,%,$(1))

# --- the code each stage runs --------------------------------------------------------------
# The stages that take long (fetch, extract, network, catchments, plan, graphml) depend on the
# modules they run (tests/test_make.py and tests/test_graphml.py check these lists against the
# modules each stage really runs); the quick ones that draw and write pages (maps, report, qgis, seasons, diff) on the
# whole package: every module and every file of package data (templates, Leaflet, styles).
PACKAGE := $(shell find pipeline -type f ! -path '*/__pycache__/*' ! -name '*.pyc' | LC_ALL=C sort)
CORE := pipeline/__init__.py pipeline/__main__.py pipeline/cli.py pipeline/errors.py \
        pipeline/_io.py pipeline/machine.py pipeline/units.py pipeline/people.py pipeline/crs.py \
        pipeline/config/*.py \
        pipeline/*/__init__.py pipeline/stages/_common.py pipeline/outputs/export.py \
        pipeline/outputs/gpkg_catalogue.py
LOOK := pipeline/outputs/i18n.py pipeline/outputs/palette.py
ROUTE := pipeline/access/walk_and_drive.py pipeline/access/routing.py \
        pipeline/access/travel_model.py pipeline/network/graph.py pipeline/network/what_if.py \
        pipeline/network/edge_pairs.py
# (kind = "overpass": the Overpass source reads its answer with the extract's reader)
CODE_fetch := $(CORE) pipeline/stages/fetch.py pipeline/inputs/fetch.py \
        pipeline/inputs/overpass.py pipeline/inputs/osm.py pipeline/inputs/service_points.py
CODE_extract := $(CORE) pipeline/stages/extract.py pipeline/inputs/osm.py \
        pipeline/inputs/reference.py pipeline/inputs/settlement_table.py \
        pipeline/inputs/service_points.py pipeline/inputs/planner_csv.py
CODE_network := $(CORE) pipeline/stages/network.py pipeline/network/graph.py
CODE_graphml := $(CORE) pipeline/stages/graphml.py pipeline/network/graphml.py \
        pipeline/network/graph.py
CODE_catchments := $(CORE) pipeline/stages/catchments.py pipeline/access/*.py $(ROUTE) \
        pipeline/inputs/planner_csv.py pipeline/inputs/settlement_table.py pipeline/outputs/layers.py \
        pipeline/outputs/summary.py \
        pipeline/outputs/qgis.py $(LOOK)
CODE_plan := $(CORE) pipeline/stages/plan.py pipeline/analysis/planning/*.py \
        pipeline/access/catchments.py pipeline/access/surface.py pipeline/inputs/settlement_table.py \
        $(ROUTE) \
        $(wildcard regions/russia/*.csv)
CODE_maps := $(PACKAGE)
CODE_report := $(PACKAGE)
CODE_qgis := $(PACKAGE)
CODE_seasons := $(PACKAGE)
CODE_diff := $(PACKAGE)
# A what-if scenario's run also reads the scenario code.
code_of_run = $(CODE_$(1)) $(if $(filter runs/baseline/%,$(2)),,$(if $(2),pipeline/network/scenarios.py))
# (Only files that exist: a module that is gone is not a missing prerequisite.)
$(foreach s,fetch extract network catchments plan graphml,$(eval CODE_$(s) := $$(sort $$(wildcard $$(CODE_$(s))))))

# `make regions="vologda andorra …"`: many regions at once on Dask (see `many` below).
ifdef regions
  .DEFAULT_GOAL := many
else
  .DEFAULT_GOAL := all
endif
.PHONY: all test test-fast lock lint clean help fetch extract network catchments maps report qgis check \
        seasons diff many bench bench-valhalla plan config-stamps graphml

all: $(MAP) $(REPORT) $(QGZ) ## run every stage for the region
	@echo "Results for $(region):"
	@echo "  GeoPackage   $(RESULTS)"
	@echo "  travel times $(call tif,$(RUN_DIR))"
	@echo "  figures      $(OUT)/$(RUN_DIR)summary.json, $(OUT)/$(RUN_DIR)summary.csv"
	@echo "  map          $(MAP)"
	@echo "  report       $(REPORT)"
	@echo "  spreadsheet  $(CSV)"
	@echo "  QGIS project $(QGZ)"
	@echo "  logs         $(ROOT)logs/$(region)/"

# The venv holds the versions of constraints.txt (what CI tests); `make lock` rewrites it from
# the venv after a dependency in pyproject.toml changed.
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(VENV)/bin/python || $(PYTHON_BOOT) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

# The package's own bytecode, as pip writes it for every library it installs. Python writes it
# at the first import, but not where PYTHONDONTWRITEBYTECODE is set (as on our CI machines): then
# every stage process compiles the modules it imports from source again (about 1 s for all of
# them). Remade when a module changes; a module changed since is compiled as before, never stale.
$(VENV)/.bytecode: $(filter %.py,$(PACKAGE)) $(wildcard bench/*.py) | $(VENV)/.installed
	$(VENV)/bin/python -m compileall -q pipeline bench
	touch $@

lock: | $(INSTALLED) ## rewrite constraints.txt: the venv's versions, newest that pyproject.toml allows
	$(VENV)/bin/python -m pip install --quiet --upgrade -e '.[test]'
	{ echo "# The exact versions the venv and CI install (pip install -c constraints.txt -e '.[test]')."; \
	  echo "# Made by \`make lock\` (pip freeze of the venv, without the project); do not edit by hand."; \
	  $(VENV)/bin/python -m pip freeze --exclude-editable | LC_ALL=C sort -f; } > constraints.txt.tmp
	mv -f constraints.txt.tmp constraints.txt
	touch $(VENV)/.installed

# --- the stamps: what each stage reads of the region file ----------------------------------

STAMPS := $(addprefix $(CONF)/,fetch.json extract.json network.json seasons.json graphml.json) \
          $(foreach r,$(RUNS),$(addprefix $(CONF)/$(call run_of,$(r)),catchments.json maps.json report.json qgis.json)) \
          $(if $(PLAN_GOAL),$(CONF)/plan.json) $(if $(DIFF_GOAL),$(CONF)/diff.json)
DEPS_ARGS := $(RUN_ARGS) $(if $(PLAN_GOAL),--plan $(if $(k),--k $(call quote,$(k)))) \
             $(if $(DIFF_GOAL),--a $(a) --b $(b))

# Always run; each stamp's date moves only when its content changed, so what depends on an
# unchanged stamp is not redone. It also checks the region file, season, scenario and k
# before any stage starts.
config-stamps: | $(INSTALLED)
	@$(RUN) deps $(REGION_ARGS) $(DEPS_ARGS) --quiet $(SERVE_ARGS)

$(STAMPS): config-stamps ;

# --- the stages ----------------------------------------------------------------------------

# $(call stage,DONE,OUTPUTS,PREREQUISITES,COMMAND): COMMAND makes OUTPUTS from PREREQUISITES.
# DONE (under .config/) stands for the stage's run: it is dated when the run begins and put in
# place only when the run succeeds, so a failed or interrupted run is redone next time and a
# run that leaves an output unchanged (fetch's SOURCES.json) redoes nothing after it. An
# output deleted by hand is made again.
define stage
$(1): $(3) | $(INSTALLED)
	@mkdir -p $$(@D) && touch $$@.begun
	$(4)
	@mv -f $$@.begun $$@
$(2): $(1)
	@test -f $$@ || { touch $(1).begun && $(4) && mv -f $(1).begun $(1); }
.PRECIOUS: $(1) $(2)
endef

# fetch always asks: it reuses a verified download at once, or retries one that failed offline.
fetch: | $(INSTALLED) ## get the OSM extract (or record the offline fallback)
	$(RUN) fetch $(REGION_ARGS)

$(eval $(call stage,$(CONF)/fetch.done,$(SOURCES),$(CONF)/fetch.json $(CODE_fetch),$(RUN) fetch $(REGION_ARGS)))

extract: $(OSM) ## roads, settlements and boundaries from the extract
$(eval $(call stage,$(CONF)/extract.done,$(OSM),$(SOURCES) $(CONF)/extract.json $(CODE_extract),$(RUN) extract $(REGION_ARGS)))

network: $(NETWORK) ## the routable road graph
$(eval $(call stage,$(CONF)/network.done,$(NETWORK),$(OSM) $(CONF)/network.json $(CODE_network),$(RUN) network $(REGION_ARGS)))

# The baseline map and report show the plan (and the report the seasons) once made; with
# `make plan` they are made after it.
PLAN_OUTPUTS := $(PLAN_DIR)/plan.json $(PLAN_DIR)/plan.gpkg $(PLAN_DIR)/proposals.csv \
                $(PLAN_DIR)/cross_border.csv $(PLAN_DIR)/monotown_reach.csv
BASE_MAP_EXTRA := $(if $(PLAN_GOAL),$(CONF)/plan.done,$(wildcard $(PLAN_DIR)/plan.gpkg))
BASE_REPORT_EXTRA := $(wildcard $(OUT)/seasons.json) \
                     $(if $(PLAN_GOAL),$(CONF)/plan.done,$(wildcard $(PLAN_DIR)/plan.json))

# The four stages of a run, for a run folder $(1) ('' or runs/<scenario>/<season>/) with the
# command-line arguments $(2).
define run_stages
$(call stage,$(CONF)/$(1)catchments.done,$(call results,$(1)) $(call tif,$(1)) $(OUT)/$(1)summary.json $(OUT)/$(1)summary.csv,$(NETWORK) $(OSM) $(CONF)/$(1)catchments.json $(call code_of_run,catchments,$(1)),$(RUN) catchments $(REGION_ARGS) $(2))
$(call stage,$(CONF)/$(1)maps.done,$(call map,$(1)),$(call results,$(1)) $(CONF)/$(1)maps.json $(CODE_maps) $(if $(1),,$(BASE_MAP_EXTRA)),$(RUN) maps $(REGION_ARGS) $(2))
$(call stage,$(CONF)/$(1)report.done,$(call report,$(1)) $(OUT)/$(1)settlements.csv,$(call results,$(1)) $(OUT)/$(1)summary.json $(SOURCES) $(CONF)/$(1)report.json $(CODE_report) $(if $(1),,$(BASE_REPORT_EXTRA)),$(RUN) report $(REGION_ARGS) $(2))
$(call stage,$(CONF)/$(1)qgis.done,$(call qgz,$(1)) $(OUT)/$(1)travel_time.qml,$(call results,$(1)) $(call tif,$(1)) $(CONF)/$(1)qgis.json $(CODE_qgis),$(RUN) qgis $(REGION_ARGS) $(2))
endef
run_args = $(if $(1),$(if $(filter-out baseline,$(word 2,$(subst /, ,$(1)))),--scenario $(word 2,$(subst /, ,$(1)))) $(if $(filter-out default,$(word 3,$(subst /, ,$(1)))),--season $(word 3,$(subst /, ,$(1)))))
$(foreach r,$(RUNS),$(eval $(call run_stages,$(call run_of,$(r)),$(call run_args,$(call run_of,$(r))))))

catchments: $(RESULTS) $(call tif,$(RUN_DIR)) ## travel times, catchments, gaps, figures
maps: $(MAP) ## the HTML map
report: $(REPORT) $(CSV) ## the reviewer's report page and settlements.csv
qgis: $(QGZ) ## the QGIS project (and the raster's default style)

seasons: $(SEASONS) ## every season: worst/best season, all-season access, crossings
$(eval $(call stage,$(CONF)/seasons.done,$(SEASONS),$(NETWORK) $(OSM) $(CONF)/seasons.json $(CODE_seasons),$(RUN) seasons $(REGION_ARGS)))

# Not part of `make`: the road graph for osmnx/networkx users, made only when asked.
graphml: $(GRAPHML) ## the road graph as GraphML for osmnx and networkx (default season)
$(eval $(call stage,$(CONF)/graphml.done,$(GRAPHML),$(NETWORK) $(OSM) $(CONF)/graphml.json $(CODE_graphml),$(RUN) graphml $(REGION_ARGS)))

diff: $(DIFF) ## compare two runs: a=baseline b=<scenario>
ifneq ($(DIFF_GOAL),)
$(eval $(call stage,$(CONF)/diff/$(a)__$(b).done,$(DIFF),$(call results,$(call diff_run,$(a))) $(call results,$(call diff_run,$(b))) $(CONF)/diff.json $(CODE_diff),$(RUN) diff $(REGION_ARGS) --a $(a) --b $(b)))
endif

# Not part of `make`: the plan is made only when asked, then the map and report show it.
plan: $(PLAN_DIR)/plan.json $(call map,) $(call report,) ## planning answers: anchors to add (k=N), inter-municipal ties, monotown reach
ifneq ($(PLAN_GOAL),)
$(eval $(call stage,$(CONF)/plan.done,$(PLAN_OUTPUTS),$(call results,) $(NETWORK) $(OSM) $(CONF)/plan.json $(CODE_plan),$(RUN) plan $(REGION_ARGS) $(if $(k),--k $(call quote,$(k)))))
endif

check: | $(INSTALLED) ## validate the region file, the files it names, its scenarios and (once extracted) its names
	$(RUN) check $(REGION_ARGS)

# --- everything else -----------------------------------------------------------------------

test: | $(INSTALLED) ## run the whole test suite (what CI runs)
	$(PYTHON) -m pytest

test-fast: | $(INSTALLED) ## the test suite without the slower end-to-end region runs (-m "not integration")
	$(PYTHON) -m pytest -m "not integration"

many: | $(INSTALLED) ## regions="a b …": each region through this Makefile, in parallel on Dask (DASK_SCHEDULER=tcp://host:port: a cluster)
	$(if $(regions),,$(error make many needs regions="name1 name2 …"))
	PIPELINE_MAKE=$(call quote,$(MAKE)) $(RUN) many --regions $(regions)
# (Each region's make gets none of this make's variables: see pipeline/stages/many_regions.py.)
unexport regions

# sizes="district" for one size, sizes=valhalla for the Valhalla comparison alone, repeat=N
# runs of each timed command (3, the fastest counts); see
# bench/README.md. Not part of `make test`. The Valhalla part builds its own Python 3.12 venv
# (bench/out/valhalla-venv, from bench/requirements-valhalla.txt) on first use; rev=COMMIT runs
# the pipeline/ of that commit instead of the work tree's.
bench: | $(INSTALLED) ## benchmark: synthetic district/oblast/macro regions vs osmnx+networkx, Andorra vs Valhalla
	$(PYTHON) -m bench.run $(if $(sizes),--sizes $(sizes)) $(if $(rev),--rev $(rev)) $(if $(repeat),--repeat $(repeat))

bench-valhalla: | $(INSTALLED) ## only the Andorra comparison with Valhalla (rev=COMMIT: that commit's pipeline/)
	$(PYTHON) -m bench.run --sizes valhalla $(if $(rev),--rev $(rev))

lint: | $(INSTALLED) ## ruff checks
	$(PYTHON) -m ruff check pipeline tests bench
	$(PYTHON) -m ruff format --check pipeline tests bench

clean: ## remove the region's results, maps and logs (downloads in data_raw/ are kept)
	rm -rf $(OUT) $(MAPS) $(ROOT)logs/$(region)

help: ## list the targets and the variables
	@echo "make [target] [variable=value …]   regions: $(REGION_LIST)"
	@echo "targets:"
	@grep -E '^[a-z-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | sed -E 's/:.*## /\t/' | sort | sed 's/^/  /'
	@echo "variables:"
	@echo "  region=NAME      a region of regions/ (default: vologda); $(NAME_RULE)"
	@echo "  config=PATH      a region file anywhere, instead of region= (spaces and Cyrillic in the path are fine)"
	@echo "  season=NAME      one season of the region (results under runs/baseline/<season>/)"
	@echo "  scenario=NAME    one what-if scenario of regions/<region>/scenarios/ (results under runs/<scenario>/default/)"
	@echo "  k=N              make plan: anchors to propose (default: [planning] k of the region file)"
	@echo "  a=RUN b=RUN      make diff: the two runs to compare (a: default baseline; b: a scenario)"
	@echo "  regions=\"A B …\"  many regions at once on Dask: names, or paths to region files"
	@echo "  jobs=N           stages run at once where they do not need each other (default: 2; jobs=1: one at a time)"
	@echo "  server=no        each stage imports the pipeline on its own, not in a fork of make's stage server (default: yes)"
