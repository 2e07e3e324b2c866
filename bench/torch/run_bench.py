#!/usr/bin/env python3
"""run_bench.py - libesmm's CLI and esmm_torch.py side by side on the same
files (`make bench-torch` runs it; see bench/torch/README.md).

For each thread count, each run is a child process measured with wait4():
wall time of the process and its peak RSS (what /usr/bin/time -v reports).
  libesmm:  bin/esmm train ... --set threads=T --json, then bin/esmm eval
            --json; wall = train + eval processes, peak RSS = the larger;
  PyTorch:  esmm_torch.py --threads T (one process: parse, train, evaluate).
Each configuration runs --repeat times and the median of each figure is
reported. Prints every run as a JSON line, then a table.
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ESMM_SETS = ["hash_buckets=131072", "ctr_tower=360,200,80", "cvr_tower=360,200,80", "batch_size=1024",
             "learning_rate=1e-3"]


def run(cmd, env=None):
    """Run cmd; its stdout, wall seconds and peak RSS in MB."""
    print("+ " + " ".join(shlex.quote(c) for c in cmd), file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit("run_bench: %s failed with status %d" % (cmd[0], p.returncode))
    return out.decode(), wall, ru.ru_maxrss / 1024.0


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    sys.exit("run_bench: no JSON line in output:\n" + text)


def count_rows(path):
    """Lines of a text file that hold a row (not blank, not '#')."""
    n = 0
    with open(path, "rb") as f:
        for line in f:
            t = line.strip()
            n += bool(t) and not t.startswith(b"#")
    return n


def esmm_run(args, threads):
    model = os.path.join(os.path.dirname(args.train), "m.esmm")
    load = os.getloadavg()[0]
    sets = []
    for s in ESMM_SETS + ["threads=%d" % threads] + args.esmm_set:
        sets += ["--set", s]
    out, w1, r1 = run([args.esmm, "train", "--data", args.train, "--model", model] + sets + ["--json"])
    tr = last_json(out)
    out, w2, r2 = run([args.esmm, "eval", "--model", model, "--data", args.test, "--json"])
    met = last_json(out)["metrics"]
    return {"tool": "libesmm", "threads": threads, "rows": args.train_rows, "samples_per_sec": tr["samples_per_sec"],
            "train_loss": tr["train_loss"], "wall_s": round(w1 + w2, 2), "train_process_s": round(w1, 2),
            "eval_process_s": round(w2, 2), "peak_rss_mb": round(max(r1, r2)),
            "ctr_auc": met["ctr_auc"], "cvr_auc_clicked": met["cvr_auc_clicked"], "ctcvr_auc": met["ctcvr_auc"],
            "load_before": round(load, 2)}


def torch_run(args, threads, mode):
    cmd = [args.python, os.path.join(HERE, "esmm_torch.py"), "--train", args.train, "--test", args.test,
           "--threads", str(threads), "--emb-optim", mode] + args.torch_arg
    if mode == "dense" and args.dense_steps:
        cmd += ["--max-steps", str(args.dense_steps)]
    load = os.getloadavg()[0]
    out, wall, rss = run(cmd)
    r = last_json(out)
    r["load_before"] = round(load, 2)
    r["process_wall_s"] = round(wall, 2)
    r["process_peak_rss_mb"] = round(rss)
    return r


def median_of(runs):
    m = dict(runs[0])
    for k, v in runs[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            m[k] = statistics.median(r[k] for r in runs)
    m["runs"] = len(runs)
    return m


def fmt(v, spec):
    if v is None:
        return "-"
    return format(v, spec)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--esmm", default="bin/esmm")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--threads", default="2,1", help="comma-separated thread counts")
    p.add_argument("--torch-modes", default="lazy",
                   help="comma-separated esmm_torch.py --emb-optim values (lazy, sparse, dense)")
    p.add_argument("--dense-steps", type=int, default=0,
                   help="dense mode: stop after N steps (an epoch of dense Adam takes about half an hour)")
    p.add_argument("--repeat", type=int, default=1, help="runs of each configuration (median reported)")
    p.add_argument("--skip-esmm", action="store_true")
    p.add_argument("--table-from", metavar="LOG", help="print the table of the JSON lines of an earlier run")
    p.add_argument("--esmm-set", action="append", default=[], help="extra --set for bin/esmm train")
    p.add_argument("--torch-arg", action="append", default=[], help="extra argument for esmm_torch.py")
    args = p.parse_args()
    threads = [int(t) for t in args.threads.split(",") if t]
    modes = [m for m in args.torch_modes.split(",") if m]

    if args.table_from:
        print_table(args, table_from(args.table_from))
        return
    args.train_rows = count_rows(args.train) if not args.skip_esmm else 0
    results = []
    for t in threads:
        configs = ([("libesmm", None)] if not args.skip_esmm else []) + [("pytorch", m) for m in modes]
        for tool, mode in configs:
            runs = []
            for _ in range(args.repeat):
                r = esmm_run(args, t) if tool == "libesmm" else torch_run(args, t, mode)
                print(json.dumps(r), flush=True)
                runs.append(r)
            results.append(median_of(runs))
    print_table(args, results)


def table_from(path):
    """Medians of the JSON lines of an earlier run, per (tool, mode, threads), in their order."""
    groups = {}
    with open(path) as f:
        for line in f:
            if line.startswith("{"):
                r = json.loads(line)
                groups.setdefault((r["tool"], r.get("emb_optim"), r["threads"]), []).append(r)
    return [median_of(g) for g in groups.values()]


def print_table(args, results):
    cols = []
    for r in results:
        name = "libesmm" if r["tool"] == "libesmm" else "PyTorch %s" % r["emb_optim"]
        cols.append(("%s T=%d" % (name, r["threads"]), r))
    rows = [("training samples/s", lambda r: fmt(r["samples_per_sec"], ",.0f")),
            ("wall s, parse+train+eval", lambda r: fmt(r.get("process_wall_s", r["wall_s"]), ".1f")),
            ("  of which training s", lambda r: fmt(r.get("rows", 1000000) / r["samples_per_sec"]
                                                    if r["tool"] == "libesmm" else r["train_s"], ".1f")),
            ("  of which parsing s", lambda r: fmt(None if r["tool"] == "libesmm"
                                                   else r["parse_train_s"] + r["parse_test_s"], ".1f")),
            ("peak RSS MB", lambda r: fmt(r.get("process_peak_rss_mb", r["peak_rss_mb"]), ",.0f")),
            ("test CTR AUC", lambda r: fmt(r["ctr_auc"], ".4f")),
            ("test CVR AUC (clicked)", lambda r: fmt(r["cvr_auc_clicked"], ".4f")),
            ("test CTCVR AUC", lambda r: fmt(r["ctcvr_auc"], ".4f"))]
    w0 = max(len(n) for n, _ in rows)
    ws = [max(len(c[0]), 10) for c in cols]
    reps = sorted({r["runs"] for r in results})
    print()
    print("median of %s run(s) each; %s, %s; 1-minute load average before the runs: %s"
          % ("/".join(map(str, reps)), args.train, args.test,
             ", ".join("%.1f" % r["load_before"] for r in results)))
    print("| " + " " * w0 + " | " + " | ".join(c[0].rjust(w) for c, w in zip(cols, ws)) + " |")
    print("|" + "-" * (w0 + 2) + "|" + "|".join("-" * (w + 1) + ":" for w in ws) + "|")
    for name, f in rows:
        print("| " + name.ljust(w0) + " | " + " | ".join(f(c[1]).rjust(w) for c, w in zip(cols, ws)) + " |")
    part = [r for r in results if r["tool"] == "pytorch" and r["steps"] * 1024 < r["rows"]]
    if part:
        print("(%s: samples/s over the first %d steps only; the AUCs are of that partial epoch)"
              % (part[0]["emb_optim"], part[0]["steps"]))


if __name__ == "__main__":
    main()
