"""Tests of the ctypes binding (standard library unittest; numpy tests skip
when numpy is absent). Run: PYTHONPATH=python /usr/bin/python3 -m unittest
discover -s python/tests"""
import os
import tempfile
import threading
import unittest

import esmm

try:
    import numpy as np
except ImportError:
    np = None


def small_config(**extra):
    opts = dict(fields="user:64,age:8,item:97,cat:16", embed_dim=6, ctr_tower="16,8", cvr_tower="12",
                batch_size=16, seed=3, init_scale=0.5)
    opts.update(extra)
    return esmm.Config(**opts)


def request(u, n_items):
    uf, ui, uv = [0, 1], [u * 101, u % 5], [1.0, 0.5]
    off, itf, iid = [0], [], []
    for i in range(n_items):
        itf += [2, 3]
        iid += [u * 7 + i * 13, i % 9]
        off.append(len(itf))
    return uf, ui, uv, off, itf, iid


class BindingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.model = esmm.Model(small_config())

    def test_version_and_fields(self):
        self.assertRegex(esmm.version(), r"^\d+\.\d+\.\d+$")
        self.assertEqual(self.model.fields, ["user", "age", "item", "cat"])
        self.assertEqual(self.model.field_index("item"), 2)
        self.assertEqual(self.model.batch_size, 16)

    def test_errors(self):
        with self.assertRaises(esmm.EsmmError) as cm:
            esmm.Model.load("/nonexistent/dir/m.esmm")
        self.assertEqual(cm.exception.status, esmm.EIO)
        self.assertIn("esmm_model_load: /nonexistent/dir/m.esmm: open failed", str(cm.exception))
        with self.assertRaises(esmm.EsmmError) as cm:
            esmm.Model.load_buffer(b"ESMX" + b"\0" * 200)
        self.assertEqual(cm.exception.status, esmm.ECORRUPT)
        self.assertIn("bad magic", str(cm.exception))
        with self.assertRaises(esmm.EsmmError) as cm:
            self.model.predict_csr([0, 1], [7], [1])
        self.assertEqual(cm.exception.status, esmm.EINVAL)
        self.assertIn("field index 7, the model has 4 fields", str(cm.exception))
        with self.assertRaises(esmm.EsmmError) as cm:
            esmm.Config(embed_dim=0)
        self.assertEqual(cm.exception.status, esmm.EINVAL)

    def test_user_items_vs_csr(self):
        uf, ui, uv, off, itf, iid = request(3, 25)
        a = self.model.predict_user(uf, ui, uv, off, itf, iid)
        # the same rows with the user's features listed in each row: equal up
        # to float rounding of the summation order
        roff, rf, ri, rv = [0], [], [], []
        for i in range(25):
            rf += itf[off[i]:off[i + 1]] + uf
            ri += iid[off[i]:off[i + 1]] + ui
            rv += [1.0] * (off[i + 1] - off[i]) + uv
            roff.append(len(rf))
        b = self.model.predict_csr(roff, rf, ri, rv)
        for k in range(3):
            self.assertEqual(len(a[k]), 25)
            for x, y in zip(a[k], b[k]):
                self.assertAlmostEqual(x, y, delta=1e-6)
        for i in range(25):
            self.assertAlmostEqual(a[2][i], a[0][i] * a[1][i], delta=1e-6)
            self.assertTrue(0 < a[0][i] < 1 and 0 < a[1][i] < 1)

    def test_buffer_roundtrip_and_file(self):
        uf, ui, uv, off, itf, iid = request(1, 10)
        data = self.model.save_buffer()
        self.assertEqual(data[:4], b"ESMM")
        m2 = esmm.Model.load_buffer(data)
        self.assertEqual(self.model.predict_user(uf, ui, uv, off, itf, iid), m2.predict_user(uf, ui, uv, off, itf, iid))
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "m.esmm")
            m2.save(p)
            m3 = esmm.Model.load(p)
            self.assertEqual(self.model.predict_csr(off, itf, iid), m3.predict_csr(off, itf, iid))
            with self.assertRaises(esmm.EsmmError) as cm:
                esmm.Model.load_checkpoint(p)
            self.assertEqual(cm.exception.status, esmm.ECORRUPT)
            self.assertIn("not a checkpoint", str(cm.exception))

    def test_threads_match_single_thread(self):
        want = {u: self.model.predict_user(*request(u, 30)) for u in range(24)}
        got, errors = {}, []

        def work(t):
            try:
                for rep in range(3):
                    for u in range(t, 24, 4):
                        got[(u, rep)] = self.model.predict_user(*request(u, 30))
            except Exception as e:  # reported below
                errors.append(e)

        th = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in th:
            t.start()
        for t in th:
            t.join()
        self.assertEqual(errors, [])
        for (u, rep), v in got.items():
            self.assertEqual(v, want[u], "user %d" % u)

    def test_empty(self):
        self.assertEqual(self.model.predict_csr([0], [], []), ([], [], []))


@unittest.skipIf(np is None, "numpy is not installed")
class NumpyTest(unittest.TestCase):
    def test_numpy_in_numpy_out(self):
        m = esmm.Model(small_config())
        uf, ui, uv, off, itf, iid = request(5, 40)
        lists = m.predict_user(uf, ui, uv, off, itf, iid)
        arrs = m.predict_user(np.array(uf), np.array(ui, dtype=np.uint64), np.array(uv), np.array(off),
                              np.array(itf), np.array(iid, dtype=np.uint64))
        for k in range(3):
            self.assertIsInstance(arrs[k], np.ndarray)
            self.assertEqual(arrs[k].dtype, np.float32)
            self.assertEqual(arrs[k].tolist(), lists[k])
        csr = m.predict_csr(np.array(off, dtype=np.int64), np.array(itf, dtype=np.int32), np.array(iid))
        self.assertEqual(csr[0].tolist(), m.predict_csr(off, itf, iid)[0])


if __name__ == "__main__":
    unittest.main()
