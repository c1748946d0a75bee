# fleetbench — two commands do all set-up on a fresh Debian machine (root, Python 3.11):
#   make demo   install what is needed, start the loopback lab, scan it, print where the reports are
#   make test   install what is needed and run every test
.PHONY: demo test lint bench bench-workers deps venv lab-up lab-down clean

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
OUT    ?= reports

# Debian packages: sshd for the lab nodes, a C compiler for the lab's stub processes,
# busybox/dash to test the probe under several shells, iproute2/util-linux for namespaces.
# sudo: the fault lab's "sudo asks for a password" host. chromium (+ fonts for readable
# screenshots): the HTML report is rendered in a real headless browser by the tests.
# poppler-utils: pdftotext/pdfinfo read the report printed to PDF back (font size, page numbers).
# ruby, shellcheck: the Vagrantfile's syntax and the Vagrant provisioning scripts are checked (no hypervisor here).
# postgresql: the tests start their own unprivileged server (tests/pg.py); createcluster.conf is set first
# so that installing the package creates (and starts) no system cluster nobody asked for.
APT_PACKAGES := openssh-server openssh-client gcc libc6-dev busybox dash util-linux iproute2 procps sudo \
                chromium fonts-dejavu-core poppler-utils ruby shellcheck postgresql

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if ! [ -e /etc/postgresql-common/createcluster.conf ]; then mkdir -p /etc/postgresql-common/createcluster.d && \
	    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/fleetbench-no-main-cluster.conf; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@# a REAL kubectl answers the cluster query in the lab (tests/lab/kubeapi.py); any kubectl on PATH will do,
	@# else Debian's kubernetes-client (Apache-2.0)
	@command -v kubectl >/dev/null 2>&1 || { echo "installing Debian package: kubernetes-client (kubectl)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  kubernetes-client >/dev/null; }

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: deps venv
	$(PY) -m tests.lab up
	@echo
	@$(VENV)/bin/fleetbench scan .lab/inventory.yaml --out-dir $(OUT) --format all; code=$$?; \
	echo; echo "fleetbench exited with $$code (0 clean, 3 = some FAIL, as expected on this lab; 4 = hosts not assessed)"; \
	echo "Reports of this run: $$(cd $(OUT)/latest && pwd -P)/ (also $$(cd $(OUT) && pwd)/latest/, the newest run)"; \
	echo "The lab keeps running for you to explore (inventory: .lab/inventory.yaml); 'make lab-down' stops it."

lab-up: deps venv
	$(PY) -m tests.lab up

lab-down: venv
	$(PY) -m tests.lab down

# Types and lint are part of the tests: mypy --strict over fleetbench/, ruff over the code and tests.
lint: venv
	$(PY) -m mypy
	$(PY) -m ruff check fleetbench tests bench

test: deps venv lint
	$(PY) -m pytest -q

# Benchmark against OpenSSH fan-out, ansible-core and per-check execs over a 50 ms RTT, and a 1,000-host run
# (bench/fleet.py; not a test). ansible-core is a baseline only, so it lives in its own virtualenv.
# HOSTS=200 (the comparison's fleet sizes, comma-separated), BIG=1000 (0: skip), RTT_MS=50.
HOSTS ?= 200
BIG ?= 1000
RTT_MS ?= 50
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install -q -e . ansible-core
	touch $@

bench: deps $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python bench/fleet.py --hosts $(HOSTS) --big $(BIG) --rtt-ms $(RTT_MS)

# hosts/hour against --workers N (bench/workers.py; not a test): 1, 2 and the default on one lab
bench-workers: deps venv
	$(PY) bench/workers.py

clean: lab-down
	rm -rf $(VENV) $(BENCH_VENV) $(OUT) .lab
