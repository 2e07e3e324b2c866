#!/usr/bin/python3
"""Train with early stopping from Python and save the best model.

    PYTHONPATH=python python3 python/examples/train.py TRAIN VALID MODEL [EPOCHS]

TRAIN and VALID are data files in any format `esmm` reads (text here;
Dataset.read takes format=, spec=, common= like the CLI's options)."""
import sys

import esmm


def main(argv):
    if len(argv) < 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        train = esmm.Dataset.read(argv[1])
        valid = esmm.Dataset.read(argv[2])
        print("train:", train.report())
        model = esmm.Model.for_data(train, hash_buckets=4096)
        history = model.fit(train, valid=valid, epochs=int(argv[4]) if len(argv) > 4 else 10,
                            early_stopping=2, verbose=True)
        model.save(argv[3])  # the best evaluation's parameters (restore_best)
        metrics = model.evaluate(valid)
        print("saved %s: ctcvr_auc %.4f (best of %d evaluations%s)" % (
            argv[3], metrics["ctcvr_auc"], len(history), ", stopped early" if history.stopped_early else ""))
    except esmm.EsmmError as e:
        print("train.py:", e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
