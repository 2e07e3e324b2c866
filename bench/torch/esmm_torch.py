#!/usr/bin/env python3
"""esmm_torch.py - libesmm's ESMM, written in PyTorch, as the reference to
measure libesmm against (issue 13). `make bench-torch` runs it.

Same data, same model, same parameters as libesmm's defaults:
  * reads libesmm's text format (src/io/text.c): one impression a line,
    "click conversion field:id[:value] ...", blank lines and '#' comments
    skipped; the 23 default field names of src/config.c;
  * hashes ids exactly like libesmm (src/embedding.h, src/rng.h):
    row = base[f] + splitmix64(id) mod hash_buckets, one table of
    hash_buckets rows per field, all stored as one contiguous table;
  * sum-pools each field weighted by the feature values, embedding dim 18,
    two ReLU towers 414 -> 360 -> 200 -> 80 -> 1 initialised like libesmm
    (He normal weights, zero biases, embeddings N(0, 0.01^2));
  * loss = BCE(pCTR, y) + BCE(pCTR * pCVR, y*z), from the logits in log
    space (log(1 - pCTR*pCVR) = logaddexp(logsig(-a), logsig(a) + logsig(-b)),
    the identity libesmm uses too), mean over the batch;
  * Adam lr 1e-3, batch 1,024, one epoch over a row shuffle. Embeddings
    (--emb-optim): "lazy" (default, the fastest) = Adam on the rows the
    batch touched, the update of torch.optim.SparseAdam and of libesmm,
    with a hand-written embedding backward; "sparse" = the textbook
    EmbeddingBag(sparse=True) + SparseAdam; "dense" = dense gradients +
    torch.optim.Adam (every row moves every step; ~0.5 s a step here).

Prints one JSON line: parse seconds, training samples/s (the training loop
only, shuffle included, like libesmm's samples_per_sec), wall seconds of
parse + train + evaluate, peak RSS and the test AUCs (CTR, CVR on clicked
impressions, CTCVR), computed like src/metrics.c (Mann-Whitney, ties half).

Needs python3-torch and python3-numpy (Debian). The thread count is fixed
before torch and numpy load OpenBLAS: OMP_NUM_THREADS (PyTorch's own
intra-op threads) and OPENBLAS_NUM_THREADS (the GEMMs) are both set to
--threads, then torch.set_num_threads(--threads); OMP_WAIT_POLICY=PASSIVE
(--omp-wait). glibc is told to keep freed memory (--malloc).

Check that the reader and hash agree with libesmm: make bench-torch-check.
"""
import argparse
import json
import os
import resource
import sys
import time

DEFAULT_FIELDS = ("101", "121", "122", "124", "125", "126", "127", "128", "129", "109_14", "110_14",
                  "127_14", "150_14", "205", "206", "207", "210", "216", "508", "509", "702", "853", "301")

CHUNK = 16 << 20  # bytes of text parsed per numpy pass


class FormatError(Exception):
    pass


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train", required=True, help="training file, libesmm's text format")
    p.add_argument("--test", help="test file for the AUCs (none: no evaluation)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads and BLAS threads (default 2)")
    p.add_argument("--emb-optim", choices=("lazy", "sparse", "dense"), default="lazy",
                   help="embeddings: lazy = Adam on the touched rows with a hand-written embedding "
                        "backward (default); sparse = EmbeddingBag(sparse=True) + torch.optim.SparseAdam "
                        "(same update); dense = dense gradients + torch.optim.Adam")
    p.add_argument("--malloc", choices=("keep", "default"), default="keep",
                   help="keep: mallopt so that step temporaries stay in the heap (default)")
    p.add_argument("--omp-wait", choices=("passive", "active", "default"), default="passive",
                   help="OMP_WAIT_POLICY for PyTorch's OpenMP threads (default passive; "
                        "default = leave the environment as it is)")
    p.add_argument("--max-steps", type=int, default=0, help="stop training after N steps (0: full epochs)")
    p.add_argument("--towers", choices=("fused", "separate"), default="fused",
                   help="fused: both towers' layers as one GEMM (first layer) and batched GEMMs "
                        "(default); separate: two nn.Sequential")
    p.add_argument("--hash-buckets", type=int, default=131072)
    p.add_argument("--embed-dim", type=int, default=18)
    p.add_argument("--tower", default="360,200,80", help="hidden widths of each tower")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--fields", default=",".join(DEFAULT_FIELDS), help="comma-separated field names")
    p.add_argument("--dump-rows", type=int, default=0, metavar="N",
                   help="print the first N rows of --train as read and hashed (the format of "
                        "bench/torch/dump_rows.c), then exit")
    p.add_argument("--tag", default="", help="free text copied into the JSON line")
    a = p.parse_args(argv)
    if a.threads < 1 or a.batch_size < 1 or a.hash_buckets < 1 or a.embed_dim < 1 or a.epochs < 1:
        p.error("--threads, --batch-size, --hash-buckets, --embed-dim and --epochs must be >= 1")
    return a


