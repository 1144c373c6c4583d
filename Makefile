# The README's two commands: `make demo` and `make test`. Both install what they need.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
BIN   := $(VENV)/bin
PYTEST_ARGS ?=

# Debian packages the product and its tests use, and a file that proves each is there.
SYS_PKGS := zookeeper:/usr/share/java/zookeeper.jar \
            iproute2:/usr/sbin/ip \
            netplan.io:/usr/sbin/netplan \
            prometheus:/usr/bin/promtool \
            keepalived:/usr/sbin/keepalived \
            iputils-arping:/usr/bin/arping \
            systemd:/usr/bin/systemd-analyze \
            curl:/usr/bin/curl \
            iptables:/usr/sbin/iptables-legacy

.PHONY: help sysdeps distro-tools venv lint typecheck imports deps unit pytest test demo bench clean constraints wheel

help:
	@echo "make demo   - run the product locally (ZooKeeper, emulator, lab, controllers, a failover)"
	@echo "make test   - lint, type-check, import contracts and the whole test suite"
	@echo "make bench  - the benchmarks (figures land in benchmarks/results/, the README's Measured section follows)"

sysdeps:
	@missing=""; for entry in $(SYS_PKGS); do \
	  pkg=$${entry%%:*}; file=$${entry#*:}; [ -e "$$file" ] || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to apt-get install:$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@command -v java >/dev/null || { echo "java missing: apt-get install -y default-jre-headless" >&2; exit 1; }

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

lint: venv
	$(BIN)/ruff check failover harness tests benchmarks

typecheck: venv
	$(BIN)/mypy

imports: venv
	$(BIN)/lint-imports

# Every imported distribution declared in pyproject.toml, none declared and unused.
deps: venv
	$(BIN)/deptry failover

# constraints.txt: the exact runtime versions the Dockerfile and the VM install use.
constraints: venv
	$(PY) deploy/lock_constraints.py

# The wheel deploy/README.md installs on the VM pair (lands in dist/).
wheel: venv
	$(PY) -m pip wheel --no-deps -w dist .

# The distributions' own offline parsers of the persistent guest config (ifupdown's ifquery,
# NetworkManager's nmcli --offline), unpacked, not installed: installing either could start a
# daemon or rewrite /etc/network on this machine (tests/integration/guest/test_distro_tools.py).
DISTRO_TOOLS := $(CURDIR)/.cache/distro-tools
DISTRO_DEBS  := ifupdown network-manager libnm0

$(DISTRO_TOOLS)/.unpacked:
	@mkdir -p $(DISTRO_TOOLS)/debs
	cd $(DISTRO_TOOLS)/debs && { apt-get download -qq $(DISTRO_DEBS) 2>/dev/null || \
	  { apt-get update -qq && apt-get download -qq $(DISTRO_DEBS); }; }
	for d in $(DISTRO_TOOLS)/debs/*.deb; do dpkg -x $$d $(DISTRO_TOOLS); done
	touch $@

distro-tools: $(DISTRO_TOOLS)/.unpacked

pytest: venv sysdeps distro-tools
	ALIBABA_CLOUD_ECS_METADATA_DISABLED=true FAILOVER_DISTRO_TOOLS=$(DISTRO_TOOLS) $(BIN)/pytest $(PYTEST_ARGS)

test: sysdeps venv lint typecheck imports deps pytest

demo: sysdeps venv
	$(BIN)/failover demo

# A bench exits 77 when it cannot run here (the lab needs root): skipped, said in the summary,
# and `make bench` fails, since not every figure was regenerated. Then the README's section.
bench: sysdeps venv
	@ran=""; skipped=""; failed=""; \
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b; rc=$$?; \
	  case $$rc in 0) ran="$$ran $${b##*/}";; 77) skipped="$$skipped $${b##*/}";; *) failed="$$failed $${b##*/}";; esac; \
	done; \
	$(PY) benchmarks/report.py --write; \
	echo "bench summary: ran:$${ran:- none}; skipped:$${skipped:- none}; failed:$${failed:- none}"; \
	[ -z "$$skipped$$failed" ]

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info dist
