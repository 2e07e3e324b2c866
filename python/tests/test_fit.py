"""Training from Python (1.1): datasets from numpy arrays, CSR, files and
the simulator; Model.fit with validation, early stopping and the best model
restored; evaluate, predict, the data report, metadata, model_info, the
estimator; errors carry the library's message. Run with numpy (Debian's
python3-numpy, in tools/debian-packages)."""
import os
import tempfile
import unittest

import numpy as np

import esmm
from esmm.estimator import ESMMEstimator


def small(ds, **extra):
    opts = dict(embed_dim=6, hash_buckets=256, ctr_tower="16", cvr_tower="16", batch_size=128, seed=5)
    opts.update(extra)
    return esmm.Model.for_data(ds, **opts)


class FitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.train = esmm.Dataset.simulate(3000, 0)
        cls.valid = esmm.Dataset.simulate(1500, 1)

    def test_datasets(self):
        self.assertEqual(len(self.train), 3000)
        self.assertEqual(len(self.train.fields), 23)
        rep = self.valid.report()
        for key in ("rows", "kept", "clicks", "conversions", "conv_no_click", "skipped"):
            self.assertIn(key, rep)
        self.assertEqual(rep["kept"], 1500)
        click, conv = self.valid.labels()
        self.assertEqual(int(click.sum()), rep["clicks"])
        self.assertEqual(int(conv.sum()), rep["conversions"])

    def test_fit_early_stopping_restores_best(self):
        m = small(self.train)
        seen = []
        # min_delta 1: only the first evaluation can be the best
        h = m.fit(self.train, valid=self.valid, epochs=10, early_stopping=2, monitor="ctr_auc", min_delta=1,
                  callback=seen.append)
        self.assertTrue(h.stopped_early)
        self.assertEqual(len(h), 3)
        self.assertEqual(len(seen), 3)
        self.assertEqual(h.best, 0)
        self.assertEqual([r["improved"] for r in h.records], [True, False, False])
        self.assertEqual(h[0]["step"], 24)
        self.assertAlmostEqual(h[0]["epoch"], 1.0)
        self.assertGreater(h[0]["train_loss"], 0)
        # the model now holds the best evaluation's parameters
        self.assertEqual(m.evaluate(self.valid)["ctr_auc"], h.best_record["valid"]["ctr_auc"])
        self.assertEqual(m.metadata()["fit.monitor"], "ctr_auc")

    def test_fit_without_valid_and_callback_stop(self):
        m = small(self.train)
        h = m.fit(self.train, epochs=3, eval_every=10)
        self.assertEqual([r["step"] for r in h.records], [10, 20, 30, 40, 50, 60, 70, 72])
        self.assertIsNone(h.records[0]["valid"])
        self.assertIsNone(h.best)
        m2 = small(self.train)
        h2 = m2.fit(self.train, valid=self.valid, epochs=5, callback=lambda r: r["step"] >= 48)
        self.assertTrue(h2.stopped_by_callback)
        self.assertEqual(len(h2), 2)

    def test_callback_exception_is_raised(self):
        def boom(rec):
            raise ValueError("from the callback")
        with self.assertRaises(ValueError):
            small(self.train).fit(self.train, valid=self.valid, epochs=2, callback=boom)

    def test_errors_carry_the_library_message(self):
        m = small(self.train)
        with self.assertRaises(esmm.EsmmError) as cm:
            m.fit(self.train, epochs=2, early_stopping=2)
        self.assertEqual(cm.exception.status, esmm.EINVAL)
        self.assertIn("needs a validation set", str(cm.exception))
        other = esmm.Dataset.from_numpy(np.zeros((10, 2), dtype=np.int64), np.zeros(10), np.zeros(10))
        with self.assertRaises(esmm.EsmmError) as cm:
            m.fit(other, epochs=1)
        self.assertEqual(cm.exception.status, esmm.ESHAPE)
        with self.assertRaises(esmm.EsmmError) as cm:
            esmm.Model.for_data(self.train, monitor="auc")
        self.assertIn('"auc" is not one of ctr_auc', str(cm.exception))
        with self.assertRaises(esmm.EsmmError) as cm:
            esmm.Model.for_data(self.train, learning_rat=0.1)
        self.assertIn("did you mean learning_rate?", str(cm.exception))

    def test_numpy_and_csr(self):
        rng = np.random.RandomState(1)
        X = rng.randint(0, 40, size=(2000, 3))
        X[::7, 2] = -1  # missing
        click = ((X[:, 0] % 5) == 0).astype(int)
        conv = click * (X[:, 1] % 2)
        dense = rng.rand(2000, 2).astype(np.float32)
        ds = esmm.Dataset.from_numpy(X, click, conv, dense=dense, fields=["user", "item", "cat"])
        self.assertEqual(ds.fields, ["user", "item", "cat"])
        self.assertEqual(ds.dense_features, 2)
        rep = ds.report()
        self.assertEqual(rep["clicks"], int(click.sum()))
        m = esmm.Model.for_data(ds, embed_dim=4, hash_buckets=64, ctr_tower="8", cvr_tower="8", batch_size=100)
        h = m.fit(ds, valid=ds, epochs=4, monitor="ctr_auc")
        self.assertGreater(h.best_record["valid"]["ctr_auc"], 0.8)  # the click rule is learnable
        pctr, pcvr, pctcvr = m.predict(ds)
        self.assertEqual(pctr.shape, (2000,))
        self.assertTrue(np.allclose(pctcvr, pctr * pcvr, rtol=1e-5))
        # the same rows in CSR form predict the same
        offsets = np.concatenate([[0], np.cumsum((X >= 0).sum(axis=1))])
        cols = np.tile(np.arange(3), (2000, 1))[X >= 0]
        ds2 = esmm.Dataset.from_csr(click, conv, offsets, cols, X[X >= 0], dense=dense,
                                    field_names=["user", "item", "cat"])
        self.assertTrue(np.array_equal(m.predict(ds2)[0], pctr))
        # and serving from host memory agrees
        s = m.predict_csr(offsets[:101], cols[:offsets[100]], X[X >= 0][:offsets[100]], dense=dense[:100])
        self.assertTrue(np.allclose(s[0], pctr[:100], rtol=1e-6))

    def test_files_metadata_info(self):
        d = tempfile.mkdtemp()
        path = os.path.join(d, "rows.csv")
        rng = np.random.RandomState(2)
        with open(path, "w") as f:
            f.write("click,purchase,101,121\n")
            for i in range(300):
                c = int(rng.rand() < 0.3)
                f.write("%d,%d,%d,%d\n" % (c, c * int(rng.rand() < 0.3), rng.randint(20), rng.randint(5)))
        with self.assertRaises(esmm.EsmmError) as cm:
            esmm.Dataset.read(path)
        self.assertIn("column spec", str(cm.exception))
        ds = esmm.Dataset.read(path, spec="click=click;conversion=purchase;cat=*", fields="101,121")
        self.assertEqual(ds.report()["rows"], 300)
        m = esmm.Model.for_data(ds, embed_dim=4, hash_buckets=64, batch_size=50)
        m.fit(ds, epochs=1)
        m.set_metadata("input.format", "csv")
        m.set_metadata("input.spec", "click=click;conversion=purchase;cat=*")
        mp = os.path.join(d, "m.esmm")
        m.save(mp)
        loaded = esmm.Model.load(mp)
        self.assertEqual(loaded.metadata()["input.format"], "csv")
        # read as the model's training data was: no spec needed
        again = esmm.Dataset.read(path, model=loaded)
        self.assertEqual(len(again), 300)
        info = esmm.model_info(mp)
        self.assertEqual(info["format_version"], 2)
        self.assertFalse(info["checkpoint"])
        self.assertEqual(info["tensors"][0], ("embedding", 128, 4))
        self.assertEqual(info["metadata"]["input.spec"], "click=click;conversion=purchase;cat=*")
        self.assertEqual(info["config"]["embed_dim"], "4")
        cache = os.path.join(d, "rows.cache")
        ds.save_cache(cache)
        self.assertEqual(len(esmm.Dataset.read(cache, model=loaded)), 300)

    def test_estimator(self):
        rng = np.random.RandomState(3)
        X = rng.randint(0, 30, size=(1500, 2))
        y = np.stack([(X[:, 0] % 3 == 0).astype(int), np.zeros(1500, int)], axis=1)
        y[:, 1] = y[:, 0] * (X[:, 1] % 2)
        est = ESMMEstimator(fields=["a", "b"], epochs=3, early_stopping=2, embed_dim=4, hash_buckets=64,
                            batch_size=100, monitor="ctr_auc")
        est.fit(X[:1000], y[:1000], eval_set=(X[1000:], y[1000:]))
        p = est.predict_proba(X[1000:])
        self.assertEqual(p.shape, (500, 3))
        self.assertGreater(est.history_.best_record["valid"]["ctr_auc"], 0.8)
        self.assertEqual(est.get_params()["epochs"], 3)
        self.assertIs(est.set_params(epochs=4), est)
        self.assertTrue(0 <= est.score(X[1000:], y[1000:]) <= 1)


if __name__ == "__main__":
    unittest.main()
