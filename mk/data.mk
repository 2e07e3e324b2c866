# mk/data.mk - the data module (issue 3): readers, cache, conversion.
#
#   make check-data-cli  (part of `make check`) esmm convert + esmm train on
#                        a generated raw Ali-CCP pair and on every sample in
#                        ../shared/data; eval/predict read the pair too
#   make bench-data      figures for docs/data.md: a generated Ali-CCP pair of
#                        >= 1 GB (BENCH_DATA_COPIES copies of a simulated
#                        pair, BENCH_DATA_ROWS rows each; repeated skeleton
#                        rows are valid data), then bench/data_bench: parse
#                        MB/s, convert MB/s and peak RSS, cache open GB/s,
#                        RSS of a loaded dataset vs the cache size (medians)
#   make bench-data-rss  convert peak RSS at 1x and 4x input size (the peak
#                        must not grow with the input)

DATA_DIR := build/data
SHARED_DATA ?= $(ESMM_SHARED_DATA)
BENCH_DATA_ROWS ?= 2000000
BENCH_DATA_COPIES ?= 5
BENCH_DATA_RUNS ?= 3
DATA_BENCH := build/bench/data_bench
ALIX_FIELDS := categorical_1,categorical_2,categorical_3,categorical_4,categorical_5,categorical_6,categorical_7,categorical_8,categorical_9,categorical_10,categorical_11,categorical_12,categorical_13,categorical_14,categorical_15,categorical_16
ALIX_SPEC := click=click;conversion=conversion;num=numerical_*;group=search_id;user=categorical_1;cat=*
RH_SPEC := click=click;conversion=purchase;num=D*;cat=*

.PHONY: check-data-cli bench-data bench-data-rss

CHECK_EXTRA += check-data-cli

check-data-cli: $(CLI)
	@mkdir -p $(DATA_DIR)
	$(CLI) simulate --format aliccp --rows 5000 --out $(DATA_DIR)/skel.csv --common $(DATA_DIR)/com.csv
	$(CLI) convert --quiet --data $(DATA_DIR)/skel.csv --common $(DATA_DIR)/com.csv --out $(DATA_DIR)/sim.cache
	$(CLI) train --quiet --set hash_buckets=2048 --data $(DATA_DIR)/sim.cache --model $(DATA_DIR)/sim.model
	$(CLI) eval --data $(DATA_DIR)/skel.csv --common $(DATA_DIR)/com.csv --model $(DATA_DIR)/sim.model > /dev/null
	$(CLI) predict --data $(DATA_DIR)/sim.cache --model $(DATA_DIR)/sim.model --out $(DATA_DIR)/sim.pred
	test $$(wc -l < $(DATA_DIR)/sim.pred) -eq 5001
	for f in train val test; do \
	  $(CLI) convert --quiet --set dense_features=8 --spec '$(RH_SPEC)' \
	    --data $(SHARED_DATA)/ali-ccp/torch-rechub/ali_ccp_$${f}_sample.csv --out $(DATA_DIR)/rh_$$f.cache && \
	  $(CLI) train --quiet --set hash_buckets=2048 --set dense_features=8 --data $(DATA_DIR)/rh_$$f.cache --model $(DATA_DIR)/rh.model || exit 1; \
	done
	$(CLI) convert --quiet --spec tokens --data $(SHARED_DATA)/ali-ccp/paddlerec-esmm/test/small.txt --out $(DATA_DIR)/pd.cache
	$(CLI) train --quiet --set hash_buckets=2048 --data $(DATA_DIR)/pd.cache --model $(DATA_DIR)/pd.model
	for f in torch-rechub/aliexpress_train_sample torch-rechub/aliexpress_test_sample fuxictr-tiny_mtl/train fuxictr-tiny_mtl/test; do \
	  $(CLI) convert --quiet --set dense_features=63 --set fields=$(ALIX_FIELDS) --spec '$(ALIX_SPEC)' \
	    --data $(SHARED_DATA)/aliexpress/$$f.csv --out $(DATA_DIR)/ae.cache && \
	  $(CLI) train --quiet --set hash_buckets=2048 --set dense_features=63 --set fields=$(ALIX_FIELDS) --data $(DATA_DIR)/ae.cache \
	    --model $(DATA_DIR)/ae.model || exit 1; \
	done
	printf '1,0,0,84dceed2e3a667f8,0,\n2,1,0,0000350f0c2121e7,0,\n' > $(DATA_DIR)/frag_skel.csv
	$(CLI) convert --quiet --data $(DATA_DIR)/frag_skel.csv \
	  --common $(SHARED_DATA)/ali-ccp/lhtlht-ali-ccp-notebook/common_features_train.head2.csv --out $(DATA_DIR)/frag.cache
	$(CLI) train --quiet --set hash_buckets=2048 --data $(DATA_DIR)/frag.cache --model $(DATA_DIR)/frag.model
	@echo "check-data-cli: convert + train passed on generated Ali-CCP and every shared sample"

$(DATA_BENCH): bench/data_bench.c $(HEADERS) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(APP_CFLAGS) -o $@ $< $(STATIC) $(LIB_LIBS)

# One simulated pair, replicated: the skeleton copies reference the same
# common rows (the common file is written once).
$(DATA_DIR)/big_skel.csv: $(CLI)
	@mkdir -p $(DATA_DIR)
	$(CLI) simulate --format aliccp --rows $(BENCH_DATA_ROWS) --out $(DATA_DIR)/one_skel.csv --common $(DATA_DIR)/big_com.csv
	rm -f $@.tmp
	for i in $$(seq $(BENCH_DATA_COPIES)); do cat $(DATA_DIR)/one_skel.csv >> $@.tmp; done
	mv $@.tmp $@

bench-data: $(DATA_BENCH) $(DATA_DIR)/big_skel.csv
	ls -l $(DATA_DIR)/big_skel.csv $(DATA_DIR)/big_com.csv
	$(DATA_BENCH) $(DATA_DIR)/big_skel.csv $(DATA_DIR)/big_com.csv $(DATA_DIR)/big.cache $(BENCH_DATA_RUNS)

bench-data-rss: $(CLI) $(DATA_DIR)/big_skel.csv
	head -n $$(( $(BENCH_DATA_ROWS) / 2 )) $(DATA_DIR)/one_skel.csv > $(DATA_DIR)/small_skel.csv
	for s in small_skel big_skel; do \
	  /usr/bin/time -f "$$s: convert peak RSS %M KB, %e s" $(CLI) convert --quiet --data $(DATA_DIR)/$$s.csv \
	    --common $(DATA_DIR)/big_com.csv --out $(DATA_DIR)/rss.cache; ls -l $(DATA_DIR)/$$s.csv; \
	done