# ---------------------------------------------------------------- parsing

class TextParser:
    """Vectorised (numpy) reader of libesmm's text format.

    The file is read in CHUNK-byte blocks cut after the last newline; each
    block is split into tokens with array operations only, except values in
    a notation other than plain decimals (exponents, inf, ...), which go
    through float(). The result is CSR-like:
      click, conv: uint8 per row;
      row_off:     int64, tokens of row i are [row_off[i], row_off[i+1]);
      rows:        int32 table row of each token (field base + hashed id),
                   sorted by field within a row;
      weights:     float32 feature value of each token;
      bag_len:     (n_rows, n_fields) tokens of each field in each row.
    """

    def __init__(self, np, fields, buckets):
        self.np = np
        self.fields = list(fields)
        self.nf = len(self.fields)
        self.buckets = buckets
        maxlen = max(len(f) for f in self.fields)
        if maxlen > 8:
            raise ValueError("field names longer than 8 bytes are not supported by this reader")
        self.maxlen = maxlen
        keys = [self._key_of(f.encode()) for f in self.fields]
        order = np.argsort(np.array(keys, dtype=np.uint64))
        self.keys = np.array(keys, dtype=np.uint64)[order]
        self.key_field = order.astype(np.int64)
        sep = np.zeros(256, dtype=bool)
        sep[[9, 10, 13, 32]] = True
        self.sep = sep
        self.base = np.arange(self.nf, dtype=np.int64) * buckets

    @staticmethod
    def _key_of(b):
        return int.from_bytes(b, "little")

    def _fail(self, line_no, msg):
        raise FormatError("%s:%d: %s" % (self.name, line_no, msg))

    def read(self, path):
        np = self.np
        self.name = path
        parts = {k: [] for k in ("click", "conv", "rows", "weights", "bag_len", "row_len")}
        self.line0 = 0  # lines before the current chunk
        with open(path, "rb") as f:
            carry = b""
            while True:
                block = f.read(CHUNK)
                if not block:
                    if carry:
                        self._chunk(carry + b"\n", parts)
                    break
                block = carry + block
                cut = block.rfind(b"\n")
                if cut < 0:
                    carry = block
                    continue
                carry = block[cut + 1:]
                self._chunk(block[:cut + 1], parts)
        out = {}
        for k in ("click", "conv", "rows", "weights", "bag_len", "row_len"):
            lst = parts.pop(k)
            out[k] = np.concatenate(lst) if lst else np.zeros(0, dtype=np.int64)
            del lst
        row_len = out.pop("row_len")
        out["row_off"] = np.zeros(len(row_len) + 1, dtype=np.int64)
        np.cumsum(row_len, out=out["row_off"][1:])
        out["bag_len"] = out["bag_len"].reshape(-1, self.nf)
        out["n_rows"] = len(out["click"])
        return out

    def _chunk(self, buf, parts):
        np = self.np
        a = np.frombuffer(buf, dtype=np.uint8)
        tok = ~self.sep[a]
        d = np.diff(tok.view(np.int8), prepend=np.int8(0), append=np.int8(0))
        del tok
        starts = np.flatnonzero(d == 1)
        ends = np.flatnonzero(d == -1)
        del d
        nl = np.flatnonzero(a == 10)
        n_lines = len(nl)
        line = np.searchsorted(nl, starts)  # line of each token, 0-based in the chunk
        del nl
        if len(starts) == 0:
            self.line0 += n_lines
            return
        first = np.empty(len(starts), dtype=bool)
        first[0] = True
        np.not_equal(line[1:], line[:-1], out=first[1:])
        comment = first & (a[starts] == ord("#"))
        if comment.any():
            keep = ~np.isin(line, line[comment])
            starts, ends, line, first = starts[keep], ends[keep], line[keep], first[keep]
            if len(starts) == 0:
                self.line0 += n_lines
                return
        second = np.zeros(len(starts), dtype=bool)
        second[1:] = first[:-1] & (line[1:] == line[:-1])
        fi, si = np.flatnonzero(first), np.flatnonzero(second)
        if len(si) != len(fi):
            bad = np.setdiff1d(line[fi], line[si])[0]
            self._fail(self.line0 + bad + 1, "missing conversion label")
        labels = []
        for idx, what in ((fi, "click"), (si, "conversion")):
            s, e = starts[idx], ends[idx]
            c = a[s]
            ok = (e - s == 1) & ((c == 48) | (c == 49))
            if not ok.all():
                j = np.flatnonzero(~ok)[0]
                self._fail(self.line0 + line[idx[j]] + 1, "%s must be 0 or 1, got %r"
                           % (what, bytes(buf[s[j]:e[j]][:48]).decode("latin-1")))
            labels.append((c - 48).astype(np.uint8))
        n_rows = len(fi)
        row = np.cumsum(first) - 1  # row of each token
        feat = ~(first | second)
        fs, fe, frow, fline = starts[feat], ends[feat], row[feat], line[feat]
        del starts, ends, line, first, second, row, feat
        field, rows, w = self._features(a, buf, fs, fe, fline)
        key = frow * self.nf + field
        del frow, field
        order = np.argsort(key, kind="stable")
        bag_len = np.bincount(key, minlength=n_rows * self.nf)
        big = bag_len.max(initial=0)
        bag_len = bag_len.astype(np.uint8 if big < 256 else np.uint16 if big < 65536 else np.int32)
        row_len = bag_len.reshape(n_rows, self.nf).sum(axis=1, dtype=np.int64)
        parts["click"].append(labels[0])
        parts["conv"].append(labels[1])
        parts["rows"].append(rows[order])
        parts["weights"].append(w[order])
        parts["bag_len"].append(bag_len)
        parts["row_len"].append(row_len)
        self.line0 += n_lines

    def _features(self, a, buf, fs, fe, fline):
        np = self.np
        n = len(fs)
        last = len(a) - 1
        cpos = np.flatnonzero(a == 58)
        k = np.searchsorted(cpos, fs)
        ncol = np.searchsorted(cpos, fe) - k
        if n and not (ncol >= 1).all():
            j = np.flatnonzero(ncol < 1)[0]
            self._fail(self.line0 + fline[j] + 1, "token %r has no ':'" % self._tok(buf, fs[j], fe[j]))
        cpos = np.append(cpos, len(a))  # so that k + 1 is always a valid index
        c1 = cpos[k]
        c2 = np.where(ncol >= 2, cpos[k + 1], fe)
        # field name -> index: up to 8 bytes packed little-endian into a uint64
        nlen = c1 - fs
        key = np.zeros(n, dtype=np.uint64)
        for j in range(self.maxlen):
            b = a[np.minimum(fs + j, last)].astype(np.uint64)
            b[nlen <= j] = 0
            key |= b << np.uint64(8 * j)
        pos = np.minimum(np.searchsorted(self.keys, key), len(self.keys) - 1)
        known = (self.keys[pos] == key) & (nlen >= 1) & (nlen <= self.maxlen)
        if not known.all():
            j = np.flatnonzero(~known)[0]
            self._fail(self.line0 + fline[j] + 1, "unknown field %r" % self._tok(buf, fs[j], c1[j]))
        field = self.key_field[pos]
        del key, pos, known, nlen
        # ids: unsigned decimal, up to 20 digits (2^64 - 1)
        ilen = c2 - c1 - 1
        bad = (ilen < 1) | (ilen > 20)
        ids = np.zeros(n, dtype=np.uint64)
        ten = np.uint64(10)
        for j in range(int(ilen.max(initial=0)) if n else 0):
            live = np.flatnonzero(ilen > j)
            if j == 19:  # a 20-digit id: the first 19 digits must leave room
                lim = np.uint64(1844674407370955161)
                over = (ids[live] > lim) | ((ids[live] == lim) & (a[c1[live] + 1 + j] > ord("5")))
                bad[live[over]] = True
            dgt = a[c1[live] + 1 + j]
            bad[live[(dgt < 48) | (dgt > 57)]] = True
            ids[live] = ids[live] * ten + (dgt.astype(np.uint64) - np.uint64(48))
        if bad.any():
            j = np.flatnonzero(bad)[0]
            self._fail(self.line0 + fline[j] + 1, "id %r is not an unsigned 64-bit integer"
                       % self._tok(buf, c1[j] + 1, c2[j]))
        del ilen, bad
        # values
        w = np.ones(n, dtype=np.float32)
        has = np.flatnonzero(ncol == 2)
        if len(has):
            w[has] = self._values(a, buf, c2[has] + 1, fe[has], fline[has])
        many = np.flatnonzero(ncol > 2)
        if len(many):
            j = many[0]
            self._fail(self.line0 + fline[j] + 1, "value %r is not a number" % self._tok(buf, c2[j] + 1, fe[j]))
        return field, self._hash(ids, field), w

    def _values(self, a, buf, vs, ve, vline):
        """Plain decimals ([+-]digits[.digits]) in array operations, the rest through float()."""
        np = self.np
        n = len(vs)
        last = len(a) - 1
        c = a[np.minimum(vs, last)]
        sign = (c == 45) | (c == 43)
        neg = c == 45
        s = vs + sign
        vlen = ve - s
        width = int(vlen.max(initial=0))
        mant = np.zeros(n, dtype=np.int64)
        ndig = np.zeros(n, dtype=np.int64)
        frac = np.zeros(n, dtype=np.int64)
        dots = np.zeros(n, dtype=np.int64)
        simple = vlen >= 1
        for j in range(width):
            live = j < vlen
            ch = a[np.minimum(s + j, last)]
            dig = live & (ch >= 48) & (ch <= 57)
            dot = live & (ch == 46)
            simple &= ~live | dig | dot
            dots += dot
            frac += dig & (dots > 0)
            ndig += dig
            np.copyto(mant, mant * 10 + (ch.astype(np.int64) - 48), where=dig & (ndig <= 18))
        simple &= (dots <= 1) & (ndig >= 1) & (ndig <= 18)
        v = mant.astype(np.float64) / np.power(10.0, frac)
        v[neg] = -v[neg]
        other = np.flatnonzero(~simple)
        for j in other:  # exponents, inf, nan, over-long mantissas: strtod's job
            t = self._tok(buf, vs[j], ve[j])
            try:
                if "_" in t:  # float() takes "1_0"; strtod does not
                    raise ValueError(t)
                v[j] = float(t)
            except ValueError:
                self._fail(self.line0 + vline[j] + 1, "value %r is not a number" % t)
        with np.errstate(over="ignore"):
            v32 = v.astype(np.float32)  # beyond the float range: inf, refused below
        if not np.isfinite(v32).all():
            j = np.flatnonzero(~np.isfinite(v32))[0]
            self._fail(self.line0 + vline[j] + 1, "value %r is not finite" % self._tok(buf, vs[j], ve[j]))
        return v32

    def _hash(self, ids, field):
        """esmm__embedding_row: base[f] + splitmix64(id) mod buckets."""
        np = self.np
        x = ids + np.uint64(0x9E3779B97F4A7C15)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
        b = self.buckets
        if b & (b - 1) == 0:
            x &= np.uint64(b - 1)
        else:
            x %= np.uint64(b)
        rows = x.astype(np.int64) + self.base[field]
        return rows.astype(np.int32) if self.nf * b < 2**31 else rows

    @staticmethod
    def _tok(buf, s, e):
        return bytes(buf[s:min(e, s + 48)]).decode("latin-1")


