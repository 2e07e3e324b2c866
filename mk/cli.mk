# mk/cli.mk - the esmm program as a user meets it (issue 15): help and
# refusals, messages in CLI names, the training loop (validation, early
# stopping, best model, history, log, curve), resume and warm start, what a
# model remembers, the data report, eval/predict accounting. Part of
# `make check`; the scripts are in tests/cli/:
#   check_cli.sh    the commands, the training loop, what a model remembers
#   check_data.sh   every row accounted for (issue 14): every format through
#                   standard input, each field of the data report in text and
#                   --json on small files with known counts, bad input under
#                   on_error=fail/skip, what eval/predict inherit, predict's
#                   output joined back to its input
#   check_blas.sh   the program as a BLAS host (issue 13): OPENBLAS_NUM_THREADS
#                   and OPENBLAS_CORETYPE set before OpenBLAS loads (re-exec),
#                   the opt-out, what train reports

.PHONY: check-cli check-cli-data check-cli-blas
CHECK_EXTRA += check-cli check-cli-data check-cli-blas

check-cli: $(CLI)
	OPENBLAS_NUM_THREADS=1 tests/cli/check_cli.sh $(abspath $(CLI)) build/cli-check $(ESMM_SHARED_DATA)

check-cli-data: $(CLI)
	OPENBLAS_NUM_THREADS=1 tests/cli/check_data.sh $(abspath $(CLI)) build/cli-data $(ESMM_SHARED_DATA)

# runs the program with OPENBLAS_NUM_THREADS unset, on purpose
check-cli-blas: $(CLI)
	tests/cli/check_blas.sh $(abspath $(CLI)) build/cli-blas
