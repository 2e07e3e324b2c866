# mk/bench.mk - the benchmark (issue 5). `make bench` runs bench/esmm_bench
# (OpenBLAS 1 and 2 threads, then the 1 M-impression memory run, each in a
# child process of its own); `make bench QUICK=1` is the under-a-minute
# version. The last line printed is one JSON object with every figure.
# `make bench-kernels` (part of `make check`) tests the fast kernels of
# src/mlp.c and src/embedding.c against naive references.

BENCH := build/bench/esmm_bench
BENCH_CHECK := build/bench/check_kernels

.PHONY: bench bench-kernels

$(BENCH): bench/esmm_bench.c $(HEADERS) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(APP_CFLAGS) $(BLAS_CFLAGS) -o $@ $< $(STATIC) $(LIB_LIBS)

bench: $(BENCH)
	$(BENCH) $(if $(filter 1,$(QUICK)),--quick)

$(BENCH_CHECK): bench/check_kernels.c $(HEADERS) $(wildcard src/*.h) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(APP_CFLAGS) -Isrc $(BLAS_CFLAGS) -o $@ $< $(STATIC) $(LIB_LIBS)

bench-kernels: $(BENCH_CHECK)
	$(BENCH_CHECK)

CHECK_EXTRA += bench-kernels