# ---------------------------------------------------------------- metrics

def auc(np, score, label):
    """Mann-Whitney AUC with half-counted ties, as esmm_auc; NaN when a class is absent."""
    score = np.asarray(score, dtype=np.float32)
    label = np.asarray(label).astype(bool)
    pos = int(label.sum())
    neg = len(label) - pos
    if pos == 0 or neg == 0:
        return float("nan")
    order = np.argsort(score, kind="stable")
    s, y = score[order], label[order]
    # groups of equal score
    edge = np.flatnonzero(np.r_[True, s[1:] != s[:-1], True])
    gpos = np.add.reduceat(y.astype(np.float64), edge[:-1])
    gcnt = np.diff(edge).astype(np.float64)
    gneg = gcnt - gpos
    neg_below = np.cumsum(gneg) - gneg
    u = float(np.sum(gpos * neg_below) + 0.5 * np.sum(gpos * gneg))
    return u / (float(pos) * float(neg))


# ---------------------------------------------------------------- model

def build_model(torch, args, in_dim):
    nn = torch.nn
    hidden = [int(h) for h in args.tower.split(",") if h]
    widths = [in_dim] + hidden + [1]

    def he_(w, fan_in):  # libesmm: He normal, zero bias (src/mlp.c)
        with torch.no_grad():
            w.normal_(0.0, (2.0 / fan_in) ** 0.5)

    class SeparateTowers(nn.Module):
        """Two nn.Sequential towers: the textbook way."""

        def __init__(self):
            super().__init__()
            self.towers = nn.ModuleList()
            for _ in range(2):
                layers = []
                for i in range(len(widths) - 1):
                    lin = nn.Linear(widths[i], widths[i + 1])
                    he_(lin.weight, widths[i])
                    nn.init.zeros_(lin.bias)
                    layers.append(lin)
                    if i < len(widths) - 2:
                        layers.append(nn.ReLU())
                self.towers.append(nn.Sequential(*layers))

        def forward(self, x):
            return self.towers[0](x).squeeze(1), self.towers[1](x).squeeze(1)

    class FusedTowers(nn.Module):
        """The same two towers, fewer and larger GEMMs: both first layers read
        the same input, so they are one (in x 2*h1) GEMM; the layers after
        run as batched GEMMs over the pair (torch.baddbmm)."""

        def __init__(self):
            super().__init__()
            w0 = torch.empty(2 * widths[1], widths[0])
            he_(w0, widths[0])
            self.w0 = nn.Parameter(w0)
            self.b0 = nn.Parameter(torch.zeros(2 * widths[1]))
            self.ws = nn.ParameterList()
            self.bs = nn.ParameterList()
            for i in range(1, len(widths) - 1):
                w = torch.empty(2, widths[i], widths[i + 1])  # stored (in, out): x @ w
                he_(w, widths[i])
                self.ws.append(nn.Parameter(w))
                self.bs.append(nn.Parameter(torch.zeros(2, 1, widths[i + 1])))

        def forward(self, x):
            n = x.shape[0]
            h = torch.relu(torch.addmm(self.b0, x, self.w0.t()))  # (n, 2*h1)
            h = h.view(n, 2, -1).transpose(0, 1)  # (2, n, h1), strided view
            last = len(self.ws) - 1
            for i, (w, b) in enumerate(zip(self.ws, self.bs)):
                h = torch.baddbmm(b, h, w)
                if i < last:
                    h = torch.relu(h)
            return h[0, :, 0], h[1, :, 0]

    return FusedTowers() if args.towers == "fused" else SeparateTowers()


