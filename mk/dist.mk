# mk/dist.mk - data-parallel training (issue 8).
# The library part (src/dist.c, src/comm_local.c) is built with everything
# else and tested by tests/check_dist.c in `make check` (in-process
# transport). The Open MPI part is optional and never linked into libesmm:
#   make MPI=1            also builds lib/libesmm_mpi.a (src/mpi/comm_mpi.c)
#                         and links bin/esmm with src/mpi/cli_mpi.c, so that
#                         `mpirun -np N bin/esmm train ...` trains one model
#                         on N ranks (unchanged CLI sources, see that file)
#   make MPI=1 mpi-check  the acceptance test on 2 Open MPI ranks, then the
#                         CLI under mpirun
# Needs Debian's openmpi-bin and libopenmpi-dev (not needed by make check).

MPI ?= 0
comma := ,
MPICC ?= mpicc
MPIRUN ?= mpirun --allow-run-as-root --oversubscribe
MPI_LIB := lib/libesmm_mpi.a
MPI_WRAP := esmm_model_new esmm_model_load_checkpoint esmm_model_train_epoch esmm_model_evaluate \
            esmm_model_save esmm_model_save_checkpoint esmm_model_free esmm_dataset_free

.PHONY: mpi-check FORCE

# bin/esmm is relinked when MPI changes between runs.
build/dist-mode.stamp: FORCE
	@mkdir -p build
	@echo 'MPI=$(MPI)' | cmp -s - $@ || echo 'MPI=$(MPI)' > $@
$(CLI): build/dist-mode.stamp

ifeq ($(MPI),1)
MPI_CFLAGS := $(shell $(MPICC) --showme:compile 2>/dev/null)
MPI_LIBS := $(shell $(MPICC) --showme:link 2>/dev/null)

all: $(MPI_LIB)

build/mpi/%.o: src/mpi/%.c src/mpi/esmm_mpi.h $(HEADERS)
	@mkdir -p $(dir $@)
	$(MPICC) $(CPPFLAGS) $(CFLAGS) -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) -fPIC -Iinclude -Isrc/mpi -c $< -o $@

$(MPI_LIB): build/mpi/comm_mpi.o
	@mkdir -p lib
	rm -f $@
	$(AR) rcs $@ $^

$(CLI): src/mpi/cli_mpi.c $(MPI_LIB)
$(CLI): APP_CFLAGS += -Isrc/mpi
$(CLI): CLI_SRCS += src/mpi/cli_mpi.c
$(CLI): APP_LDFLAGS += $(MPI_LIB) $(MPI_LIBS) $(addprefix -Wl$(comma)--wrap=,$(MPI_WRAP))

build/tests/check_dist_mpi: tests/mpi/check_dist_mpi.c tests/dist_fixture.h $(MPI_LIB) $(STATIC)
	@mkdir -p build/tests
	$(MPICC) $(CFLAGS) -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wno-unused-parameter \
	  -Iinclude -Isrc -Isrc/mpi -Itests -o $@ $< $(MPI_LIB) $(STATIC) $(LIB_LIBS)

mpi-check: build/tests/check_dist_mpi $(CLI)
	$(MPIRUN) -np 2 build/tests/check_dist_mpi
	@mkdir -p build/mpi
	$(CLI) simulate --rows 20000 --stream 0 --out build/mpi/train.txt
	$(CLI) simulate --rows 5000 --stream 1 --out build/mpi/test.txt
	$(MPIRUN) -np 2 $(CLI) train --data build/mpi/train.txt --valid build/mpi/test.txt \
	  --model build/mpi/m.esmm --set epochs=1 --set batch_size=256 --json
	$(MPIRUN) -np 2 $(CLI) train --data build/mpi/train.txt --model build/mpi/m2.esmm --set epochs=2 \
	  --set batch_size=256 --quiet
	$(CLI) eval --model build/mpi/m2.esmm --data build/mpi/test.txt --json
	$(CLI) eval --model build/mpi/m.esmm --data build/mpi/test.txt --json
	@echo "mpi-check: OK"
else
mpi-check:
	@echo "mpi-check needs the Open MPI build: make MPI=1 mpi-check" >&2
	@exit 2
endif


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
