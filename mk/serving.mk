# mk/serving.mk - serving hosts (issue 4): the installed-library C example,
# the C++ RAII example, the Python binding's tests, and the check that a
# model trained by the CLI is served identically by the CLI, C++ and Python.
# Included by the Makefile; `make check` runs CHECK_EXTRA.

SERVE_DIR := build/serving
SERVE_PREFIX := $(abspath $(SERVE_DIR)/prefix)
SERVE_PY := /usr/bin/python3
SERVE_CXX_FLAGS := -std=c++11 -Wall -Wextra -Wshadow -pthread

.PHONY: check-serving-resume check-serving check-serving-c check-serving-hosts check-serving-python bench-serving \
        install-cxx-header uninstall-cxx-header

CHECK_EXTRA += check-serving

check-serving: check-serving-c check-serving-hosts check-serving-python check-serving-resume

# The Python package: `make install` puts it in PYTHONDIR (Debian's layout:
# PREFIX/lib/python3/dist-packages is on sys.path for /usr and /usr/local)
# with esmm/_build_config.py naming LIBDIR, where it finds libesmm.so.1.
# `pip install ./python` installs the same package (check-python-pip).
PYTHONDIR ?= $(PREFIX)/lib/python3/dist-packages
PY_PKG := python/esmm/__init__.py python/esmm/estimator.py
.PHONY: install-python uninstall-python check-python-pip
install: install-python
install-python: all
	install -d $(DESTDIR)$(PYTHONDIR)/esmm
	install -m 644 $(PY_PKG) $(DESTDIR)$(PYTHONDIR)/esmm/
	printf '# written by make install: where libesmm.so.1 is\nLIBDIR = "%s"\n' '$(LIBDIR)' \
	  > $(DESTDIR)$(PYTHONDIR)/esmm/_build_config.py
uninstall: uninstall-python
uninstall-python:
	rm -f $(addprefix $(DESTDIR)$(PYTHONDIR)/esmm/,__init__.py estimator.py _build_config.py)
	rm -rf $(DESTDIR)$(PYTHONDIR)/esmm/__pycache__
	-rmdir $(DESTDIR)$(PYTHONDIR)/esmm 2>/dev/null

# pip, offline, from a copy of the tree (a build leaves files behind):
# the package installs and trains with the library it is pointed at.
CHECK_EXTRA += check-python-pip
check-python-pip: lib/libesmm.so
	rm -rf build/pip && mkdir -p build/pip && cp -r python build/pip/src && rm -rf build/pip/src/build
	$(SERVE_PY) -m pip install -q --disable-pip-version-check --no-build-isolation --no-index \
	  --target build/pip/site build/pip/src 2>&1 | grep -v "as the 'root' user" || true
	test -f build/pip/site/esmm/__init__.py
	cd / && ESMM_LIBRARY=$(abspath lib/libesmm.so.$(MAJOR)) PYTHONDONTWRITEBYTECODE=1 \
	  PYTHONPATH=$(abspath build/pip/site) $(SERVE_PY) -c 'import esmm, sys; \
	  assert esmm.__file__.startswith(sys.argv[1]), esmm.__file__; \
	  t = esmm.Dataset.simulate(2000, 0); v = esmm.Dataset.simulate(500, 1); \
	  m = esmm.Model.for_data(t, embed_dim=4, hash_buckets=128, batch_size=256); \
	  h = m.fit(t, valid=v, epochs=2, monitor="ctr_auc"); assert len(h) == 2; \
	  print("check-python-pip: pip-installed esmm trained", len(h), "epochs")' $(abspath build/pip/site)

# The C++ wrapper is a header too; the Makefile installs only *.h.
install: install-cxx-header
install-cxx-header: all
	install -d $(DESTDIR)$(INCLUDEDIR)/esmm
	install -m 644 include/esmm/esmm.hpp $(DESTDIR)$(INCLUDEDIR)/esmm/
uninstall: uninstall-cxx-header
uninstall-cxx-header:
	rm -f $(DESTDIR)$(INCLUDEDIR)/esmm/esmm.hpp

# A small model trained by the CLI, and held-out rows to serve.
$(SERVE_DIR)/train.txt $(SERVE_DIR)/test.txt: $(CLI)
	@mkdir -p $(SERVE_DIR)
	$(CLI) simulate --rows 4000 --stream 0 --out $(SERVE_DIR)/train.txt
	$(CLI) simulate --rows 2500 --stream 1 --out $(SERVE_DIR)/test.txt

$(SERVE_DIR)/model.esmm: $(SERVE_DIR)/train.txt $(CLI)
	$(CLI) train --quiet --data $(SERVE_DIR)/train.txt --model $@ \
	  --set batch_size=256 --set hash_buckets=2000 --set embed_dim=8

