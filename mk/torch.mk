# mk/torch.mk - libesmm against PyTorch on the same files (issue 13).
# `make bench-torch` generates build/bench-data/train1m.txt (1 M rows) and
# test200k.txt once, with the CLI's simulator (~35 ids a row, 23 fields, 5
# multi-valued), then runs bench/torch/run_bench.py: libesmm's CLI (train,
# eval) and bench/torch/esmm_torch.py (the same model in PyTorch) with 2
# and 1 threads, printing each run as a JSON line and a table of training
# samples/s, wall time, peak RSS and test AUCs. About 5 minutes on 2 cores.
# Not part of `make check`. Needs Debian's python3-torch and python3-numpy
# (it installs nothing). Variables:
#   TORCH_PYTHON   interpreter with torch (default /usr/bin/python3)
#   TORCH_THREADS  thread counts, comma-separated (default 2,1)
#   TORCH_MODES    PyTorch embedding optimizers: lazy, sparse, dense (default lazy)
#   TORCH_REPEAT   runs of each configuration, medians reported (default 1)
#   TORCH_ARGS     more run_bench.py options, e.g. --dense-steps 40
# `make bench-torch-check` checks that esmm_torch.py reads and hashes the
# test file exactly as libesmm does (bench/torch/dump_rows.c).

TORCH_PYTHON ?= $(firstword $(wildcard /usr/bin/python3) python3)
TORCH_THREADS ?= 2,1
TORCH_MODES ?= lazy
TORCH_REPEAT ?= 1
TORCH_ARGS ?=
BENCH_DATA := build/bench-data
BENCH_SIM := --sim rows_per_user=1 --sim hist_max=5
DUMP_ROWS := build/bench/dump_rows

.PHONY: bench-torch bench-torch-check torch-available

torch-available:
	@$(TORCH_PYTHON) -c 'import torch, numpy' 2>/dev/null || { \
	  echo "bench-torch: $(TORCH_PYTHON) cannot import torch and numpy."; \
	  echo "  Install Debian's packages: apt-get install python3-torch python3-numpy"; \
	  echo "  (or name another interpreter: make bench-torch TORCH_PYTHON=...)"; exit 1; }

# The data files depend on the CLI only for existence: a rebuilt library
# must not regenerate (and so change) the benchmark's input.
$(BENCH_DATA)/train1m.txt: | $(CLI)
	@mkdir -p $(dir $@)
	$(CLI) simulate --rows 1000000 --stream 0 $(BENCH_SIM) --out $@

$(BENCH_DATA)/test200k.txt: | $(CLI)
	@mkdir -p $(dir $@)
	$(CLI) simulate --rows 200000 --stream 1 $(BENCH_SIM) --out $@

bench-torch: torch-available $(CLI) $(BENCH_DATA)/train1m.txt $(BENCH_DATA)/test200k.txt
	$(TORCH_PYTHON) bench/torch/run_bench.py --train $(BENCH_DATA)/train1m.txt \
	  --test $(BENCH_DATA)/test200k.txt --esmm $(CLI) --threads $(TORCH_THREADS) \
	  --torch-modes $(TORCH_MODES) --repeat $(TORCH_REPEAT) $(TORCH_ARGS)

$(DUMP_ROWS): bench/torch/dump_rows.c $(HEADERS) $(wildcard src/*.h) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(APP_CFLAGS) -Isrc -o $@ $< $(STATIC) $(LIB_LIBS)

bench-torch-check: torch-available $(DUMP_ROWS) $(BENCH_DATA)/test200k.txt
	@$(DUMP_ROWS) $(BENCH_DATA)/test200k.txt 131072 > $(BENCH_DATA)/rows.libesmm.txt
	@$(TORCH_PYTHON) bench/torch/esmm_torch.py --train $(BENCH_DATA)/test200k.txt \
	  --hash-buckets 131072 --dump-rows 1000000000 > $(BENCH_DATA)/rows.torch.txt
	@cmp $(BENCH_DATA)/rows.libesmm.txt $(BENCH_DATA)/rows.torch.txt && \
	  echo "bench-torch-check: esmm_torch.py reads and hashes $(BENCH_DATA)/test200k.txt as libesmm does" \
	  && rm -f $(BENCH_DATA)/rows.libesmm.txt $(BENCH_DATA)/rows.torch.txt
