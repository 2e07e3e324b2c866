# mk/bench.mk - the benchmark (issue 5). `make bench` runs bench/esmm_bench
# (OpenBLAS 1 and 2 threads, then the 1 M-impression memory run, each in a
# child process of its own); `make bench QUICK=1` is the under-a-minute
# version. The last line printed is one JSON object with every figure.

BENCH := build/bench/esmm_bench

.PHONY: bench

$(BENCH): bench/esmm_bench.c $(HEADERS) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(APP_CFLAGS) $(BLAS_CFLAGS) -o $@ $< $(STATIC) $(LIB_LIBS)

bench: $(BENCH)
	$(BENCH) $(if $(filter 1,$(QUICK)),--quick)

# `make bench-blas`: one single-threaded SGEMM stream at a training slice's
# shapes (bench/sgemm_shapes.c), linked against OpenBLAS and, when Debian's
# libblis-dev is installed, against BLIS; alternated 3 times so both see
# the same machine state. The measurement behind the BLAS choice in
# docs/performance.md ("BLAS threading").
BLIS_LIBS := $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/blis-serial/libblis.so /usr/lib/x86_64-linux-gnu/libblis.so))
BLIS_INC := $(firstword $(wildcard /usr/include/x86_64-linux-gnu/blis-serial /usr/include/blis))
.PHONY: bench-blas
build/bench/sgemm_openblas: bench/sgemm_shapes.c
	@mkdir -p $(dir $@)
	$(CC) -O2 $(BLAS_CFLAGS) -o $@ $< $(BLAS_LIBS)

build/bench/sgemm_blis: bench/sgemm_shapes.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -I$(BLIS_INC) -o $@ $< $(BLIS_LIBS) -lm -lpthread

bench-blas: build/bench/sgemm_openblas $(if $(BLIS_LIBS),build/bench/sgemm_blis)
	@for i in 1 2 3; do \
	  printf 'OpenBLAS (%s kernels) run %s: ' "$${OPENBLAS_CORETYPE:-auto}" $$i; \
	  OPENBLAS_NUM_THREADS=1 build/bench/sgemm_openblas $(BENCH_BLAS_ROWS); \
	  if [ -n "$(BLIS_LIBS)" ]; then printf 'BLIS run %s: ' $$i; BLIS_NUM_THREADS=1 build/bench/sgemm_blis $(BENCH_BLAS_ROWS); \
	  else echo "BLIS: not installed (apt-get install libblis-dev)"; fi; \
	done
BENCH_BLAS_ROWS ?= 512
