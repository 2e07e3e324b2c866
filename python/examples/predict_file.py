#!/usr/bin/python3
"""Score every row of a text data file with a saved model; output identical
to the score columns of `esmm predict` (pctr, pcvr, pctcvr per row, %.9g;
`esmm predict` adds the row's line first and a skip reason last).

    PYTHONPATH=python python3 python/examples/predict_file.py MODEL DATA [THREADS]

Rows are sent to the library in requests of the model's batch size (the
chunking `esmm predict` uses: SGEMM may round differently for another row
count), spread over THREADS Python threads sharing the one model; ctypes
releases the GIL during each call, so the threads score in parallel."""
import ctypes
import sys
import threading

import esmm

# strtof rounds a decimal straight to float, as the library's reader does;
# float(s) followed by a float32 conversion would round twice.
_libc = ctypes.CDLL(None)
_libc.strtof.restype = ctypes.c_float
_libc.strtof.argtypes = [ctypes.c_char_p, ctypes.c_void_p]


def read_rows(path, fields):
    index = {name: i for i, name in enumerate(fields)}
    offsets, fs, ids, vals = [0], [], [], []
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            toks = line.split()
            if not toks:
                continue
            for tok in toks[2:]:
                parts = tok.split(b":")
                if len(parts) not in (2, 3) or parts[0].decode() not in index:
                    raise ValueError("%s:%d: bad feature %r" % (path, lineno, tok))
                fs.append(index[parts[0].decode()])
                ids.append(int(parts[1]))
                vals.append(_libc.strtof(parts[2], None) if len(parts) == 3 else 1.0)
            offsets.append(len(fs))
    return offsets, fs, ids, vals


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    try:
        model = esmm.Model.load(argv[1])
        offsets, fs, ids, vals = read_rows(argv[2], model.fields)
    except (esmm.EsmmError, OSError, ValueError) as e:
        sys.stderr.write("predict_file: %s\n" % e)
        return 1
    threads = int(argv[3]) if len(argv) > 3 else 4
    n, batch = len(offsets) - 1, model.batch_size
    out = [None] * n
    chunks = list(range(0, n, batch))
    lock = threading.Lock()
    errors = []

    def work():
        while True:
            with lock:
                if not chunks:
                    return
                first = chunks.pop()
            k = min(batch, n - first)
            base = offsets[first]
            off = [o - base for o in offsets[first:first + k + 1]]
            end = offsets[first + k]
            try:
                p = model.predict_csr(off, fs[base:end], ids[base:end], vals[base:end])
            except esmm.EsmmError as e:
                errors.append(str(e))
                return
            for i in range(k):
                out[first + i] = (p[0][i], p[1][i], p[2][i])

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        sys.stderr.write("predict_file: %s\n" % errors[0])
        return 1
    w = sys.stdout.write
    w("pctr\tpcvr\tpctcvr\n")
    for a, b, c in out:
        w("%.9g\t%.9g\t%.9g\n" % (a, b, c))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
