#!/bin/sh
# check_data.sh - every row accounted for, as the esmm program shows it
# (make check-cli-data): every format through standard input with its row
# count; each field of the data report, in text and --json, on small files
# with known counts (headerless CSV, quoted CSV, CRLF + BOM, conversions
# without a click under every conv_no_click policy, bad rows under
# on_error=skip); bad input under on_error=fail (file:line[:col]: reason,
# exit 1); eval/predict accounting and the policy they inherit; predict's
# output joined back to its input. Usage: check_data.sh ESMM WORKDIR DATADIR
set -u
ESMM=$1; W=$2; DATA=$3
PY=${PYTHON:-/usr/bin/python3}
fails=0; n=0
mkdir -p "$W"; cd "$W" || exit 1
rm -f ./*.esmm ./*.csv ./*.json ./*.out ./*.err ./*.txt ./*.tsv ./*.cache ./*.jsonl

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
has() { # has FILE "text": a line of FILE holds the text
  grep -qF -- "$2" "$1" && ok || { bad "$1 lacks \"$2\""; sed 's/^/    /' "$1" | head -12; }
}
json() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); $2" "$1" && ok || bad "json check on $1: $2"; }

# ---- every format through standard input --------------------------------------------
"$ESMM" simulate --rows 3000 --stream 0 --out sim.txt
"$ESMM" simulate --rows 700 --stream 1 --format aliccp --out skel.csv --common com.csv
"$ESMM" train --quiet --data sim.txt --model sim.esmm --set hash_buckets=512 --set embed_dim=4
# token lines and a CSV over fields of the default field list (101, 205, 206)
awk 'BEGIN { srand(7); for (i = 1; i <= 400; i++) { c = rand() < 0.3; printf "s%d,%d,%d,101:%d,205:%d,206:%d\n", i, c, c && rand() < 0.3, i % 17, i % 29, i % 5 } }' > tok.txt
awk 'BEGIN { srand(9); print "click,purchase,101,205,206"; for (i = 1; i <= 250; i++) { c = rand() < 0.3; printf "%d,%d,%d,%d,u%d\n", c, c && rand() < 0.3, i % 11, i % 23, i % 7 } }' > fmt.csv
CSPEC='click=click;conversion=purchase;cat=*'
"$ESMM" convert --quiet --data sim.txt --out sim.cache
for f in "sim.txt 3000" "skel.csv 700 --common com.csv" "tok.txt 400" "fmt.csv 250 --spec $CSPEC" "sim.cache 3000"; do
  set -- $f; file=$1; rows=$2; shift 2
  "$ESMM" eval --model sim.esmm --data - "$@" --json < "$file" > pipe.json 2> pipe.err || bad "eval --data - < $file: $(head -3 pipe.err)"
  json pipe.json "assert d['data']['rows'] == $rows and d['evaluated'] == $rows and d['data']['file'] == '-', (d['data'], '$file')"
  "$ESMM" predict --model sim.esmm --data - "$@" < "$file" > pipe.tsv 2> pipe.err
  [ "$(wc -l < pipe.tsv)" -eq $((rows + 1)) ] && ok || bad "predict --data - < $file wrote $(wc -l < pipe.tsv) lines, expected $((rows + 1))"
  grep -q "scored $rows of $rows rows read" pipe.err && ok || bad "predict --data - < $file: $(tail -1 pipe.err)"
  # a pipe, not a redirected file: the detection prefix is read again, nothing lost
  cat "$file" | "$ESMM" eval --model sim.esmm --data /dev/stdin "$@" --json > pipe.json 2> pipe.err
  json pipe.json "assert d['data']['rows'] == $rows and d['evaluated'] == $rows, ('$file', d['data'])"
  [ "$file" = sim.cache ] && continue
  cat "$file" | "$ESMM" convert --data - "$@" --out piped.cache --json > conv.json 2> conv.err
  json conv.json "assert d['data']['rows'] == $rows and d['data']['kept'] == $rows, ('$file', d['data'])"
done
# the common file is read twice: not from a pipe; standard input once
expect 1 "must be a regular file" sh -c "cat com.csv | '$ESMM' eval --model sim.esmm --data skel.csv --common -"
expect 2 "standard input can be read once" "$ESMM" train --data - --valid - --model x.esmm
expect 2 "give its column spec with --spec" sh -c "'$ESMM' convert --data - --out x.cache < fmt.csv"

# ---- a headerless CSV (columns=): known counts, text and JSON ----------------------------
printf '1,0,a,x\n0,0,b,y\n1,1,c,z\n0,1,d,w\n1,0,,v\n' > nohead.csv
NSPEC='columns=click,conv,f1,f2;click=click;conversion=conv;cat=*'
expect 0 "train data nohead.csv: 5 rows read, 5 kept; 3 clicks, 2 conversions (1 after a click)" \
  "$ESMM" train --data nohead.csv --spec "$NSPEC" --set fields=f1,f2 --model nohead.esmm
has run.err "policies: on_error=fail, conv_no_click=keep"
has run.err "conversions without a click: 1 read: 1 kept, 0 zeroed, 0 skipped"
has run.err "warning: 1 row with a conversion but no click, kept as read (--set conv_no_click=zero|drop|error changes that)"
"$ESMM" eval --model nohead.esmm --data nohead.csv --json > nohead.json
json nohead.json "r = d['data']; assert (r['rows'], r['kept'], r['clicks'], r['conversions'], r['clicked_conversions']) == (5, 5, 3, 2, 1), r"
json nohead.json "r = d['data']; assert (r['conv_no_click'], r['conv_no_click_policy'], r['conv_no_click_kept']) == (1, 'keep', 1), r"
json nohead.json "r = d['data']; assert r['skipped'] == {'malformed': 0, 'label': 0, 'missing_common': 0, 'conv_no_click': 0} and r['messages'] == [], r"
json nohead.json "r = d['data']; assert (r['common_lists'], r['features_ignored'], r['on_error'], r['format']) == (0, 0, 'fail', 'csv'), r"
json nohead.json "assert len(d['data']['warnings']) == 1 and 'conv_no_click=zero|drop|error' in d['data']['warnings'][0]"
# the model remembers the headerless spec: eval reads the file the same way
"$ESMM" dump --model nohead.esmm --json > dump.json
json dump.json "assert d['metadata']['input.spec'] == '$NSPEC'"
# a columns= list of the wrong length: every row is malformed
printf '1,0,a\n0,0,b\n' > short.csv
expect 1 "short.csv:1: expected 4 comma-separated columns (columns=), found 3" \
  "$ESMM" eval --model nohead.esmm --data short.csv
expect 1 "no row to evaluate in short.csv (2 rows read)" "$ESMM" eval --model nohead.esmm --data short.csv --set on_error=skip
has run.err "skipped 2: malformed 2"

# ---- a quoted CSV: commas, doubled quotes and a line break inside cells ------------------
printf 'rid,click,conv,f1,f2\n"r,1",1,0,"a,b","say ""hi"""\nr2,0,0,c,d\n"r""3",1,1,"e\nf",g\nr4,0,0,"h",""\n' > quoted.csv
QSPEC='id=rid;click=click;conversion=conv;cat=f1,f2'
expect 0 "train data quoted.csv: 4 rows read, 4 kept; 2 clicks, 1 conversions (1 after a click)" \
  "$ESMM" train --data quoted.csv --spec "$QSPEC" --set fields=f1,f2 --model quoted.esmm
"$ESMM" predict --model quoted.esmm --data quoted.csv --json > quoted.jsonl 2> quoted.err
"$PY" - quoted.jsonl <<'EOF' && ok || bad "predict of the quoted CSV: ids or lines"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [(r["line"], r["id"]) for r in rows] == [(2, "r,1"), (3, "r2"), (4, 'r"3'), (6, "r4")], rows
assert all(0 < r["pctr"] < 1 for r in rows)
EOF
has quoted.err "scored 4 of 4 rows read"
# a string column under cat=* that is not a field: the error says how to name it
expect 1 "name a row-id" "$ESMM" train --data quoted.csv --spec 'click=click;conversion=conv;cat=*' --set fields=f1,f2 --model x.esmm
# an unterminated quote: file:line:col under fail, counted under skip
printf 'rid,click,conv,f1,f2\nr1,1,0,a,b\nr2,0,0,"c,d\n' > openq.csv
expect 1 "openq.csv:3:8: unterminated quote" "$ESMM" eval --model quoted.esmm --data openq.csv
expect 0 "skipped 1: malformed 1" "$ESMM" predict --model quoted.esmm --data openq.csv --set on_error=skip
has run.err "openq.csv:3:8: unterminated quote"
[ "$(sed -n 3p run.out)" = "$(printf '3\t\t\t\t\tmalformed')" ] && ok || bad "predict: the skipped row is not line 3 with its reason: $(sed -n 3p run.out)"

# ---- CRLF line ends and a UTF-8 byte-order mark ---------------------------------------------
printf '\357\273\277click,conv,f1,f2\r\n1,0,a,x\r\n0,0,b,y\r\n1,1,c,z\r\n' > crlf.csv
CRSPEC='click=click;conversion=conv;cat=*'
expect 0 "train data crlf.csv: 3 rows read, 3 kept; 2 clicks, 1 conversions (1 after a click)" \
  "$ESMM" train --data crlf.csv --spec "$CRSPEC" --set fields=f1,f2 --model crlf.esmm
"$ESMM" eval --model crlf.esmm --data - --json < crlf.csv > crlf.json
json crlf.json "r = d['data']; assert (r['rows'], r['kept'], r['clicks'], r['conversions'], r['skipped_rows']) == (3, 3, 2, 1, 0), r"
printf '\357\273\2771 0 f1:5 f2:3\r\n0 0 f1:2\r\n' > crlf.txt
expect 0 "eval data crlf.txt: 2 rows read, 2 kept; 1 clicks, 0 conversions" "$ESMM" eval --model crlf.esmm --data crlf.txt

# ---- conversions without a click under every policy (text format) -----------------------------
printf '1 1 f1:1\n0 1 f1:2\n0 1 f1:3\n1 0 f1:4\n0 0 f1:5\n' > cnc.txt
for p in keep zero drop error; do
  "$ESMM" eval --model crlf.esmm --data cnc.txt --set conv_no_click=$p --set on_error=skip --json > cnc_$p.json 2> cnc.err \
    || bad "eval conv_no_click=$p: $(head -2 cnc.err)"
done
json cnc_keep.json "r = d['data']; assert (r['rows'], r['kept'], r['conversions'], r['conv_no_click'], r['conv_no_click_kept'], r['skipped_rows']) == (5, 5, 3, 2, 2, 0), r"
json cnc_zero.json "r = d['data']; assert (r['kept'], r['conversions'], r['conv_no_click'], r['conv_no_click_zeroed'], r['warnings']) == (5, 1, 2, 2, []), r"
json cnc_drop.json "r = d['data']; assert (r['kept'], r['conv_no_click'], r['conv_no_click_skipped'], r['skipped']['conv_no_click'], r['messages']) == (3, 2, 2, 2, []), r"
json cnc_error.json "r = d['data']; assert (r['kept'], r['skipped']['conv_no_click'], len(r['messages'])) == (3, 2, 2) and r['messages'][0].startswith('cnc.txt:2'), r"
json cnc_drop.json "assert d['evaluated'] == 3 and d['read'] == 5"
expect 0 "conversions without a click: 2 read: 0 kept, 2 zeroed, 0 skipped" "$ESMM" eval --model crlf.esmm --data cnc.txt --set conv_no_click=zero
grep -q "warning:" run.out && bad "conv_no_click=zero still warns" || ok
expect 0 "evaluated 3 of 5 rows read (2 skipped: see the data report)" "$ESMM" eval --model crlf.esmm --data cnc.txt --set conv_no_click=drop
has run.out "skipped 2: conv_no_click 2"
expect 1 "cnc.txt:2" "$ESMM" eval --model crlf.esmm --data cnc.txt --set conv_no_click=error
expect 0 "conversions without a click: 2 read: 2 kept, 0 zeroed, 0 skipped" "$ESMM" eval --model crlf.esmm --data cnc.txt
has run.out "warning: 2 rows with a conversion but no click, kept as read (--set conv_no_click=zero|drop|error changes that)"

# ---- bad input: fail stops with file:line[:col]: reason, skip counts by reason -------------------
printf 'click,conv,f1,f2\n1,0,a,x\n2,0,b,y\n0,0,c\n1,1,d,z\n0,0,"e,w\n' > bad.csv
expect 1 "bad.csv:3:1: click must be 0 or 1, got \"2\"" "$ESMM" eval --model crlf.esmm --data bad.csv
expect 0 "skipped 3: malformed 2, label 1" "$ESMM" eval --model crlf.esmm --data bad.csv --set on_error=skip
has run.out "eval data bad.csv: 5 rows read, 2 kept"
has run.out "    bad.csv:3:1: click must be 0 or 1"
has run.out "    bad.csv:4"
has run.out "    bad.csv:6:5: unterminated quote"
has run.out "evaluated 2 of 5 rows read (3 skipped: see the data report)"
"$ESMM" eval --model crlf.esmm --data bad.csv --set on_error=skip --json > bad.json
json bad.json "r = d['data']; assert r['skipped'] == {'malformed': 2, 'label': 1, 'missing_common': 0, 'conv_no_click': 0} and r['skipped_rows'] == 3, r"
json bad.json "r = d['data']; assert len(r['messages']) == 3 and r['on_error'] == 'skip' and [m.split(':')[1] for m in r['messages']] == ['3', '4', '6'], r"
expect 1 "more than 2 bad rows; the last: bad.csv:6:5" "$ESMM" eval --model crlf.esmm --data bad.csv --set on_error=skip --set max_errors=2
# a header that does not match the spec stops the read even under skip
printf 'click,conversion,f1,f2\n1,0,a,x\n' > head.csv
expect 1 "head.csv:1: the spec names column \"conv\"" "$ESMM" eval --model crlf.esmm --data head.csv
expect 1 "head.csv:1" "$ESMM" eval --model crlf.esmm --data head.csv --set on_error=skip

# ---- what eval and predict inherit from the model --------------------------------------------
# trained with on_error=skip: the model's label and feature policies are used,
# not its on_error (data.c): a bad row stops eval unless skipping is asked for
expect 0 "policies: on_error=skip" "$ESMM" train --data bad.csv --spec "$CRSPEC" --set fields=f1,f2 --set on_error=skip \
  --set conv_no_click=zero --model skip.esmm
expect 1 "the model was trained with on_error=skip, which eval does not inherit" "$ESMM" eval --model skip.esmm --data bad.csv
expect 0 "evaluated 2 of 5 rows read" "$ESMM" eval --model skip.esmm --data bad.csv --set on_error=skip
expect 0 "conv_no_click=zero" "$ESMM" eval --model skip.esmm --data cnc.txt
has run.out "(the model was trained with on_error=skip; eval reads with on_error=fail unless --set on_error=skip is given)"
"$ESMM" eval --model skip.esmm --data cnc.txt --json > inh.json
json inh.json "assert d['model_on_error'] == 'skip' and d['data']['on_error'] == 'fail' and d['data']['conv_no_click_policy'] == 'zero'"

# ---- predict joins back to its input ------------------------------------------------------------
printf 'rid,click,conv,f1,f2\nk1,1,0,a,x\n\nk2,0,0,b,y\nk3,5,0,c,z\nk4,1,1,d,w\nk5,0,0,e\nk6,0,1,f,v\n' > join.csv
JSPEC='id=rid;click=click;conversion=conv;cat=f1,f2'
"$ESMM" predict --model crlf.esmm --data join.csv --spec "$JSPEC" --set on_error=skip --out join.tsv 2> join.err \
  || bad "predict join.csv: $(head -2 join.err)"
has join.err "scored 4 of 6 rows read (2 skipped: see the data report)"
"$PY" - join.csv join.tsv <<'EOF' && ok || bad "predict output does not join back to join.csv"
import csv, sys
lines = open(sys.argv[1]).read().split("\n")
out = list(csv.reader(open(sys.argv[2]), delimiter="\t"))
assert out[0] == ["line", "id", "pctr", "pcvr", "pctcvr", "skipped"], out[0]
data = [i + 1 for i, l in enumerate(lines) if l][1:]                             # data lines, header excluded
assert [int(r[0]) for r in out[1:]] == data, (out, data)                          # one line per input row, in order
for r in out[1:]:
    src = lines[int(r[0]) - 1].split(",")
    if r[5]:                                                                       # skipped: no score, a reason
        assert r[2:5] == ["", "", ""] and r[5] in ("label", "malformed"), r
    else:
        assert r[1] == src[0] and 0 < float(r[2]) < 1, (r, src)                  # the id of that very line
assert [r[5] for r in out[1:]] == ["", "", "label", "", "malformed", ""], out
EOF
# the join survives a cache: lines, ids and skipped rows are kept in it
"$ESMM" convert --data join.csv --spec "$JSPEC" --set fields=f1,f2 --set on_error=skip --out join.cache --quiet
"$ESMM" predict --model crlf.esmm --data join.cache --quiet > join2.tsv
cmp -s join.tsv join2.tsv && ok || bad "predict from the cache differs from predict from the file"
"$ESMM" predict --model crlf.esmm --data join.csv --spec "$JSPEC" --set on_error=skip --json --quiet > join.jsonl
"$PY" -c "import json; r=[json.loads(l) for l in open('join.jsonl')]; assert [x['line'] for x in r] == [2,4,5,6,7,8] and r[2]['skipped'] == 'label' and r[2]['pctr'] is None and r[0]['id'] == 'k1'" \
  && ok || bad "predict --json lines"

# ---- the report of a convert and of diagnose --------------------------------------------------
expect 0 "convert data join.csv: 6 rows read, 4 kept" "$ESMM" convert --data join.csv --spec "$JSPEC" --set fields=f1,f2 \
  --set on_error=skip --out j2.cache
has run.out "skipped 2: malformed 1, label 1"
expect 0 "diagnose data cnc.txt: 5 rows read, 5 kept" "$ESMM" diagnose --model crlf.esmm --data cnc.txt
"$ESMM" diagnose --model crlf.esmm --data cnc.txt --json > diag.json
json diag.json "assert d['data']['rows'] == 5 and d['data']['conv_no_click'] == 2 and d['rows'] == 5"
expect 0 "ESCM2 bias test" "$ESMM" diagnose --quiet --model crlf.esmm --data cnc.txt
grep -q "diagnose data" run.out run.err && bad "diagnose --quiet printed the data report" || ok
# a cache names the input it was made from
expect 0 "eval data j2.cache (a cache of join.csv): 6 rows read, 4 kept" "$ESMM" eval --model crlf.esmm --data j2.cache

# ---- a real file of ../shared/data --------------------------------------------------------------
RH=$DATA/ali-ccp/torch-rechub
SPEC='click=click;conversion=purchase;num=D*;cat=*'
"$ESMM" train --quiet --data "$RH/ali_ccp_train_sample.csv" --spec "$SPEC" --set dense_features=8 --model rh.esmm
"$ESMM" eval --model rh.esmm --data - --json < "$RH/ali_ccp_val_sample.csv" > rh.json
json rh.json "r = d['data']; assert (r['rows'], r['kept'], r['clicks'], r['conversions'], r['clicked_conversions'], r['conv_no_click']) == (50, 50, 3, 1, 1, 0), r"
tail -n +2 "$RH/ali_ccp_test_sample.csv" > rh_nohead.csv
COLS=$(head -1 "$RH/ali_ccp_test_sample.csv")
expect 0 "eval data rh_nohead.csv: 50 rows read, 50 kept; 2 clicks, 1 conversions (1 after a click)" \
  "$ESMM" eval --model rh.esmm --data rh_nohead.csv --spec "columns=$COLS;$SPEC"

echo "check-cli-data: $((n - fails)) of $n checks passed"
[ "$fails" -eq 0 ]
