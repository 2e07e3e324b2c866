# mk/soak.mk - load and lifetime (issue 12): the hot-swap serving example
# (examples/c/hot_swap.c) as a smoke test in make check and as a soak in
# make check-long. docs/reliability.md describes the pattern and the figures.
#
#   make check              + check-hot-swap: the example built against this
#                             tree, run until 20 swaps are done and both model
#                             versions have served (work, not time)
#   make check-long         the soak: check-soak, check-soak-asan,
#                             check-soak-tsan, check-soak-valgrind
#   make check-soak SOAK_SECONDS=N SOAK_THREADS=T SOAK_RSS_KIB=K
#                           installed into a temporary prefix, built with
#                           nothing but pkg-config, run N s (default 180) with
#                           T predicting threads (default 4); fails on any
#                           wrong answer or an RSS growth beyond K KiB
#                           (default 4096) from the end of the warm-up
#   make check-soak-asan / check-soak-tsan   the same against the ASan+UBSan
#                           and TSan builds of the library, SOAK_SAN_SECONDS
#                           (default 30): a model freed too early is a
#                           use-after-free, a missing barrier a data race
#   make check-soak-valgrind   4 swaps under memcheck (--fair-sched=yes:
#                           valgrind runs one thread at a time, and without
#                           fair scheduling the predicting threads starve
#                           the swapper: 20 swaps took 41 minutes)
# Uses the variables of the Makefile and mk/reliability.mk (included before
# this file: mk/*.mk in sorted order).

SOAK_DIR := build/soak
SOAK_PREFIX := $(abspath $(SOAK_DIR)/prefix)
SOAK_SECONDS ?= 180
SOAK_THREADS ?= 4
SOAK_RSS_KIB ?= 4096
SOAK_SAN_SECONDS ?= 30
SOAK_CFLAGS := -std=c11 -Wall -Wextra -Wshadow -pedantic -pthread
# Bit-exact answers need one OpenBLAS thread (its threaded SGEMM splits sums
# differently); the host sets it, the library never does.
SOAK_ENV := OPENBLAS_NUM_THREADS=1

.PHONY: check-hot-swap check-long check-soak check-soak-asan check-soak-tsan check-soak-valgrind

CHECK_EXTRA += check-hot-swap

$(SOAK_DIR)/hot_swap_dev: examples/c/hot_swap.c $(HEADERS) lib/libesmm.so
	@mkdir -p $(SOAK_DIR)
	$(CC) $(CFLAGS) $(SOAK_CFLAGS) -Iinclude -o $@ $< -Llib -Wl,-rpath,'$$ORIGIN/../../lib' -lesmm

check-hot-swap: $(SOAK_DIR)/hot_swap_dev
	$(SOAK_ENV) $(SOAK_DIR)/hot_swap_dev -n 20 -t 2 -d $(SOAK_DIR)

check-long: check-soak check-soak-asan check-soak-tsan check-soak-valgrind

# As check-serving-c: install into a temporary prefix and build with nothing
# but what pkg-config reports for it.
check-soak: all
	rm -rf $(SOAK_PREFIX)
	$(MAKE) --no-print-directory install PREFIX=$(SOAK_PREFIX) >/dev/null
	$(MAKE) --no-print-directory esmm.pc >/dev/null   # back to this tree's PREFIX
	PKG_CONFIG_PATH=$(SOAK_PREFIX)/lib/pkgconfig sh -c '$(CC) $(SOAK_CFLAGS) examples/c/hot_swap.c \
	  $$($(PKG_CONFIG) --cflags --libs esmm) -Wl,-rpath,$$($(PKG_CONFIG) --variable=libdir esmm) -o $(SOAK_DIR)/hot_swap'
	$(SOAK_ENV) $(SOAK_DIR)/hot_swap -s $(SOAK_SECONDS) -t $(SOAK_THREADS) -r $(SOAK_RSS_KIB) -d $(SOAK_DIR)

$(SOAK_DIR)/hot_swap_asan: examples/c/hot_swap.c $(HEADERS) build-asan/libesmm.a
	@mkdir -p $(SOAK_DIR)
	$(SAN_CC) -g -O1 -fno-omit-frame-pointer $(ASAN_FLAGS) $(SOAK_CFLAGS) -Iinclude -o $@ $< build-asan/libesmm.a $(LIB_LIBS)

$(SOAK_DIR)/hot_swap_tsan: examples/c/hot_swap.c $(HEADERS) build-tsan/libesmm.a
	@mkdir -p $(SOAK_DIR)
	$(SAN_CC) -g -O1 -fno-omit-frame-pointer $(TSAN_FLAGS) $(SOAK_CFLAGS) -Iinclude -o $@ $< build-tsan/libesmm.a $(LIB_LIBS)

check-soak-asan: $(SOAK_DIR)/hot_swap_asan
	$(SOAK_ENV) ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $< -s $(SOAK_SAN_SECONDS) -t $(SOAK_THREADS) -d $(SOAK_DIR)

check-soak-tsan: $(SOAK_DIR)/hot_swap_tsan
	$(SOAK_ENV) TSAN_OPTIONS=halt_on_error=1 $< -s $(SOAK_SAN_SECONDS) -t $(SOAK_THREADS) -d $(SOAK_DIR)

check-soak-valgrind: $(SOAK_DIR)/hot_swap_dev
	$(SOAK_ENV) $(VALGRIND) $(VALGRIND_FLAGS) --fair-sched=yes $< -n 4 -t 2 -d $(SOAK_DIR)
