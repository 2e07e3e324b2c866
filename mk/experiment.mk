# mk/experiment.mk - what does pCVR estimate? (issue 6)
# `make experiment` trains every variant on simulated worlds (3 confounding
# strengths x 2 CTR levels x 5 seeds; about 15-30 minutes on 2 cores) and
# writes docs/what-pcvr-estimates.md, its plots in docs/img/ and every run's
# numbers in docs/what-pcvr-estimates.raw.tsv (the hand-written
# docs/what-pcvr-estimates.reading.md is appended to the page). To rewrite
# the page from the saved numbers without training:
#   bin/esmm experiment --set from_raw=docs/what-pcvr-estimates.raw.tsv
# `make experiment-quick` (part of `make check`, well under 2 minutes) runs
# one seed of ESMM, BASE and ESCM2-IPS on two worlds and fails when a main
# effect has the wrong sign. One OpenBLAS thread per model: the experiment
# runs its own worker threads (--set workers=N).

.PHONY: experiment experiment-quick

experiment: $(CLI)
	OPENBLAS_NUM_THREADS=1 $(CLI) experiment --set raw=docs/what-pcvr-estimates.raw.tsv $(EXPERIMENT_ARGS)

experiment-quick: $(CLI)
	OPENBLAS_NUM_THREADS=1 $(CLI) experiment --quiet --set quick=1

CHECK_EXTRA += experiment-quick