def esmm_loss(torch, a, b, y, t):
    """Mean over the batch of BCE(pCTR, y) + BCE(pCTR*pCVR, y*z), from logits."""
    F = torch.nn.functional
    ls_a, ls_na, ls_b, ls_nb = F.logsigmoid(a), F.logsigmoid(-a), F.logsigmoid(b), F.logsigmoid(-b)
    l_ctr = -torch.where(y, ls_a, ls_na)
    log_p = ls_a + ls_b
    # 1 - s(a)s(b) = s(-a) + s(a)s(-b): two positive terms, no cancellation
    log_1mp = torch.logaddexp(ls_na, ls_a + ls_nb)
    l_ctcvr = -torch.where(t, log_p, log_1mp)
    return (l_ctr + l_ctcvr).mean()


# ---------------------------------------------------------------- embeddings

class LazyAdam:
    """Adam on the embedding rows a batch touched, with a hand-written
    embedding backward: the same update as torch.optim.SparseAdam (moments
    and weights of untouched rows stay; bias correction by the step count),
    without a COO tensor. The batch's duplicate rows are grouped on the data
    side (numpy: one argsort), so the backward is one more embedding_bag:
    each distinct row sums the pooled-gradient rows of its tokens, weighted
    by their values."""

    def __init__(self, torch, table, lr, betas=(0.9, 0.999), eps=1e-8):
        self.torch = torch
        self.table = table
        self.m = torch.zeros_like(table)
        self.v = torch.zeros_like(table)
        self.lr, self.b1, self.b2, self.eps = lr, betas[0], betas[1], eps
        self.t = 0

    def step(self, uniq, tok_bag, u_off, w_sorted, grad_pooled):
        torch = self.torch
        F = torch.nn.functional
        g = F.embedding_bag(tok_bag, grad_pooled, u_off, mode="sum", per_sample_weights=w_sorted)
        self.t += 1
        bc1 = 1.0 - self.b1 ** self.t
        bc2 = 1.0 - self.b2 ** self.t
        m = self.m.index_select(0, uniq).mul_(self.b1).add_(g, alpha=1.0 - self.b1)
        v = self.v.index_select(0, uniq).mul_(self.b2).addcmul_(g, g, value=1.0 - self.b2)
        den = v.div(bc2).sqrt_().add_(self.eps)
        w = self.table.index_select(0, uniq).addcdiv_(m, den, value=-self.lr / bc1)
        self.m.index_copy_(0, uniq, m)
        self.v.index_copy_(0, uniq, v)
        self.table.index_copy_(0, uniq, w)


