# mk/dist.mk - data-parallel training (issue 8).
# The library part (src/dist.c, src/comm_local.c) is built with everything
# else and tested by tests/check_dist.c in `make check` (in-process
# transport). The Open MPI part is optional and never linked into libesmm
# nor into bin/esmm (which then runs where Open MPI is not installed):
#   make MPI=1            also builds lib/libesmm_mpi.a (src/mpi/comm_mpi.c)
#                         and bin/esmm-mpi: the CLI's sources built with
#                         ESMM_CLI_MPI (cli/mpi.c), so that
#                         `mpirun -np N esmm-mpi train ...` trains one model
#                         on N ranks; `make MPI=1 install` installs it too
#   make MPI=1 mpi-check  the acceptance test on 2 Open MPI ranks, then
#                         esmm-mpi under mpirun
# Needs Debian's openmpi-bin and libopenmpi-dev (not needed by make check).

MPI ?= 0
MPICC ?= mpicc
MPIRUN ?= mpirun --allow-run-as-root --oversubscribe
MPI_LIB := lib/libesmm_mpi.a
MPI_CLI := bin/esmm-mpi

.PHONY: mpi-check install-mpi uninstall-mpi

ifeq ($(MPI),1)
MPI_CFLAGS := $(shell $(MPICC) --showme:compile 2>/dev/null)
MPI_LIBS := $(shell $(MPICC) --showme:link 2>/dev/null)

all: $(MPI_LIB) $(MPI_CLI)

build/mpi/%.o: src/mpi/%.c src/mpi/esmm_mpi.h $(HEADERS)
	@mkdir -p $(dir $@)
	$(MPICC) $(CPPFLAGS) $(CFLAGS) -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) -fPIC -Iinclude -Isrc/mpi -c $< -o $@

$(MPI_LIB): build/mpi/comm_mpi.o
	@mkdir -p lib
	rm -f $@
	$(AR) rcs $@ $^

# the same program, with the MPI transport (cli/mpi.c under ESMM_CLI_MPI)
$(MPI_CLI): $(CLI_SRCS) $(wildcard cli/*.h) $(HEADERS) lib/libesmm.so $(MPI_LIB)
	@mkdir -p bin
	$(CC) $(CFLAGS) $(APP_CFLAGS) -DESMM_CLI_MPI -Isrc/mpi $(MPI_CFLAGS) -o $@ $(CLI_SRCS) $(APP_LDFLAGS) -lesmm \
	  $(MPI_LIB) $(MPI_LIBS) -lm

build/install/esmm-mpi: $(MPI_CLI)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(APP_CFLAGS) -DESMM_CLI_MPI -Isrc/mpi $(MPI_CFLAGS) -o $@ $(CLI_SRCS) \
	  $(filter-out -Wl$(comma)-rpath%,$(APP_LDFLAGS)) $(INSTALL_RPATH) -lesmm $(MPI_LIB) $(MPI_LIBS) -lm
.PHONY: build/install/esmm-mpi

install: install-mpi
install-mpi: all build/install/esmm-mpi
	install -d $(DESTDIR)$(BINDIR)
	install -m 755 build/install/esmm-mpi $(DESTDIR)$(BINDIR)/esmm-mpi

build/tests/check_dist_mpi: tests/mpi/check_dist_mpi.c tests/dist_fixture.h $(MPI_LIB) $(STATIC)
	@mkdir -p build/tests
	$(MPICC) $(CFLAGS) -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wno-unused-parameter \
	  -Iinclude -Isrc -Isrc/mpi -Itests -o $@ $< $(MPI_LIB) $(STATIC) $(LIB_LIBS)

# 2 ranks with batch b == 1 rank with batch 2b (check_dist_mpi); then
# esmm-mpi on 2 ranks: validation and early stopping decide alike on every
# rank, the model and the checkpoint are written once, a resumed run goes
# on, and the models load and evaluate in a single process.
mpi-check: build/tests/check_dist_mpi $(MPI_CLI) $(CLI)
	$(MPIRUN) -np 2 build/tests/check_dist_mpi
	@mkdir -p build/mpi
	rm -f build/mpi/*.esmm build/mpi/*.ckpt
	$(CLI) simulate --rows 20000 --stream 0 --out build/mpi/train.txt
	$(CLI) simulate --rows 5000 --stream 1 --out build/mpi/test.txt
	$(MPIRUN) -np 2 $(MPI_CLI) train --mpi --data build/mpi/train.txt --valid build/mpi/test.txt \
	  --model build/mpi/m.esmm --set epochs=3 --set batch_size=256 --set monitor=ctr_auc --set patience=1 \
	  --set min_delta=1 --json > build/mpi/train.json
	$(SERVE_PY) -c 'import json; d=json.load(open("build/mpi/train.json")); assert d["stopped_early"] and len(d["history"]) == 2, d'
	$(MPIRUN) -np 2 $(MPI_CLI) train --data build/mpi/train.txt --model build/mpi/m2.esmm --set epochs=1 \
	  --set batch_size=256 --checkpoint build/mpi/r.ckpt --quiet
	$(MPIRUN) -np 2 $(MPI_CLI) train --data build/mpi/train.txt --model build/mpi/m2.esmm --resume build/mpi/r.ckpt \
	  --set epochs=2 --quiet
	$(CLI) dump --model build/mpi/r.ckpt | grep -q "epoch 1"
	$(CLI) eval --model build/mpi/m2.esmm --data build/mpi/test.txt --json
	$(CLI) eval --model build/mpi/m.esmm --data build/mpi/test.txt --json
	$(MPI_CLI) version | grep -q "Open MPI"
	@echo "mpi-check: OK"
else
mpi-check:
	@echo "mpi-check needs the Open MPI build: make MPI=1 mpi-check" >&2
	@exit 2
endif
uninstall: uninstall-mpi
uninstall-mpi:
	rm -f $(DESTDIR)$(BINDIR)/esmm-mpi

# Throughput and bytes per step, 1 and 2 ranks (docs/distributed.md).
ifeq ($(MPI),1)
build/bench/bench_dist_mpi: tests/mpi/bench_dist_mpi.c $(MPI_LIB) $(STATIC)
	@mkdir -p build/bench
	$(MPICC) $(CFLAGS) -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wno-unused-parameter \
	  -Iinclude -Isrc -Isrc/mpi -o $@ $< $(MPI_LIB) $(STATIC) $(LIB_LIBS)

mpi-bench: build/bench/bench_dist_mpi
	OPENBLAS_NUM_THREADS=1 $(MPIRUN) -np 1 build/bench/bench_dist_mpi 200000 1024
	OPENBLAS_NUM_THREADS=1 $(MPIRUN) -np 2 build/bench/bench_dist_mpi 200000 512
	OPENBLAS_NUM_THREADS=1 $(MPIRUN) -np 2 build/bench/bench_dist_mpi 200000 1024
endif
.PHONY: mpi-bench
