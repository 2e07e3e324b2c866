#!/bin/sh
# check_cli.sh - the esmm program as a user meets it (make check-cli):
# help, refusals with "did you mean", messages in CLI names, the training
# loop (validation, early stopping, best model, history, log, curve),
# resume/warm start, what a model remembers, the data report, eval/predict
# accounting and edge cases, dump. Usage: check_cli.sh ESMM WORKDIR DATADIR
set -u
ESMM=$1; W=$2; DATA=$3
PY=${PYTHON:-/usr/bin/python3}
fails=0; n=0
mkdir -p "$W"; cd "$W" || exit 1
rm -f ./*.esmm ./*.ckpt ./*.csv ./*.json ./*.svg ./*.out ./*.err ./*.txt ./*.tsv

ok() { n=$((n + 1)); }
bad() { n=$((n + 1)); fails=$((fails + 1)); echo "FAIL: $*"; }
# expect STATUS "needle" -- command...: exit status and a piece of stderr+stdout
expect() {
  want=$1; needle=$2; shift 2
  "$@" > run.out 2> run.err; got=$?
  if [ "$got" != "$want" ]; then bad "$* exited $got, expected $want"; sed 's/^/    /' run.err | head -5; return; fi
  if [ -n "$needle" ] && ! grep -qF -- "$needle" run.out run.err; then
    bad "$*: output lacks \"$needle\""; sed 's/^/    /' run.err run.out | head -8; return
  fi
  ok
}
json() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); $2" "$1" || bad "json check on $1: $2"; }

"$ESMM" simulate --rows 3000 --stream 0 --out train.txt
"$ESMM" simulate --rows 1500 --stream 1 --out valid.txt
RH=$DATA/ali-ccp/torch-rechub
SPEC='click=click;conversion=purchase;num=D*;cat=*'

# ---- help ---------------------------------------------------------------------
expect 0 "--valid FILE" "$ESMM" train --help
cp run.out help1.out
expect 0 "--valid FILE" "$ESMM" help train
cmp -s run.out help1.out && ok || bad "esmm help train differs from esmm train --help"
expect 0 "example: esmm eval" "$ESMM" eval -h
expect 0 "predict" "$ESMM" help
expect 0 "patience" "$ESMM" help options
expect 0 "adam | adagrad | sgd" "$ESMM" help options
for c in demo simulate convert train eval predict dump diagnose experiment; do
  expect 0 "example:" "$ESMM" "$c" --help
done

# ---- refusals, with the key named and a suggestion ---------------------------------
expect 2 'unknown command "tran" (did you mean train?)' "$ESMM" tran
expect 2 'unknown command "trian" (did you mean train?)' "$ESMM" trian
expect 2 "unknown option --vlaid (did you mean --valid?)" "$ESMM" train --vlaid x --data train.txt --model m.esmm
expect 2 "--valid is not an option of eval" "$ESMM" eval --valid valid.txt
expect 2 'unknown --set key "bach_size" (did you mean batch_size?)' "$ESMM" train --data train.txt --model m.esmm --set bach_size=3
expect 2 'unknown --set key "ESMM_OPT_EPOCHS" (did you mean epochs?)' "$ESMM" train --data train.txt --model m.esmm --set ESMM_OPT_EPOCHS=3
expect 2 "--set batch_size must be in [1, 1048576], got 0" "$ESMM" train --data train.txt --model m.esmm --set batch_size=0
expect 2 '--set optimizer: "adamw" is not one of adam, adagrad, sgd' "$ESMM" train --data train.txt --model m.esmm --set optimizer=adamw
expect 2 "--checkpoint-every needs --checkpoint" "$ESMM" train --data train.txt --model m.esmm --checkpoint-every 5
expect 2 "--set batch_size is not accepted here: it is a training option" "$ESMM" eval --model m.esmm --data valid.txt --set batch_size=8
expect 2 'unknown --set key "nonsense"' "$ESMM" predict --model m.esmm --data valid.txt --set nonsense=1
expect 2 "dense_features is not accepted here" "$ESMM" eval --model m.esmm --data valid.txt --set dense_features=3
expect 2 "give its column spec with --spec" "$ESMM" train --data "$RH/ali_ccp_train_sample.csv" --model m.esmm
expect 2 "takes no value" "$ESMM" train --json=1 --data train.txt --model m.esmm
expect 2 "--format \"txt\" (did you mean text?)" "$ESMM" train --format txt --data train.txt --model m.esmm
# a library message naming an enumerator is shown with the --set key
expect 1 "but --set dense_features is 0" "$ESMM" train --data "$RH/ali_ccp_train_sample.csv" --spec "$SPEC" --model m.esmm

# ---- the training loop ---------------------------------------------------------------
# min_delta 1: only the first evaluation can be the best, so training stops
# after 1 + patience evaluations, whatever the numbers
expect 0 "early stopping: ctr_auc did not improve for 2 evaluations" "$ESMM" train --data train.txt --valid valid.txt \
  --model es.esmm --set epochs=10 --set monitor=ctr_auc --set patience=2 --set min_delta=1 --set batch_size=256 \
  --log hist.csv --curve curve.svg --progress 0.000001
grep -q "hash tables sized from the data" run.err && ok || bad "train does not say how the hash tables were sized"
grep -q "^progress: step [0-9]* of 120" run.err && ok || bad "no progress line outside a terminal"
grep -q "^train data train.txt: 3000 rows read, 3000 kept" run.err && ok || bad "no data report for train"
grep -q "^valid data valid.txt: 1500 rows read" run.err && ok || bad "no data report for valid"
[ "$(wc -l < hist.csv)" -eq 4 ] && ok || bad "hist.csv should have a header and 3 records"
head -1 hist.csv | grep -q "^epoch,step,samples,seconds,train_loss,valid_ctr_auc," && ok || bad "hist.csv header"
"$PY" -c "import xml.dom.minidom,sys; d=xml.dom.minidom.parse(sys.argv[1]); assert len(d.getElementsByTagName('polyline')) == 5" curve.svg \
  && ok || bad "curve.svg is not an SVG with 5 curves"
expect 0 "" "$ESMM" train --data train.txt --valid valid.txt --model es2.esmm --set epochs=10 --set monitor=ctr_auc \
  --set patience=2 --set min_delta=1 --set batch_size=256 --log hist.json --json --quiet
cp run.out train.json
json train.json "assert d['stopped_early'] is True and len(d['history']) == 3 and d['best']['step'] == 12"
json train.json "assert [h['improved'] for h in d['history']] == [True, False, False]"
json train.json "assert isinstance(d['data'], list) and [x['role'] for x in d['data']] == ['train', 'valid']"
json train.json "assert d['valid']['ctr_auc'] == d['history'][0]['valid']['ctr_auc']"
json hist.json "assert len(d) == 3 and d[0]['step'] == 12"
# the model saved is the best one (epoch 1): evaluating it gives the first record's metrics
"$ESMM" eval --model es2.esmm --data valid.txt --json > ev.json
"$PY" -c "import json; t=json.load(open('train.json')); e=json.load(open('ev.json')); \
assert abs(t['history'][0]['valid']['ctr_auc'] - e['metrics']['ctr_auc']) < 1e-9" && ok || bad "the saved model is not the best one"
# eval every N steps: records at 5, 10, 12 (12 steps in one epoch of batch 256)
"$ESMM" train --data train.txt --model ev.esmm --set batch_size=256 --set eval_every=5 --json --quiet > every.json
json every.json "assert [h['step'] for h in d['history']] == [5, 10, 12] and d['valid'] is None"

# ---- resume and warm start -------------------------------------------------------------
"$ESMM" train --quiet --data train.txt --model r.esmm --checkpoint r.ckpt --set epochs=2 --set batch_size=256
expect 0 "" "$ESMM" train --quiet --data train.txt --model r2.esmm --resume r.ckpt --set epochs=3 --set learning_rate=0.0005
expect 1 "batch_size cannot change when a checkpoint is resumed: it defines the order and the size of the steps" \
  "$ESMM" train --quiet --data train.txt --model r2.esmm --resume r.ckpt --set batch_size=64
expect 1 "embed_dim cannot change when a checkpoint is resumed: it defines the shape of the saved parameters" \
  "$ESMM" train --quiet --data train.txt --model r2.esmm --resume r.ckpt --set embed_dim=4
expect 2 "--set fields cannot change" "$ESMM" train --quiet --data train.txt --model r2.esmm --resume r.ckpt --set fields=a,b
expect 2 "--set patience (early stopping) needs --valid FILE" "$ESMM" train --data train.txt --model x.esmm --set patience=2
"$ESMM" train --quiet --data train.txt --valid valid.txt --model p.esmm --checkpoint p.ckpt --set patience=3 --set batch_size=256
expect 2 "give --valid again, or --set patience=0" "$ESMM" train --data train.txt --model x.esmm --resume p.ckpt --set epochs=2
expect 0 "" "$ESMM" train --quiet --data train.txt --model x.esmm --resume p.ckpt --set epochs=2 --set patience=0
expect 2 "give one of them" "$ESMM" train --data train.txt --model x.esmm --resume r.ckpt --init r.esmm
expect 0 "started from the parameters of" "$ESMM" train --data train.txt --model w.esmm --init r.esmm --set batch_size=64 \
  --set optimizer=sgd --set learning_rate=0.01
expect 1 "embed_dim cannot change when a model is loaded" "$ESMM" train --data train.txt --model w.esmm --init r.esmm --set embed_dim=4

# ---- a model remembers how its data was read; the data report -----------------------------
expect 0 "" "$ESMM" train --data "$RH/ali_ccp_train_sample.csv" --spec "$SPEC" --set dense_features=8 --model rh.esmm --quiet
ls -l rh.esmm | awk '{ exit !($5 < 2000000) }' && ok || bad "a 100-row file gives a model of 2 MB or more"
expect 0 "evaluated 50 of 50 rows read" "$ESMM" eval --model rh.esmm --data "$RH/ali_ccp_test_sample.csv"
expect 0 "" "$ESMM" eval --model rh.esmm --data "$RH/ali_ccp_test_sample.csv" --json
cp run.out rh.json
json rh.json "r = d['data']; assert all(k in r for k in ('file','rows','kept','clicks','conversions','conv_no_click','skipped'))"
json rh.json "assert d['data']['rows'] == 50 and d['evaluated'] == 50 and d['metrics']['rows'] == 50"
expect 0 "" "$ESMM" dump --model rh.esmm --json
cp run.out dump.json
json dump.json "assert d['format_version'] == 2 and d['metadata']['input.format'] == 'csv' and d['metadata']['input.spec'] == \"$SPEC\""
expect 0 "input.spec=click=click" "$ESMM" dump --model rh.esmm
# a conversion without a click is reported, with the option that changes it
printf '0 1 101:5 121:3\n1 1 101:7 121:3\n1 0 101:1\n' > cnc.txt
expect 0 "warning: 1 row with a conversion but no click, kept as read (--set conv_no_click=zero|drop|error" \
  "$ESMM" eval --model r.esmm --data cnc.txt
printf 'click,conversion,101,121\n0,1,5,3\n1,1,7,3\n1,0,1,\n' > cnc.csv
expect 0 "evaluated 2 of 3 rows read (1 skipped" "$ESMM" eval --model r.esmm --data cnc.csv \
  --spec 'click=click;conversion=conversion;cat=*' --set conv_no_click=drop
grep -q "skipped 1: conv_no_click 1" run.out && ok || bad "the report does not count the dropped row by reason"

# ---- eval and predict on edge cases --------------------------------------------------------
: > empty.txt
expect 1 "no row to evaluate in empty.txt" "$ESMM" eval --model r.esmm --data empty.txt
grep -v '^1 ' valid.txt > noclick.txt
expect 1 "noclick.txt has no click" "$ESMM" eval --model r.esmm --data noclick.txt
"$ESMM" predict --model r.esmm --data valid.txt --out - > pred.tsv 2> pred.err
[ "$(wc -l < pred.tsv)" -eq 1501 ] && ok || bad "predict --out - wrote $(wc -l < pred.tsv) lines, expected 1501"
grep -q "scored 1500 of 1500 rows read" pred.err && ok || bad "predict does not say how many rows it scored"
[ ! -e ./- ] && ok || bad "predict --out - wrote a file named -"
"$ESMM" predict --model r.esmm --data valid.txt --out pred2.tsv --quiet && cmp -s pred.tsv pred2.tsv && ok || bad "predict --out FILE != --out -"

echo "check-cli: $((n - fails)) of $n checks passed"
[ "$fails" -eq 0 ]
