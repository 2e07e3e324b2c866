# mk/experiment.mk - what does pCVR estimate? (issues 6 and 17)
# `make experiment` runs the study (cli/experiment*.c): every variant, two
# controls and three references on 3 confounding strengths x 2 CTR levels
# (100 k training rows; 10 seeds at confounding 2, 5 elsewhere), and six
# sweep arms at confounding 2, CTR 0.04 (4x rows, early stopping,
# propensity clip 0.05, lambda_c 0.1 and 3, click-conversion correlation 0),
# 10 seeds each: about an hour of one core (each model on one thread, one
# cell at a time: EXPERIMENT_ARGS='--set workers=2' for two). It appends
# every finished cell's runs to docs/what-pcvr-estimates.raw.tsv and resumes
# from it: an interrupted run
# continues where it stopped (remove the file to start over). The page
# docs/what-pcvr-estimates.md and its plots in docs/img/ are written from
# that file alone, followed by the hand-written
# docs/what-pcvr-estimates.reading.md; to rewrite them without training:
#   bin/esmm experiment --set from_raw=docs/what-pcvr-estimates.raw.tsv
#
# `make experiment-quick` (part of `make check`, well under a minute of CPU)
# runs the quick grid (two worlds, four variants and the references, two
# seeds, one sweep arm), fails when a main effect has the wrong sign, checks
# that the page written after the runs and the page rewritten from their raw
# file are the same bytes (plots too), that a second run over the same raw
# file trains nothing and writes the same page, and that the committed page
# and plots are what the committed raw file gives.

.PHONY: experiment experiment-quick

EXPERIMENT_NICE ?= nice -n 10

experiment: $(CLI)
	OPENBLAS_NUM_THREADS=1 $(EXPERIMENT_NICE) $(CLI) experiment $(EXPERIMENT_ARGS)

XQ := build/experiment-quick
experiment-quick: $(CLI)
	@rm -rf $(XQ) && mkdir -p $(XQ)/regen $(XQ)/doc
	@OPENBLAS_NUM_THREADS=1 $(CLI) experiment --quiet --set quick=1 --set raw=$(XQ)/quick.raw.tsv \
	  --out $(XQ)/page.md > $(XQ)/run.txt || { cat $(XQ)/run.txt; exit 1; }
	@tail -n 1 $(XQ)/run.txt
	@OPENBLAS_NUM_THREADS=1 $(CLI) experiment --quiet --set quick=1 --set from_raw=$(XQ)/quick.raw.tsv \
	  --out $(XQ)/regen/page.md > /dev/null
	@cmp $(XQ)/page.md $(XQ)/regen/page.md && diff -r $(XQ)/img $(XQ)/regen/img
	@cp $(XQ)/page.md $(XQ)/first.md && OPENBLAS_NUM_THREADS=1 $(CLI) experiment --set quick=1 \
	  --set raw=$(XQ)/quick.raw.tsv --out $(XQ)/page.md 2>&1 >/dev/null | grep -q '0 of 6 cells to run' && \
	  cmp $(XQ)/first.md $(XQ)/page.md
	@echo "experiment-quick: the page is its raw file's, byte for byte (plots too); a resumed run trains nothing"
	@$(CLI) experiment --quiet --set from_raw=docs/what-pcvr-estimates.raw.tsv \
	  --out $(XQ)/doc/what-pcvr-estimates.md > /dev/null && \
	  cmp $(XQ)/doc/what-pcvr-estimates.md docs/what-pcvr-estimates.md && \
	  for f in $(XQ)/doc/img/*.svg; do cmp $$f docs/img/$${f##*/} || exit 1; done && \
	  echo "experiment-quick: docs/what-pcvr-estimates.md and its plots are what its raw file gives"

CHECK_EXTRA += experiment-quick
