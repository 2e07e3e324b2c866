#!/bin/sh
# check_blas.sh - the esmm program as a host of OpenBLAS (make check-cli-blas):
# OPENBLAS_NUM_THREADS=1 put in the environment before OpenBLAS loads (one
# re-exec) unless the user set it, OPENBLAS_CORETYPE=SkylakeX when OpenBLAS
# runs its AVX2 kernels on an AVX-512 CPU, ESMM_CLI_KEEP_BLAS=1 as the way
# out, and what train reports. The kernel rule is exercised with a
# preloaded openblas_get_corename that says "Zen" (OpenBLAS on this machine
# may know its CPU). Usage: check_blas.sh ESMM WORKDIR
set -u
ESMM=$1; W=$2
PY=${PYTHON:-/usr/bin/python3}
CC=${CC:-cc}
fails=0; n=0
mkdir -p "$W"; cd "$W" || exit 1
rm -f ./*.esmm ./*.json ./*.out ./*.err ./*.txt ./*.so

ok() { n=$((n + 1)); }
bad() { n=$((n + 1)); fails=$((fails + 1)); echo "FAIL: $*"; }
expect() { # expect STATUS "needle" command...
  want=$1; needle=$2; shift 2
  "$@" > run.out 2> run.err; got=$?
  if [ "$got" != "$want" ]; then bad "$* exited $got, expected $want"; sed 's/^/    /' run.err | head -5; return; fi
  if [ -n "$needle" ] && ! grep -qF -- "$needle" run.out run.err; then
    bad "$*: output lacks \"$needle\""; sed 's/^/    /' run.err run.out | head -8; return
  fi
  ok
}
json() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); $2" "$1" && ok || bad "json check on $1: $2"; }
# the program with the BLAS variables unset, as a user's shell would run it
clean() { env -u OPENBLAS_NUM_THREADS -u GOTO_NUM_THREADS -u ESMM_CLI_KEEP_BLAS -u ESMM_CLI_BLAS_SET "$@"; }

CPUS=$(nproc)
"$ESMM" simulate --rows 2000 --out train.txt

# OpenBLAS's own thread count, as loaded (the opt-out leaves it alone)
expect 0 "(ESMM_CLI_KEEP_BLAS: as loaded)" clean ESMM_CLI_KEEP_BLAS=1 "$ESMM" version
OWN=$(sed -n 's/.*; \([0-9][0-9]*\) threads\{0,1\} .*/\1/p' run.out)
[ -n "$OWN" ] && ok || bad "version does not say how many threads OpenBLAS runs: $(cat run.out)"
OWN=${OWN:-1}
if [ "$OWN" -gt 1 ]; then
  expect 0 "; 1 thread (OPENBLAS_NUM_THREADS=1 set by esmm)" clean "$ESMM" version
  # train says it in its first line, and trains on every CPU
  expect 0 "" clean "$ESMM" train --data train.txt --model m.esmm --set hash_buckets=256
  head -1 run.err | grep -q "^blas: OpenBLAS.*; 1 thread (OPENBLAS_NUM_THREADS=1 set by esmm)" && ok \
    || bad "train's first line is not the BLAS setup: $(head -1 run.err)"
  grep -q "^model: .*, $CPUS training thread" run.err && ok || bad "train does not train on $CPUS threads: $(grep '^model:' run.err)"
  clean "$ESMM" train --data train.txt --model m.esmm --set hash_buckets=256 --json --quiet > t.json
  json t.json "b = d['blas']; assert b['threads'] == 1 and 'OPENBLAS_NUM_THREADS=1' in b['set_by_esmm'] and b['model_threads'] == $CPUS, b"
  # opted out: OpenBLAS keeps its pool and the model falls back to one thread
  clean ESMM_CLI_KEEP_BLAS=1 "$ESMM" train --data train.txt --model m.esmm --set hash_buckets=256 --json --quiet > k.json
  json k.json "b = d['blas']; assert b['threads'] == $OWN and b['set_by_esmm'] == [] and b['kept'] and b['model_threads'] == 1, b"
else
  echo "check-cli-blas: OpenBLAS runs 1 thread here: nothing to set (thread checks skipped)"
  expect 0 "; 1 thread" clean "$ESMM" version
  grep -q "set by esmm" run.out && bad "esmm set OPENBLAS_NUM_THREADS though OpenBLAS runs 1 thread" || ok
