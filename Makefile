# Build, lint and test entry points of the clickhouse.cloud collection.
# docs/development.md says what each target does and costs; CI runs `make test` (.ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# One step at a time even under -j: the targets share .venv, ~/.ansible/test and the emulator ports.
.NOTPARALLEL:

PYTHON ?= python3
# Optional second interpreter for runs on ansible-core 2.21 (needs Python >= 3.12); skipped where absent.
PY313 ?= $(firstword $(wildcard $(or $(PYENV_ROOT),$(HOME)/.pyenv)/versions/3.13*/bin/python3.13))
VENV := .venv
VENV_NEXT := .venv-2.21
COLLECTION := ansible_collections/clickhouse/cloud
VERSION = $(shell sed -n 's/^version: *//p' galaxy.yml)
TARBALL = dist/clickhouse-cloud-$(VERSION).tar.gz
PG_BINDIR ?= /usr/lib/postgresql/15/bin
SYSTEM_DEPS := $(PG_BINDIR)/postgres /usr/bin/shellcheck /usr/bin/chromium

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# ansible, ansible-lint and molecule find clickhouse.cloud through a symlink tree to this checkout
# (ansible-test must not see it: it works on its own copies, see collection_copy).
lint molecule demo bench: export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections

# $(call found,DIR): the first test file (pytest's default names) under DIR, or nothing
found = $(shell find $(1) \( -name 'test_*.py' -o -name '*_test.py' \) -print -quit 2>/dev/null)
# $(call with_next,CMD): CMD where the 2.21 venv exists, else a note
with_next = $(if $(PY313),$(1),@echo "note: no Python 3.13 interpreter here: skipping the ansible-core 2.21 run")

# ansible-test only runs inside a real .../ansible_collections/clickhouse/cloud directory (a
# symlink gets resolved and rejected), so sanity/units/integration each work on a fresh copy
# .build/<target>/ansible_collections/clickhouse/cloud of what git would commit: tracked plus
# untracked-not-ignored files (no rsync on these machines). ansible-test takes its file list from
# the nearest .git upwards, which would be this checkout, where .build/ is ignored: "All targets
# skipped". So each copy gets an empty repository of its own (git init, no commit needed).
# tests/emulator, tests/bench and tools/ are left out: they are development tooling, not collection content
# (galaxy.yml's build_ignore drops them from the tarball too), and ruff lints them in `make lint`.
# Sanity would judge them by collection rules that do not fit: pylint in a venv without the
# emulator's psycopg/jsonschema, the import and shebang tests.
COPY_EXCLUDE := tests/emulator tests/bench tests/soak tools
define collection_copy
rm -rf .build/$(1) && mkdir -p .build/$(1)/$(COLLECTION)
git ls-files -z --cached --others --exclude-standard --deduplicate -- . $(foreach p,$(COPY_EXCLUDE),':!:$(p)') \
  | xargs -0 -r sh -c 'for f; do if [ -e "$$f" ] || [ -L "$$f" ]; then printf "%s\0" "$$f"; fi; done' sh \
  | xargs -0 -r cp -P --parents -t .build/$(1)/$(COLLECTION)
git init -q .build/$(1)/$(COLLECTION)
endef
# $(call ansible_test,VENV,PYTHON_VERSION,COPY,ARGS): ansible-test from VENV in the copy .build/COPY.
# ansible-test exits 0 when it skips every target (e.g. when it sees no files): that fails here.
ansible_test = (cd .build/$(3)/$(COLLECTION) && PATH=$(CURDIR)/$(1)/bin:$$PATH ansible-test $(4) --python $(2) --local) 2>&1 \
  | tee .build/$(3)/ansible-test-$(2).log; \
  if grep -q '^WARNING: All targets skipped' .build/$(3)/ansible-test-$(2).log; then echo "ansible-test $(firstword $(4)): NOTHING RAN"; exit 1; fi

.PHONY: help setup lint sanity units emulator-test integration integration-run molecule awx-test release-test secret-scan crash-test soak soak-smoke docs-lint docs test demo bench dist ee-context ee-image clean distclean

