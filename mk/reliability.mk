# mk/reliability.mk - fuzzing, sanitizer builds, valgrind, fault injection
# and the ABI gate (issue 7). Included by the Makefile (-include mk/*.mk);
# uses its variables (SRCS, STATIC, SHARED, TESTS, CHECK_CFLAGS, ...).
# What runs where, and the figures: docs/reliability.md.
#
#   make check              + check-fuzz-replay (every committed fuzz input,
#                             normal compiler) and check_faults/check_numeric
#                             (via the generic test rule, see FAULTS_WRAP)
#   make fuzz FUZZ_SECONDS=N  each libFuzzer target for N seconds (one after
#                           the other; FUZZ_TARGETS="csv text" for some)
#   make fuzz FUZZ_RUNS=N   each target for N executions instead (the
#                           campaign: FUZZ_RUNS=10000000, docs/reliability.md)
#   make fuzz-merge         fold new fuzzer finds into tests/fuzz/corpus
#   make fuzz-seeds         regenerate the model seed files
#   make check-asan         the unit suite built with ASan+UBSan, no recover
#   make check-valgrind     the unit suite under valgrind (CK_FORK=no)
#   make check-tsan         the unit suite built with TSan
#   make check-crash CRASH_RUNS=N  N SIGKILLs of a saving process at random
#                           moments (check_faults' campaign; default 1000)
#   make abi-check          abidiff against abi/libesmm.so.1.abi
#   make abi-baseline       regenerate that baseline (deliberately, at a release)
#
# A new fuzz target is one file: tests/fuzz/fuzz_<name>.c defining
# LLVMFuzzerTestOneInput, with seeds in tests/fuzz/corpus/<name>/.

.PHONY: fuzz fuzz-build fuzz-merge fuzz-seeds check-fuzz-replay check-asan check-valgrind check-tsan \
        check-crash abi-check abi-baseline reliability-clean

FUZZ_TARGETS := $(sort $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?=
FUZZ_JOBS ?= 1
FUZZ_FLAGS ?=
FUZZ_CC ?= clang
SAN_CC ?= $(CC)
REL_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) -Iinclude -Isrc $(BLAS_CFLAGS)
TEST_CFLAGS_REL := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wno-unused-parameter -Iinclude -Isrc -Itests \
                   $(CHECK_CFLAGS)

# check_faults injects I/O failures into the save path by wrapping these
# libc calls at link time (its __wrap_* functions pass through until a test
# arms them). An explicit rule beats the Makefile's pattern rule, so the
# binary keeps its name and check-unit runs it.
FAULTS_WRAP := $(foreach f,open write fsync close rename fchmod,-Wl,--wrap=$(f))

