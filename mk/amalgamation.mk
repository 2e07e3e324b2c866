# mk/amalgamation.mk - the library as one translation unit (issue 16).
#
#   make check              + check-amalgamation: tools/amalgamate writes
#                             build/amalg/esmm-all.c (every src/*.c and
#                             src/io/*.c, in path order, as SQLite's
#                             sqlite3.c), compiled with the library's own
#                             warnings as errors; then two test binaries
#                             (options and simulator) are linked against that
#                             one object instead of libesmm.a and run.
#
# Why in make check: file-static names are private to their file only in
# separate builds. Two alike (two `create`s, two `table`s) or a file's macro
# meeting another file's name break this build, so they stay unique, and an
# embedder can vendor one .c file plus the headers.

AMALG_DIR := build/amalg
AMALG_TESTS := check_config check_sim

.PHONY: check-amalgamation

$(AMALG_DIR)/esmm-all.c: $(SRCS) $(wildcard src/*.h src/io/*.h) tools/amalgamate
	@mkdir -p $(dir $@)
	tools/amalgamate $@

$(AMALG_DIR)/esmm-all.o: $(AMALG_DIR)/esmm-all.c $(HEADERS)
	$(CC) $(CFLAGS) $(LIB_CFLAGS) -Isrc/io -Werror -c $< -o $@

$(AMALG_DIR)/%: tests/%.c $(TEST_COMMON) $(wildcard tests/support/*.h) $(AMALG_DIR)/esmm-all.o
	$(CC) $(CFLAGS) -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wno-unused-parameter \
	  -Iinclude -Isrc -Itests $(CHECK_CFLAGS) -o $@ $< $(TEST_COMMON) $(AMALG_DIR)/esmm-all.o \
	  $(CHECK_LIBS) $(LIB_LIBS)

check-amalgamation: $(addprefix $(AMALG_DIR)/,$(AMALG_TESTS))
	@set -e; for t in $(AMALG_TESTS); do \
	  CK_VERBOSITY=silent $(AMALG_DIR)/$$t >$(AMALG_DIR)/$$t.log 2>&1 || { cat $(AMALG_DIR)/$$t.log; exit 1; }; \
	done; echo "check-amalgamation: one translation unit, $(words $(AMALG_TESTS)) test binaries passed"

CHECK_EXTRA += check-amalgamation