help:
	@echo "make setup          venvs, pinned dev tools, emulator (editable), ansible-test offline pip shim"
	@echo "make lint           ansible-lint (production), ruff, shellcheck, antsibull-changelog lint"
	@echo "make sanity         ansible-test sanity (2.19/py3.11, and 2.21/py3.13 where available)"
	@echo "make units          ansible-test units (same interpreters)"
	@echo "make emulator-test  pytest tests/emulator/tests"
	@echo "make integration    ansible-test integration against a freshly started emulator"
	@echo "make integration-run  the same against an emulator you started (tests/integration/README.md)"
	@echo "make molecule       molecule test --all against a freshly started emulator"
	@echo "make awx-test       playbooks run by ansible-runner as AWX runs them (tests/awx)"
	@echo "make secret-scan    every module and fleet playbook at -vvvv, the modules through ansible-runner too: no key secret or password outside the chosen files (tests/secrets)"
	@echo "make crash-test     SIGKILL of ansible-playbook, then of the emulator, during a fleet create; the re-run converges (tests/crash)"
	@echo "make soak           the fleet playbooks under seeded faults, 5 rounds of 20 services and one on PostgreSQL; a table of targets (tests/soak)"
	@echo "make soak-smoke     the soak's checks tested, then one small round of it (in make test)"
	@echo "make release-test   the tarball installed with ansible-galaxy, its playbooks run from there (tests/release)"
	@echo "make report-test    the fleet job's HTML report rendered by headless chromium: PNG and DOM checked (tests/report)"
	@echo "make docs-lint      antsibull-docs lint-collection-docs (modules, plugins, roles, references)"
	@echo "make docs           the docs site, offline (antsibull-docs + Sphinx) in .build/docsite"
	@echo "make test           all of the above (what CI runs), plus the EE context check"
	@echo "make demo | bench | dist | ee-context | ee-image | clean | distclean"

# ---------------------------------------------------------------------------------------------
# setup: every step is a file target, so a second run only checks timestamps and the pip shim.

setup: $(VENV)/.stamp $(if $(PY313),$(VENV_NEXT)/.stamp) .collections/$(COLLECTION) $(SYSTEM_DEPS)
	@$(VENV)/bin/python tools/ansible_test_pip_shim.py --install
	$(call with_next,@$(VENV_NEXT)/bin/python tools/ansible_test_pip_shim.py --install)

# A requirement change rebuilds the venv from scratch, so nothing unpinned lingers in it.
$(VENV)/.stamp: requirements-dev.txt requirements-test.txt tests/emulator/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "$(PYTHON) must be Python 3.11 (ansible-core 2.19)")'
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q pip==26.3
	$(VENV)/bin/pip install -q -r requirements-dev.txt -e tests/emulator
	touch $@

# The emulator too: unit tests drive the modules against it (and skip those tests without it).
$(VENV_NEXT)/.stamp: requirements-dev-2.21.txt requirements-test.txt tests/emulator/pyproject.toml
	rm -rf $(VENV_NEXT)
	$(PY313) -m venv $(VENV_NEXT)
	$(VENV_NEXT)/bin/pip install -q pip==26.3
	$(VENV_NEXT)/bin/pip install -q -r requirements-dev-2.21.txt -e tests/emulator
	touch $@

.collections/$(COLLECTION):
	mkdir -p $(@D)
	ln -sfn ../../.. $@

# Debian packages, installed where missing (CI and these dev machines run as root): the
# emulator runs real PostgreSQL 15 servers; shellcheck serves `make lint` and ansible-test's
# shellcheck sanity test, which otherwise skips with a mere warning; headless chromium renders the HTML
# report in `make report-test`, as a person would see it.
$(PG_BINDIR)/postgres: DEB := postgresql-15
/usr/bin/shellcheck: DEB := shellcheck
/usr/bin/chromium: DEB := chromium
$(SYSTEM_DEPS):
	@echo "$@ not found: installing the Debian package $(DEB)"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEB)

# ---------------------------------------------------------------------------------------------
# checks

# Every linter runs, so one report shows all findings; the target fails if any of them did.
SHELL_SCRIPTS = .ci/run $(shell grep -lE '^#!.*\b(ba)?sh\b' tools/* 2>/dev/null)
LINTERS = "ansible-lint" "ruff check" "shellcheck $(SHELL_SCRIPTS)" "antsibull-changelog lint"
lint: setup
	@rc=0; for cmd in $(LINTERS); do echo "+ $$cmd"; $$cmd || rc=1; done; exit $$rc

sanity: setup
	$(call collection_copy,sanity)
	$(call ansible_test,$(VENV),3.11,sanity,sanity $(SANITY_ARGS))
	$(call with_next,$(call ansible_test,$(VENV_NEXT),3.13,sanity,sanity $(SANITY_ARGS)))

# A test target never passes silently on nothing: with no tests it says so in capitals.
# The unit tests check the code against the API contract, which ansible-test's copy cannot reach in ../shared.
define units_recipe
$(call collection_copy,units)
install -D -m 0644 ../shared/api/openapi-postgres.json .build/units/$(COLLECTION)/tests/unit/openapi-postgres.json
$(call ansible_test,$(VENV),3.11,units,units $(UNITS_ARGS))
$(call with_next,$(call ansible_test,$(VENV_NEXT),3.13,units,units $(UNITS_ARGS)))
endef
units: setup
	$(if $(call found,tests/unit),$(units_recipe),@echo "units: NO UNIT TESTS (no tests/unit/**/test_*.py): nothing ran")