# Install into a temporary prefix and build the C example with nothing but
# what pkg-config reports for that prefix.
check-serving-c: all $(SERVE_DIR)/model.esmm
	rm -rf $(SERVE_PREFIX)
	$(MAKE) --no-print-directory install PREFIX=$(SERVE_PREFIX) >/dev/null
	$(MAKE) --no-print-directory esmm.pc >/dev/null   # back to this tree's PREFIX
	PKG_CONFIG_PATH=$(SERVE_PREFIX)/lib/pkgconfig sh -c '$(CC) -std=c99 -Wall -Wextra -pedantic \
	  examples/c/score_user.c $$($(PKG_CONFIG) --cflags --libs esmm) \
	  -Wl,-rpath,$$($(PKG_CONFIG) --variable=libdir esmm) -o $(SERVE_DIR)/score_user'
	@test -f $(SERVE_PREFIX)/include/esmm/esmm.hpp
	$(SERVE_DIR)/score_user $(SERVE_DIR)/model.esmm 100
	cd / && env -u LD_LIBRARY_PATH $(SERVE_PREFIX)/bin/esmm dump --model $(abspath $(SERVE_DIR)/model.esmm) >/dev/null
	cd / && env -u ESMM_LIBRARY PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=$(SERVE_PREFIX)/lib/python3/dist-packages \
	  $(SERVE_PY) -c 'import esmm, sys; assert esmm.library_path.startswith(sys.argv[1]), esmm.library_path; \
	  m = esmm.Model.load(sys.argv[2]); print("serving: installed Python package loads", esmm.library_path)' \
	  $(SERVE_PREFIX) $(abspath $(SERVE_DIR)/model.esmm)
	$(MAKE) --no-print-directory uninstall PREFIX=$(SERVE_PREFIX) >/dev/null
	$(MAKE) --no-print-directory esmm.pc >/dev/null
	@left=$$(find $(SERVE_PREFIX) -type f -o -type l); test -z "$$left" || { echo "uninstall left: $$left"; exit 1; }
	@echo "serving: installed esmm runs from $(SERVE_PREFIX)/bin; uninstall removes every installed file"

$(SERVE_DIR)/serve: examples/cpp/serve.cpp include/esmm/esmm.hpp $(HEADERS) lib/libesmm.so
	@mkdir -p $(SERVE_DIR)
	$(CXX) $(CXXFLAGS) $(SERVE_CXX_FLAGS) -Iinclude -o $@ $< -Llib -Wl,-rpath,'$$ORIGIN/../../lib' -lesmm

# The C++ wrapper's datasets, training and evaluation (tests/cpp/check_hpp.cpp).
.PHONY: check-cpp
CHECK_EXTRA += check-cpp
$(SERVE_DIR)/check_hpp: tests/cpp/check_hpp.cpp include/esmm/esmm.hpp $(HEADERS) lib/libesmm.so
	@mkdir -p $(SERVE_DIR)
	$(CXX) $(CXXFLAGS) $(SERVE_CXX_FLAGS) -Iinclude -o $@ $< -Llib -Wl,-rpath,'$$ORIGIN/../../lib' -lesmm
$(SERVE_DIR)/train_cpp: examples/cpp/train.cpp include/esmm/esmm.hpp $(HEADERS) lib/libesmm.so
	@mkdir -p $(SERVE_DIR)
	$(CXX) $(CXXFLAGS) $(SERVE_CXX_FLAGS) -Iinclude -o $@ $< -Llib -Wl,-rpath,'$$ORIGIN/../../lib' -lesmm
# the examples of docs/guide.md train too (C++ and Python, early stopping)
check-cpp: $(SERVE_DIR)/check_hpp $(SERVE_DIR)/train_cpp $(SERVE_DIR)/train.txt $(SERVE_DIR)/test.txt
	OPENBLAS_NUM_THREADS=1 $(SERVE_DIR)/check_hpp
	OPENBLAS_NUM_THREADS=1 $(SERVE_DIR)/train_cpp $(SERVE_DIR)/train.txt $(SERVE_DIR)/test.txt \
	  $(SERVE_DIR)/train_cpp.esmm 3
	ESMM_LIBRARY=$(abspath lib/libesmm.so.$(MAJOR)) PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=python OPENBLAS_NUM_THREADS=1 \
	  $(SERVE_PY) python/examples/train.py $(SERVE_DIR)/train.txt $(SERVE_DIR)/test.txt $(SERVE_DIR)/train_py.esmm 3

