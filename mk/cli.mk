# mk/cli.mk - the esmm program as a user meets it (issue 15): help and
# refusals, messages in CLI names, the training loop (validation, early
# stopping, best model, history, log, curve), resume and warm start, what a
# model remembers, the data report, eval/predict accounting. Part of
# `make check`; the script is tests/cli/check_cli.sh.

.PHONY: check-cli
CHECK_EXTRA += check-cli

check-cli: $(CLI)
	OPENBLAS_NUM_THREADS=1 tests/cli/check_cli.sh $(abspath $(CLI)) build/cli-check $(ESMM_SHARED_DATA)