emulator-test: setup
	$(if $(call found,tests/emulator/tests),pytest tests/emulator/tests $(PYTEST_ARGS),@echo "emulator-test: NO EMULATOR TESTS under tests/emulator/tests: nothing ran")

# ansible-test hands the modules a filtered environment, so the emulator's credentials reach the
# targets as variables in tests/integration/integration_config.yml (tests/integration/README.md).
# Replicas and restores wait for a primary's first backup: 5 s here, not a minute (postgres_replicas);
# CHC_EMULATOR_ARGS come after, so they win.
INTEGRATION_EMULATOR_ARGS := --first-backup-seconds 5
integration: setup
	$(if $(wildcard tests/integration/targets/*/),CHC_EMULATOR_ARGS="$(INTEGRATION_EMULATOR_ARGS) $(CHC_EMULATOR_ARGS)" tools/emulator-ctl run -- $(MAKE) --no-print-directory integration-run,@echo "integration: NO INTEGRATION TARGETS under tests/integration/targets: nothing ran")

# The integration run proper, against the emulator named by CHC_EMULATOR_DATA_DIR; for a dev loop
# that keeps one emulator: tools/emulator-ctl start DIR; source DIR/emulator.env; make integration-run ...
# INTEGRATION_COPY names the copy under .build/, so two runs side by side (one target each) keep apart.
INTEGRATION_COPY ?= integration
integration-run:
	@test -f "$${CHC_EMULATOR_DATA_DIR:-}/emulator-vars.yml" || { echo "integration-run: no running emulator (CHC_EMULATOR_DATA_DIR): use make integration"; exit 1; }
	$(call collection_copy,$(INTEGRATION_COPY))
	install -D -m 0644 "$$CHC_EMULATOR_DATA_DIR/emulator-vars.yml" .build/$(INTEGRATION_COPY)/$(COLLECTION)/tests/integration/integration_config.yml
	$(call ansible_test,$(VENV),3.11,$(INTEGRATION_COPY),integration $(INTEGRATION_ARGS))

# Scenarios get the emulator from here (CLICKHOUSE_* in the environment) and must not start their own.
molecule: setup
	$(if $(wildcard extensions/molecule/*/molecule.yml),tools/emulator-ctl run -- molecule test --all,@echo "molecule: NO SCENARIOS (extensions/molecule/*/molecule.yml): nothing ran")

# Jobs as AWX runs them: ansible-runner, a private data dir, the credential type's environment (docs/awx.md);
# each test module starts an emulator of its own. The collection is imported from the symlink tree.
awx-test: setup
	PYTHONPATH=$(CURDIR)/.collections pytest tests/awx $(PYTEST_ARGS)

# antsibull-docs' own check of every module, plugin and role documentation, and of the links between them.
docs-lint: setup
	ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.collections antsibull-docs lint-collection-docs --plugin-docs \
	  --validate-collection-refs self --check-extra-docs-refs .

