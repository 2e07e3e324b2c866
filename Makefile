# libesmm - GNU make build. `make` builds both libraries and the esmm
# program (cli/); `make check` builds and runs the whole test suite.
# Variables a packager may set: CC CXX CFLAGS LDFLAGS PREFIX DESTDIR LIBDIR
# INCLUDEDIR PCDIR BINDIR.

VERSION_H := include/esmm/version.h
MAJOR := $(shell sed -n 's/^\#define ESMM_VERSION_MAJOR  *\([0-9][0-9]*\).*/\1/p' $(VERSION_H))
MINOR := $(shell sed -n 's/^\#define ESMM_VERSION_MINOR  *\([0-9][0-9]*\).*/\1/p' $(VERSION_H))
PATCH := $(shell sed -n 's/^\#define ESMM_VERSION_PATCH  *\([0-9][0-9]*\).*/\1/p' $(VERSION_H))
VERSION := $(MAJOR).$(MINOR).$(PATCH)

comma := ,
CC ?= cc
CXX ?= c++
PKG_CONFIG ?= pkg-config
CFLAGS ?= -O2 -g
CXXFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter

BLAS_CFLAGS := $(shell $(PKG_CONFIG) --cflags openblas 2>/dev/null)
BLAS_LIBS := $(shell $(PKG_CONFIG) --libs openblas 2>/dev/null || echo -lopenblas)
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS := $(shell $(PKG_CONFIG) --libs check 2>/dev/null || echo -lcheck -lsubunit -lm -lrt -lpthread)

LIB_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) -fno-math-errno -ffp-contract=off -fvect-cost-model=dynamic -fPIC -fvisibility=hidden -Iinclude -Isrc $(BLAS_CFLAGS)
LIB_LIBS := $(BLAS_LIBS) -lm -lpthread