def keep_heap():
    """glibc returns every freed block above 128 KiB-32 MiB to the kernel
    (mmap/munmap), so each step's temporaries are fresh pages, faulted in
    again: expensive on this VM. Keep them in the heap (the usual CPU advice
    for PyTorch is jemalloc/tcmalloc, which do the same; neither is
    installed here)."""
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 << 20)  # M_MMAP_THRESHOLD: mmap only blocks >= 256 MiB
        libc.mallopt(-1, 1 << 30)    # M_TRIM_THRESHOLD: keep up to 1 GiB free at the heap top
        return True
    except (OSError, AttributeError):
        return False


# ---------------------------------------------------------------- main

def dump_rows(np, args):
    """What this reader makes of --train, in dump_rows.c's format."""
    fields = [f for f in args.fields.split(",") if f]
    d = TextParser(np, fields, args.hash_buckets).read(args.train)
    off, rows, w = d["row_off"], d["rows"], d["weights"]
    out = sys.stdout
    for i in range(min(args.dump_rows, d["n_rows"])):
        feats = "".join(" %d:%s" % (r, "%.9g" % v) for r, v in zip(rows[off[i]:off[i + 1]].tolist(),
                                                                  w[off[i]:off[i + 1]].tolist()))
        out.write("%d %d%s\n" % (d["click"][i], d["conv"][i], feats))
    return 0


