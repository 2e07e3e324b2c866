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