SRCS := $(sort $(wildcard src/*.c src/io/*.c))
OBJS := $(patsubst src/%.c,build/obj/%.o,$(SRCS))
HEADERS := $(sort $(wildcard include/esmm/*.h))

STATIC := lib/libesmm.a
SHARED := lib/libesmm.so.$(VERSION)
SONAME := libesmm.so.$(MAJOR)

CLI_SRCS := $(sort $(wildcard cli/*.c))
CLI := bin/esmm
APP_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) -Iinclude
APP_LDFLAGS := -Llib -Wl,-rpath,'$$ORIGIN/../lib'

TEST_SRCS := $(sort $(wildcard tests/check_*.c))
# The real data samples beside the repository (../shared/data; /work/shared/data
# on the project's machines), for the reader tests and check-data-cli.
export ESMM_SHARED_DATA ?= $(abspath $(firstword $(wildcard ../shared/data /work/shared/data) ../shared/data))
TESTS := $(patsubst tests/%.c,build/tests/%,$(TEST_SRCS))
TEST_COMMON := $(sort $(wildcard tests/support/*.c))

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PCDIR ?= $(LIBDIR)/pkgconfig
BINDIR ?= $(PREFIX)/bin

.PHONY: all clean check check-unit check-symbols check-headers install uninstall esmm.pc demo
.DELETE_ON_ERROR:

all: $(STATIC) $(SHARED) lib/$(SONAME) lib/libesmm.so $(CLI) esmm.pc

build/obj/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LIB_CFLAGS) -MMD -MP -c $< -o $@

$(STATIC): $(OBJS)
	@mkdir -p lib
	rm -f $@
	$(AR) rcs $@ $^

$(SHARED): $(OBJS) src/esmm.map
	@mkdir -p lib
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--version-script,src/esmm.map -Wl,--no-undefined \
	  $(LDFLAGS) -o $@ $(OBJS) $(LIB_LIBS)

lib/$(SONAME): $(SHARED)
	ln -sf libesmm.so.$(VERSION) $@

lib/libesmm.so: lib/$(SONAME)
	ln -sf $(SONAME) $@

# The CLI links the shared library: it uses only the exported API.
$(CLI): $(CLI_SRCS) $(wildcard cli/*.h) $(HEADERS) lib/libesmm.so
	@mkdir -p bin
	$(CC) $(CFLAGS) $(APP_CFLAGS) -o $@ $(CLI_SRCS) $(APP_LDFLAGS) -lesmm -lm

# The installed esmm is linked again with a run path that works from the
# install prefix: $$ORIGIN-relative (BINDIR -> LIBDIR, computed without
# DESTDIR, so a staged tree keeps working once moved into place), and none
# when LIBDIR is one the dynamic linker searches anyway.
SYSTEM_LIBDIRS := /lib /usr/lib /lib64 /usr/lib64 \
  $(addprefix /usr/lib/,$(shell $(CC) -print-multiarch 2>/dev/null)) \
  $(addprefix /lib/,$(shell $(CC) -print-multiarch 2>/dev/null))
INSTALL_RPATH = $(if $(filter $(SYSTEM_LIBDIRS),$(patsubst %/,%,$(LIBDIR))),,\
  -Wl,-rpath,'$$ORIGIN/$(shell realpath -m --relative-to=$(BINDIR) $(LIBDIR))')
INSTALL_CLI := build/install/esmm

.PHONY: $(INSTALL_CLI)
$(INSTALL_CLI): $(CLI)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(APP_CFLAGS) -o $@ $(CLI_SRCS) $(filter-out -Wl$(comma)-rpath%,$(APP_LDFLAGS)) \
	  $(INSTALL_RPATH) -lesmm -lm

# Regenerated on every run so that PREFIX reaches it.
esmm.pc: esmm.pc.in
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' $< > $@

# Tests link the static library so they can reach esmm__ internals.
build/tests/%: tests/%.c $(TEST_COMMON) $(wildcard tests/support/*.h) $(STATIC)
	@mkdir -p build/tests
	$(CC) $(CFLAGS) -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wno-unused-parameter \
	  -Iinclude -Isrc -Itests $(CHECK_CFLAGS) -o $@ $< $(TEST_COMMON) $(STATIC) $(CHECK_LIBS) $(LIB_LIBS)

check-unit: $(TESTS) $(CLI)
	@tools/run-tests $(TESTS)

check-symbols: $(STATIC) $(SHARED)
	@tools/check-symbols $(STATIC) $(SHARED) src/esmm.map

check-headers: $(HEADERS)
	@tools/check-headers $(HEADERS)

# Feature fragments (mk/*.mk) add their own targets and append the checks
# that `make check` must run to CHECK_EXTRA.
CHECK_EXTRA :=
-include $(sort $(wildcard mk/*.mk))

check: all check-symbols check-headers check-unit $(CHECK_EXTRA)

demo: $(CLI)
	$(CLI) demo

install: all $(INSTALL_CLI)
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR)/esmm $(DESTDIR)$(PCDIR) $(DESTDIR)$(BINDIR)
	install -m 755 $(INSTALL_CLI) $(DESTDIR)$(BINDIR)/esmm
	install -m 644 $(HEADERS) $(DESTDIR)$(INCLUDEDIR)/esmm/
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/
	ln -sf libesmm.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libesmm.so
	install -m 644 esmm.pc $(DESTDIR)$(PCDIR)/esmm.pc

uninstall:
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/esmm/,$(notdir $(HEADERS)))
	-rmdir $(DESTDIR)$(INCLUDEDIR)/esmm 2>/dev/null
	rm -f $(DESTDIR)$(LIBDIR)/libesmm.a $(DESTDIR)$(LIBDIR)/libesmm.so.$(VERSION) \
	      $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libesmm.so $(DESTDIR)$(PCDIR)/esmm.pc \
	      $(DESTDIR)$(BINDIR)/esmm

clean:
	rm -rf build lib/*.a lib/*.so* bin esmm.pc

-include $(OBJS:.o=.d)