# The docs site in .build/docsite/build/html: a page per module, role and plugin from its own documentation, the
# guides of docs/*.md (through myst-parser; their links into the repository point at it on GitHub) and
# docs/docsite/index.rst. Offline: no intersphinx (its inventories are downloads) and no -W (without them the
# references to docs.ansible.com labels stay unresolved, a warning each).
DOCSITE := .build/docsite
REPO_URL = $(shell sed -n 's/^repository: *//p' galaxy.yml)
docs: setup
	rm -rf $(DOCSITE) && install -d -m 0700 $(DOCSITE)
	ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.collections antsibull-docs sphinx-init --use-current --lenient --dest-dir $(DOCSITE) \
	  --project clickhouse.cloud --copyright "ClickHouse Cloud collection maintainers" --title "clickhouse.cloud collection" \
	  --index-rst-source docs/docsite/index.rst clickhouse.cloud >/dev/null
	install -d $(DOCSITE)/rst/guides
	for f in docs/*.md; do sed 's#](\.\./#]($(REPO_URL)/blob/main/#g' "$$f" > $(DOCSITE)/rst/guides/$$(basename "$$f"); done
	printf '%s\n' "extensions.append('myst_parser')" "myst_heading_anchors = 3" "intersphinx_mapping = {}" >> $(DOCSITE)/conf.py
	ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/.collections bash $(DOCSITE)/build.sh > $(DOCSITE)/build.log 2>&1 || { tail -30 $(DOCSITE)/build.log; exit 1; }
	@echo "docs: $(DOCSITE)/build/html/index.html ($$(grep -c 'WARNING' $(DOCSITE)/build.log) warnings, in $(DOCSITE)/build.log)"

# The release as users get it: the tarball installed with ansible-galaxy into an empty collections path, and its
# playbooks, inventory plugin, docs and changelog entry used from there against an emulator (tests/release).
release-test: setup
	PYTHONPATH=$(CURDIR)/.collections pytest tests/release $(PYTEST_ARGS)

# The HTML fleet report as a person sees it: the fleet job against an emulator with real servers and some queries,
# the page rendered to a PNG and a DOM by Debian's headless chromium; a second report leaves it byte-identical.
.PHONY: report-test
report-test: setup
	PYTHONPATH=$(CURDIR)/.collections pytest tests/report $(PYTEST_ARGS)

# Every module and fleet playbook at -vvvv against an emulator, and every module through ansible_runner.run as AWX
# runs a job (verbosity 4, the credential's env/envvars): no key secret or password in any output, job event or file
# but the 0600 files the user chose and the job's own inputs (docs/credentials.md's promises; tests/secrets).
secret-scan: setup
	PYTHONPATH=$(CURDIR)/.collections pytest tests/secrets $(PYTEST_ARGS)

# SIGKILL of ansible-playbook and of the emulator among a fleet's creates, then the re-run: no duplicate, every
# password kept or warned about (tests/crash). The two tests mostly wait (pacing, provisioning): side by side.
crash-test: setup
	PYTHONPATH=$(CURDIR)/.collections pytest -n 2 tests/crash $(PYTEST_ARGS)

# provision, change, tune, decommission under seeded 5xx/429/lost answers/latency, checked against the emulator's
# state and the servers after each step; exits 1 when a target is missed (tests/soak/README.md). About 5 min;
# soak-smoke (in test) about 50 s.
soak: setup
	python tests/soak/soak.py $(SOAK_ARGS)

soak-smoke: setup
	PYTHONPATH=$(CURDIR)/.collections pytest tests/soak $(PYTEST_ARGS)
	python tests/soak/soak.py --smoke

test: setup lint emulator-test units sanity integration molecule awx-test release-test report-test secret-scan crash-test soak-smoke docs-lint docs ee-context

# ---------------------------------------------------------------------------------------------
# packaging and the scripts other engineers own

dist: setup
	ansible-galaxy collection build --force --output-path dist

# ansible-builder create only writes the build context (Containerfile + _build/); building the
# image needs podman or docker. The EE file names the tarball, so it must follow galaxy.yml's version.
# Then the Python and system requirements the image would get: the tarball installed as the image's
# galaxy stage installs it, read by ansible-builder introspect as its builder stage reads it.
EE_INTROSPECT := .build/ee-introspect
ee-context: dist
	@grep -q "$(notdir $(TARBALL))" execution-environment.yml || { echo "execution-environment.yml does not name $(notdir $(TARBALL)): update it to galaxy.yml's version"; exit 1; }
	ansible-builder create -f execution-environment.yml -c .build/ee-context --output-filename Containerfile
	@test -f .build/ee-context/_build/collections/$(notdir $(TARBALL)) || { echo "ee-context: the tarball is not in the context"; exit 1; }
	rm -rf $(EE_INTROSPECT) && ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/$(EE_INTROSPECT) ansible-galaxy collection install --offline -p $(EE_INTROSPECT) $(TARBALL) >/dev/null
	ansible-builder introspect --sanitize $(EE_INTROSPECT) | tee $(EE_INTROSPECT).txt
	@for req in httpx pydantic; do grep -q "^- '$$req.*from collection clickhouse.cloud'" $(EE_INTROSPECT).txt \
	  || { echo "ee-context: introspect does not find $$req in the installed collection"; exit 1; }; done

# The image itself, and the fleet job run inside it against an emulator: podman (installed from Debian when
# missing), as root; about a minute the first time. Not part of `make test`. tools/ee-image says how.
ee-image: ee-context
	tools/ee-image

demo: setup
	@test -x tools/demo || { echo "demo: tools/demo is missing or not executable (it is written by another engineer)"; exit 1; }
	tools/demo

bench: setup
	$(if $(wildcard tests/bench/run.py),python tests/bench/run.py $(BENCH_ARGS),@echo "bench: tests/bench/run.py does not exist yet: nothing ran")

clean:
	rm -rf .build dist .collections collections .ansible tests/output tests/integration/inventory \
	  tests/integration/integration_config.yml changelogs/.plugin-cache.yaml .pytest_cache .ruff_cache
	find . -path ./.git -prune -o -path './.venv*' -prune -o -type d -name __pycache__ -print0 | xargs -0 -r rm -rf

distclean: clean
	rm -rf $(VENV) $(VENV_NEXT)