fi
# the user's setting wins
expect 0 "OPENBLAS_NUM_THREADS=1 given" clean OPENBLAS_NUM_THREADS=1 "$ESMM" version
expect 0 "(OPENBLAS_NUM_THREADS=2 given)" clean OPENBLAS_NUM_THREADS=2 "$ESMM" version
grep -q "set by esmm" run.out && bad "esmm overrode OPENBLAS_NUM_THREADS=2" || ok
# the guard variable does not reach the commands' environment
clean "$ESMM" train --data train.txt --model m.esmm --set hash_buckets=256 --json --quiet > g.json
json g.json "assert 'blas' in d"

# ---- the kernels: OPENBLAS_CORETYPE=SkylakeX on an AVX-512 CPU running AVX2 kernels ----------
avx512=1
for f in avx512f avx512bw avx512vl avx512dq; do grep -qw "$f" /proc/cpuinfo || avx512=0; done
cat > zen.c <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
/* OpenBLAS's corename as OpenBLAS 0.3.21 says it on AMD Zen 4/5 unless
 * OPENBLAS_CORETYPE is set (ZEN_ALWAYS: whatever is set, to test the guard). */
char *openblas_get_corename(void) {
  const char *ct = getenv("OPENBLAS_CORETYPE");
  char *(*real)(void) = (char *(*)(void))dlsym(RTLD_NEXT, "openblas_get_corename");
#ifndef ZEN_ALWAYS
  if (ct && *ct)
    return real ? real() : (char *)"?";
#endif
  return (char *)"Zen";
}
EOF
if $CC -shared -fPIC -o zen.so zen.c 2>/dev/null && $CC -shared -fPIC -DZEN_ALWAYS -o zen_always.so zen.c 2>/dev/null; then
  if [ "$avx512" = 1 ]; then
    expect 0 "kernels SkylakeX (OPENBLAS_CORETYPE=SkylakeX set by esmm: AVX-512 CPU)" \
      clean -u OPENBLAS_CORETYPE LD_PRELOAD="$PWD/zen.so" "$ESMM" version
    # a kernel name that stays "Zen" after the re-exec: the guard stops a loop
    expect 0 "kernels Zen (OPENBLAS_CORETYPE=SkylakeX set by esmm: AVX-512 CPU)" \
      timeout 60 env -u OPENBLAS_CORETYPE -u OPENBLAS_NUM_THREADS LD_PRELOAD="$PWD/zen_always.so" "$ESMM" version
    # the user's choice wins, with the hint
    expect 0 "OPENBLAS_CORETYPE=Haswell given; this CPU has AVX-512: OPENBLAS_CORETYPE=SkylakeX is faster" \
      clean OPENBLAS_CORETYPE=Haswell LD_PRELOAD="$PWD/zen_always.so" "$ESMM" version
    expect 0 "kernels Zen (AVX2 kernels on an AVX-512 CPU: OPENBLAS_CORETYPE=SkylakeX is faster)" \
      clean -u OPENBLAS_CORETYPE ESMM_CLI_KEEP_BLAS=1 LD_PRELOAD="$PWD/zen.so" "$ESMM" version
    clean -u OPENBLAS_CORETYPE LD_PRELOAD="$PWD/zen.so" "$ESMM" train --data train.txt --model m.esmm \
      --set hash_buckets=256 --json --quiet > c.json
    json c.json "b = d['blas']; assert b['kernels'] == 'SkylakeX' and 'OPENBLAS_CORETYPE=SkylakeX' in b['set_by_esmm'], b"
  else
    expect 0 "kernels" clean -u OPENBLAS_CORETYPE LD_PRELOAD="$PWD/zen.so" "$ESMM" version
    grep -q "OPENBLAS_CORETYPE=SkylakeX set by esmm" run.out && bad "SkylakeX kernels set on a CPU without AVX-512" || ok
  fi
else
  echo "check-cli-blas: no C compiler for the corename shim (kernel checks skipped)"
fi

echo "check-cli-blas: $((n - fails)) of $n checks passed"
[ "$fails" -eq 0 ]