def main(argv):
    args = parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)  # before numpy and torch load OpenBLAS
    if args.omp_wait != "default":
        # PyTorch's own ops run on OpenMP threads, its GEMMs on OpenBLAS's
        # pthreads: two pools. Idle OpenMP threads that spin take the cores
        # the GEMM threads need (badly so on a loaded machine); PASSIVE
        # makes them sleep.
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait.upper()
    heap = keep_heap() if args.malloc == "keep" else False
    import numpy as np
    if args.dump_rows:
        return dump_rows(np, args)
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    F = torch.nn.functional
    fields = [f for f in args.fields.split(",") if f]
    nf, dim, bsz = len(fields), args.embed_dim, args.batch_size
    t_start = time.perf_counter()

    parser = TextParser(np, fields, args.hash_buckets)
    t0 = time.perf_counter()
    tr = parser.read(args.train)
    parse_train = time.perf_counter() - t0
    n = tr["n_rows"]
    if n == 0:
        raise FormatError("%s: no rows" % args.train)

    mode = args.emb_optim
    table = torch.empty(nf * args.hash_buckets, dim)
    with torch.no_grad():
        table.normal_(0.0, 0.01)  # libesmm: init_scale 0.01
    towers = build_model(torch, args, nf * dim)
    if mode == "lazy":
        opt_emb = LazyAdam(torch, table, args.lr)
    else:
        table = torch.nn.Parameter(table)
        if mode == "sparse":
            opt_emb = torch.optim.SparseAdam([table], lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
        else:
            opt_emb = torch.optim.Adam([table], lr=args.lr, betas=(0.9, 0.999), eps=1e-8, foreach=True)
    opt_dense = torch.optim.Adam(towers.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8, foreach=True)

    rows_np, w_np = tr["rows"], tr["weights"]
    row_off, bag_len = tr["row_off"], tr["bag_len"]
    row_len = np.diff(row_off)
    click, conv = tr["click"].astype(bool), tr["conv"].astype(bool)
    bags = np.arange(bsz * nf, dtype=np.int64)
    if mode == "lazy":
        slot = np.full(len(table), -1, dtype=np.int32)  # distinct-row number of each table row
        seq = np.arange(1 << 16, dtype=np.int32)
    rng = np.random.default_rng(args.seed)

    def batch(sel):
        """The tokens, bag offsets and labels of rows sel, as tensors; for
        the lazy path also the batch's distinct rows and its tokens grouped
        by row (order, group offsets)."""
        lens = row_len[sel]
        ends = np.cumsum(lens)
        tot = int(ends[-1])
        gidx = np.repeat(row_off[sel] - (ends - lens), lens)
        gidx += np.arange(tot, dtype=np.int64)
        r = rows_np[gidx]
        w = w_np[gidx]
        bl = bag_len[sel].reshape(-1)
        offs = np.zeros(len(bl), dtype=np.int64)
        np.cumsum(bl[:-1], out=offs[1:])
        out = [torch.from_numpy(r.astype(np.int64)), torch.from_numpy(w), torch.from_numpy(offs),
               torch.from_numpy(click[sel]), torch.from_numpy(click[sel] & conv[sel])]
        if mode == "lazy":
            # distinct rows through a per-row slot table, as libesmm's
            # scatter does: O(tokens), no sort of the row numbers
            if tot > len(seq):
                seq.resize(2 * tot, refcheck=False)
                seq[:] = np.arange(len(seq), dtype=np.int32)
            ar = seq[:tot]
            slot[r] = ar  # the last token of each row wins
            uniq = r[slot[r] == ar]
            nu = len(uniq)
            slot[uniq] = seq[:nu]
            inv = slot[r]  # distinct-row number of each token
            slot[uniq] = -1
            # tokens grouped by distinct row (radix sort when the count fits 16 bits)
            order = np.argsort(inv.astype(np.uint16) if nu <= 65536 else inv, kind="stable")
            u_off = np.zeros(nu, dtype=np.int64)
            np.cumsum(np.bincount(inv, minlength=nu)[:-1], out=u_off[1:])
            tok_bag = np.repeat(bags[:len(bl)], bl)[order]
            out += [torch.from_numpy(uniq.astype(np.int64)), torch.from_numpy(tok_bag),
                    torch.from_numpy(u_off), torch.from_numpy(w[order])]
        return out

    towers.train()
    steps = 0
    loss_sum = 0.0
    seen = 0
    t0 = time.perf_counter()
    for _ in range(args.epochs):
        perm = rng.permutation(n)
        for i in range(0, n, bsz):
            if args.max_steps and steps >= args.max_steps:
                break
            sel = perm[i:i + bsz]
            bt = batch(sel)
            idx, w, offs, y, t = bt[:5]
            if mode == "lazy":
                with torch.no_grad():
                    pooled = F.embedding_bag(idx, table, offs, mode="sum", per_sample_weights=w)
                pooled.requires_grad_()
            else:
                pooled = F.embedding_bag(idx, table, offs, mode="sum", per_sample_weights=w,
                                         sparse=mode == "sparse")
            a, b = towers(pooled.view(len(sel), nf * dim))
            loss = esmm_loss(torch, a, b, y, t)
            if mode != "lazy":
                opt_emb.zero_grad(set_to_none=mode == "sparse")
            opt_dense.zero_grad(set_to_none=True)
            loss.backward()
            if mode == "lazy":
                opt_emb.step(bt[5], bt[6], bt[7], bt[8], pooled.grad)
            else:
                opt_emb.step()
            opt_dense.step()
            steps += 1
            seen += len(sel)
            loss_sum += float(loss)
    train_s = time.perf_counter() - t0
    del tr, rows_np, w_np, row_off, bag_len, row_len, click, conv, opt_emb
    table = table.detach()

    out = {"tool": "pytorch", "torch": torch.__version__, "threads": args.threads, "emb_optim": mode,
           "towers": args.towers, "malloc": "keep" if heap else "default",
           "omp_wait": os.environ.get("OMP_WAIT_POLICY", ""), "train": args.train, "rows": n,
           "steps": steps, "train_loss": round(loss_sum / max(steps, 1), 6),
           "parse_train_s": round(parse_train, 2), "train_s": round(train_s, 2),
           "samples_per_sec": round(seen / train_s)}
    if args.tag:
        out["tag"] = args.tag
    if args.test:
        t0 = time.perf_counter()
        te = parser.read(args.test)
        parse_test = time.perf_counter() - t0
        rows_t, w_t = torch.from_numpy(te["rows"]), torch.from_numpy(te["weights"])
        m = te["n_rows"]
        pctr = np.empty(m, dtype=np.float32)
        pcvr = np.empty(m, dtype=np.float32)
        towers.eval()
        t0 = time.perf_counter()
        with torch.no_grad():
            eb = 8192
            for i in range(0, m, eb):
                j = min(i + eb, m)
                lo, hi = te["row_off"][i], te["row_off"][j]
                bl = te["bag_len"][i:j].reshape(-1)
                offs = np.zeros(len(bl), dtype=np.int64)
                np.cumsum(bl[:-1], out=offs[1:])
                emb = F.embedding_bag(rows_t[lo:hi].long(), table, torch.from_numpy(offs), mode="sum",
                                      per_sample_weights=w_t[lo:hi])
                a, b = towers(emb.view(j - i, nf * dim))
                pctr[i:j] = torch.sigmoid(a).numpy()
                pcvr[i:j] = torch.sigmoid(b).numpy()
        eval_s = time.perf_counter() - t0
        y, z = te["click"].astype(bool), te["conv"].astype(bool)
        out.update({"test": args.test, "test_rows": m, "parse_test_s": round(parse_test, 2),
                    "eval_s": round(eval_s, 2),
                    "ctr_auc": round(auc(np, pctr, y), 6),
                    "cvr_auc_clicked": round(auc(np, pcvr[y], z[y]), 6),
                    "ctcvr_auc": round(auc(np, pctr * pcvr, y & z), 6)})
    out["wall_s"] = round(time.perf_counter() - t_start, 2)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (FormatError, OSError) as e:
        print("esmm_torch: %s" % e, file=sys.stderr)
        sys.exit(1)