build/tests/check_faults: tests/check_faults.c $(TEST_COMMON) $(wildcard tests/support/*.h) $(STATIC)
	@mkdir -p build/tests
	$(CC) $(CFLAGS) $(TEST_CFLAGS_REL) -o $@ $< $(TEST_COMMON) $(FAULTS_WRAP) $(STATIC) $(CHECK_LIBS) $(LIB_LIBS)

# The random-moment kill campaign: not part of make check (where each kill
# lands depends on the machine). make check runs the deterministic kill
# points of check_faults' crash_consistency instead.
CRASH_RUNS ?= 1000
check-crash: build/tests/check_faults
	ESMM_CRASH_KILLS=$(CRASH_RUNS) CK_RUN_CASE=campaign build/tests/check_faults

# ---- corpus replay (part of make check) -------------------------------------

FUZZ_REPLAY := $(patsubst %,build/fuzz-replay/replay_%,$(FUZZ_TARGETS))

build/fuzz-replay/replay_%: tests/fuzz/replay.c tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TEST_CFLAGS_REL) -o $@ tests/fuzz/replay.c tests/fuzz/fuzz_$*.c $(STATIC) $(LIB_LIBS)

check-fuzz-replay: $(FUZZ_REPLAY)
	@set -e; for t in $(FUZZ_TARGETS); do build/fuzz-replay/replay_$$t tests/fuzz/corpus/$$t; done

CHECK_EXTRA += check-fuzz-replay

# ---- libFuzzer ----------------------------------------------------------------

FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_OBJS := $(patsubst src/%.c,build-fuzz/obj/%.o,$(SRCS))

build-fuzz/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link -DESMM_FUZZING \
	  $(REL_CFLAGS) -MMD -MP -c $< -o $@

# An archive, like lib/libesmm.a: only the objects a target needs are linked.
build-fuzz/libesmm.a: $(FUZZ_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h build-fuzz/libesmm.a
	$(FUZZ_CC) -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer -DESMM_FUZZING $(REL_CFLAGS) \
	  -o $@ $< build-fuzz/libesmm.a $(LIB_LIBS)

-include $(FUZZ_OBJS:.o=.d)

fuzz-build: $(patsubst %,build-fuzz/fuzz_%,$(FUZZ_TARGETS))

# New inputs go to build-fuzz/corpus/<t> (the committed corpus is read
# only); crashes to build-fuzz/artifacts/<t>/. The per-target log ends with
# libFuzzer's final stats (stat::number_of_executed_units). FUZZ_JOBS=1 (the
# default) fuzzes in the make process's child itself; more jobs run as
# libFuzzer's -jobs workers, whose logs (fuzz-<k>.log) go to build-fuzz/.
# One OpenBLAS thread: a fuzzer is one process on one core.
FUZZ_LIMIT = $(if $(FUZZ_RUNS),-runs=$(FUZZ_RUNS),-max_total_time=$(FUZZ_SECONDS))
FUZZ_MULTI = $(if $(filter-out 0 1,$(FUZZ_JOBS)),-jobs=$(FUZZ_JOBS))
fuzz: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p build-fuzz/corpus/$$t build-fuzz/artifacts/$$t; \
	  echo "fuzz: $$t, $(FUZZ_LIMIT) (log: build-fuzz/$$t.log)"; \
	  (cd build-fuzz && OPENBLAS_NUM_THREADS=1 ./fuzz_$$t $(FUZZ_LIMIT) -print_final_stats=1 $(FUZZ_MULTI) \
	    -artifact_prefix=artifacts/$$t/ $(FUZZ_FLAGS) \
	    corpus/$$t ../tests/fuzz/corpus/$$t) > build-fuzz/$$t.log 2>&1 || { tail -40 build-fuzz/$$t.log; exit 1; }; \
	  grep -E 'stat::number_of_executed_units|stat::average_exec_per_sec|cov:' build-fuzz/$$t.log | tail -3; \
	done

fuzz-merge: fuzz-build
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p tests/fuzz/corpus/$$t build-fuzz/corpus/$$t; \
	  build-fuzz/fuzz_$$t -merge=1 tests/fuzz/corpus/$$t build-fuzz/corpus/$$t; \
	done

build/fuzz-replay/gen_seeds: tests/fuzz/gen_seeds.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TEST_CFLAGS_REL) -o $@ $< $(STATIC) $(LIB_LIBS)

fuzz-seeds: build/fuzz-replay/gen_seeds
	@mkdir -p tests/fuzz/corpus/model
	build/fuzz-replay/gen_seeds tests/fuzz/corpus/model
	@mkdir -p tests/fuzz/corpus/cache
	build/fuzz-replay/gen_seeds tests/fuzz/corpus/cache cache
	@mkdir -p tests/fuzz/corpus/aliccp
	build/fuzz-replay/gen_seeds tests/fuzz/corpus/aliccp aliccp

# ---- sanitizer builds of the unit suite ----------------------------------------
# $(1) = build directory, $(2) = sanitizer flags. The library sources and the
# tests are compiled directly (the Makefile's rules hardcode build/ and lib/).

define SAN_BUILD
$(1)/obj/%.o: src/%.c
	@mkdir -p $$(dir $$@)
	$$(SAN_CC) -g -O1 -fno-omit-frame-pointer $(2) $$(REL_CFLAGS) -MMD -MP -c $$< -o $$@

$(1)/libesmm.a: $$(patsubst src/%.c,$(1)/obj/%.o,$$(SRCS))
	rm -f $$@
	$$(AR) rcs $$@ $$^

$(1)/tests/check_%: tests/check_%.c $$(TEST_COMMON) $(1)/libesmm.a
	@mkdir -p $$(dir $$@)
	$$(SAN_CC) -g -O1 -fno-omit-frame-pointer $(2) $$(TEST_CFLAGS_REL) -o $$@ $$< $$(TEST_COMMON) \
	  $$(if $$(filter check_faults,check_$$*),$$(FAULTS_WRAP)) $(1)/libesmm.a $$(CHECK_LIBS) $$(LIB_LIBS)

-include $$(patsubst src/%.c,$(1)/obj/%.d,$$(SRCS))
endef

ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
TSAN_FLAGS := -fsanitize=thread
$(eval $(call SAN_BUILD,build-asan,$(ASAN_FLAGS)))
$(eval $(call SAN_BUILD,build-tsan,$(TSAN_FLAGS)))

# Keep the objects of the extra builds (make would delete them as intermediates).
.SECONDARY: $(FUZZ_OBJS) $(patsubst src/%.c,build-asan/obj/%.o,$(SRCS)) $(patsubst src/%.c,build-tsan/obj/%.o,$(SRCS))

ASAN_TESTS := $(patsubst build/tests/%,build-asan/tests/%,$(TESTS))
# The library starts no thread of its own: TSan runs the tests that do
# (concurrent prediction in check_faults, and any other test file that
# calls pthread_create), not the whole suite.
TSAN_TESTS := $(patsubst tests/%.c,build-tsan/tests/%,$(shell grep -l pthread_create $(TEST_SRCS) 2>/dev/null))
SAN_FUZZ_REPLAY := $(patsubst %,build-asan/fuzz-replay/replay_%,$(FUZZ_TARGETS))

build-asan/fuzz-replay/replay_%: tests/fuzz/replay.c tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h build-asan/libesmm.a
	@mkdir -p $(dir $@)
	$(SAN_CC) -g -O1 -fno-omit-frame-pointer $(ASAN_FLAGS) $(TEST_CFLAGS_REL) -o $@ tests/fuzz/replay.c \
	  tests/fuzz/fuzz_$*.c build-asan/libesmm.a $(LIB_LIBS)

# OpenBLAS's own threads are outside the instrumented code: one thread keeps
# the sanitizers' view complete. The CLI some tests run is the normal one.
SAN_ENV := OPENBLAS_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

check-asan: $(ASAN_TESTS) $(SAN_FUZZ_REPLAY) $(CLI)
	@$(SAN_ENV) tools/run-tests $(ASAN_TESTS)
	@set -e; for t in $(FUZZ_TARGETS); do $(SAN_ENV) build-asan/fuzz-replay/replay_$$t tests/fuzz/corpus/$$t; done

check-tsan: $(TSAN_TESTS) $(CLI)
	@OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 tools/run-tests $(TSAN_TESTS)

# Every unit test binary (and the corpus replays) under memcheck. CK_FORK=no
# keeps each test in the process valgrind watches.
VALGRIND ?= valgrind
VALGRIND_FLAGS ?= --quiet --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible \
                  --show-leak-kinds=definite,indirect,possible
check-valgrind: $(TESTS) $(FUZZ_REPLAY) $(CLI)
	@fail=0; for t in $(TESTS); do \
	  start=$$(date +%s); \
	  CK_FORK=no OPENBLAS_NUM_THREADS=1 ESMM_TEST_UNDER_TOOL=1 $(VALGRIND) $(VALGRIND_FLAGS) $$t || { fail=1; echo "FAILED under valgrind: $$t"; }; \
	  echo "  ($$(basename $$t) under valgrind: $$(( $$(date +%s) - start ))s)"; \
	done; \
	for t in $(FUZZ_TARGETS); do \
	  $(VALGRIND) $(VALGRIND_FLAGS) build/fuzz-replay/replay_$$t tests/fuzz/corpus/$$t || { fail=1; echo "FAILED under valgrind: replay_$$t"; }; \
	done; \
	[ $$fail = 0 ] && echo "check-valgrind: no error, no leak"

# ---- ABI gate -------------------------------------------------------------------

ABI_BASELINE := abi/libesmm.so.$(MAJOR).abi
ABI_CONSTANTS := abi/libesmm.constants
# abidiff sees only the types reachable from exported functions: enums that
# travel as int (esmm_status, the ESMM_DS_* and ESMM_STAT_* keys, ...) are
# invisible to it. Their pinned values are checked as text: every
# "ESMM_NAME = value" enumerator and numeric #define of the public headers
# (except the version macros) must keep its value; new ones may appear.
ABI_LIST_CONSTANTS = cat $(HEADERS) | tr -d '\r' | \
  grep -oE '(\<ESMM_[A-Z0-9_]+ *= *-?(0x)?[0-9a-fA-F]+)|(^\#define +ESMM_[A-Z0-9_]+ +-?[0-9]+\>)' | \
  sed -E 's/^\#define +//; s/ *= */ /; s/ +/ /' | grep -v '^ESMM_VERSION_' | LC_ALL=C sort -u

abi-check: $(SHARED)
	@test -f $(ABI_BASELINE) || { echo "abi-check: no baseline $(ABI_BASELINE) (make abi-baseline at a release)"; exit 1; }
	abidiff --no-added-syms --suppressions abi/opaque.suppr --headers-dir2 include/esmm $(ABI_BASELINE) $(SHARED)
	@$(ABI_LIST_CONSTANTS) > build/abi-constants.now; \
	gone=$$(LC_ALL=C comm -23 $(ABI_CONSTANTS) build/abi-constants.now); \
	if [ -n "$$gone" ]; then echo "abi-check: pinned constants removed or renumbered (baseline value shown):"; \
	  echo "$$gone"; exit 1; fi
	@echo "abi-check: $(SHARED) keeps the ABI of $(ABI_BASELINE) and the $$(wc -l < $(ABI_CONSTANTS)) pinned constants"

abi-baseline: $(SHARED)
	@mkdir -p abi
	abidw --headers-dir include/esmm --no-corpus-path --out-file $(ABI_BASELINE) $(SHARED)
	@$(ABI_LIST_CONSTANTS) > $(ABI_CONSTANTS)
	@echo "abi-baseline: wrote $(ABI_BASELINE) and $(ABI_CONSTANTS); commit them with the release"

reliability-clean:
	rm -rf build-fuzz build-asan build-tsan build/fuzz-replay