# CLI predict == C++ (4 threads) == Python (3 threads), byte for byte. All
# run OpenBLAS on one thread (its threaded SGEMM splits the sums
# differently) and on the same kernels: the ones the CLI runs (it may pick
# OPENBLAS_CORETYPE=SkylakeX itself on an AVX-512 CPU, cli/host.c), given
# to all three. The CLI's output has the row's line first and the skip
# reason last (columns 2-4 are the scores).
check-serving-hosts: $(SERVE_DIR)/serve $(SERVE_DIR)/model.esmm $(SERVE_DIR)/test.txt
	core=$$(OPENBLAS_NUM_THREADS=1 $(CLI) version | sed -n 's/.*; kernels \([A-Za-z0-9]*\).*/\1/p') && \
	export OPENBLAS_NUM_THREADS=1 $${core:+OPENBLAS_CORETYPE=$$core} && \
	$(CLI) predict --model $(SERVE_DIR)/model.esmm --data $(SERVE_DIR)/test.txt --out $(SERVE_DIR)/pred_cli.tsv && \
	$(SERVE_DIR)/serve predict $(SERVE_DIR)/model.esmm $(SERVE_DIR)/test.txt 4 > $(SERVE_DIR)/pred_cpp.tsv && \
	ESMM_LIBRARY=$(abspath lib/libesmm.so.$(MAJOR)) PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=python \
	  $(SERVE_PY) python/examples/predict_file.py $(SERVE_DIR)/model.esmm $(SERVE_DIR)/test.txt 3 \
	  > $(SERVE_DIR)/pred_py.tsv
	head -1 $(SERVE_DIR)/pred_cli.tsv | grep -q "^line	pctr	pcvr	pctcvr	skipped$$"
	cut -f2-4 $(SERVE_DIR)/pred_cli.tsv > $(SERVE_DIR)/pred_cli_scores.tsv
	cmp $(SERVE_DIR)/pred_cli_scores.tsv $(SERVE_DIR)/pred_cpp.tsv
	cmp $(SERVE_DIR)/pred_cli_scores.tsv $(SERVE_DIR)/pred_py.tsv
	@echo "serving: CLI, C++ and Python predictions identical ($$(($$(wc -l < $(SERVE_DIR)/pred_cli.tsv) - 1)) rows)"

check-serving-python: lib/libesmm.so
	ESMM_LIBRARY=$(abspath lib/libesmm.so.$(MAJOR)) PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=python OPENBLAS_NUM_THREADS=1 \
	  $(SERVE_PY) -m unittest discover -s python/tests

# Latency of one user x 100 items on a default-shaped model (23 fields,
# dim 18, towers 200,80), OpenBLAS on one thread; 5 runs of 2000 calls.
bench-serving: $(SERVE_DIR)/serve $(SERVE_DIR)/train.txt
	$(CLI) train --quiet --data $(SERVE_DIR)/train.txt --model $(SERVE_DIR)/default.esmm
	for i in 1 2 3 4 5; do OPENBLAS_NUM_THREADS=1 $(SERVE_DIR)/serve bench $(SERVE_DIR)/default.esmm 100 2000; done \
	  | tee $(SERVE_DIR)/bench.jsonl

# `esmm train` with periodic checkpoints is killed with SIGKILL after its
# first checkpoint (the program stops itself there, SIGSTOP, under
# ESMM_CLI_TEST_STOP_AFTER_CHECKPOINT: the kill lands mid-run on a machine
# of any load, where polling for the file could find a finished run); `--resume` then finishes the run, and the model must
# be byte-identical to an uninterrupted run's. `esmm dump --json` of the
# checkpoint must be valid JSON. (One OpenBLAS thread: deterministic SGEMM.)
SERVE_RESUME_SET := --set batch_size=128 --set hash_buckets=2000 --set embed_dim=8 --set epochs=6
check-serving-resume: $(SERVE_DIR)/train.txt $(CLI)
	cd $(SERVE_DIR) && rm -f r_*.esmm* && export OPENBLAS_NUM_THREADS=1 && \
	../../$(CLI) train --quiet --data train.txt --model r_straight.esmm $(SERVE_RESUME_SET) && \
	{ ESMM_CLI_TEST_STOP_AFTER_CHECKPOINT=1 ../../$(CLI) train --quiet --data train.txt --model r_killed.esmm \
	    $(SERVE_RESUME_SET) --checkpoint r_ck.esmm --checkpoint-every 5 & pid=$$!; \
	  while kill -0 $$pid 2>/dev/null && [ "$$(cut -d' ' -f3 /proc/$$pid/stat)" != T ]; do sleep 0.02; done; \
	  kill -9 $$pid; wait $$pid; st=$$?; echo "serving: training killed (status $$st) at \
	  $$(../../$(CLI) dump --model r_ck.esmm | sed -n 's/^training: //p')"; test $$st -eq 137; } && \
	test ! -f r_killed.esmm && \
	../../$(CLI) dump --json --model r_ck.esmm | $(SERVE_PY) -c 'import json,sys; d=json.load(sys.stdin); assert d["checkpoint"]' && \
	../../$(CLI) train --quiet --data train.txt --model r_resumed.esmm --resume r_ck.esmm && \
	cmp r_straight.esmm r_resumed.esmm && echo "serving: resumed run == straight run (byte-identical model)"

# docs/api.md is generated from the headers.
.PHONY: docs-api
docs-api:
	$(SERVE_PY) docs/gen-api.py > docs/api.md.tmp && mv docs/api.md.tmp docs/api.md
