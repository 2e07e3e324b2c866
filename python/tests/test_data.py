"""The data report and reading through the library (esmm_dataset_read), and
the BLAS environment the module sets before the library loads. Standard
library only. Run: PYTHONPATH=python /usr/bin/python3 -m unittest discover
-s python/tests"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

import esmm

HERE = os.path.dirname(os.path.abspath(__file__))
PKG = os.path.dirname(HERE)

DIRTY = (b"\xef\xbb\xbfrid,click,conv,f1,f2\r\n"
         b"\"r,1\",1,0,\"a,b\",x\r\n"
         b"r2,0,1,c,\"say \"\"hi\"\"\"\r\n"
         b"r3,2,0,d,y\r\n"
         b"r4,1,1,e\r\n"
         b"r5,0,0,f,z\r\n")
SPEC = "id=rid;click=click;conversion=conv;cat=f1,f2"


class DataTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp()
        cls.path = os.path.join(cls.dir, "dirty.csv")
        with open(cls.path, "wb") as f:
            f.write(DIRTY)

    def read(self, **kw):
        return esmm.Dataset.read(self.path, spec=SPEC, fields="f1,f2", **kw)

    def test_report_of_a_dirty_file(self):
        with self.assertRaises(esmm.EsmmError) as cm:
            self.read()
        self.assertEqual(cm.exception.status, esmm.EFORMAT)
        self.assertIn("dirty.csv:4:4: click must be 0 or 1", str(cm.exception))
        ds = self.read(on_error="skip")
        r = ds.report()
        self.assertEqual((r["rows"], r["kept"], r["clicks"], r["conversions"], r["clicked_conversions"]),
                         (5, 3, 1, 1, 0))
        self.assertEqual((r["conv_no_click"], r["conv_no_click_policy"], r["conv_no_click_kept"]), (1, "keep", 1))
        self.assertEqual(r["skipped"], {"malformed": 1, "label": 1, "missing_common": 0, "conv_no_click": 0})
        self.assertEqual((r["skipped_rows"], r["on_error"], r["common_lists"], r["features_ignored"]),
                         (2, "skip", 0, 0))
        self.assertEqual([m.split(":")[1] for m in r["messages"]], ["4", "5"])
        self.assertEqual(len(r["warnings"]), 1)
        # every input row accounted for: kept rows with their line and id, skipped rows with their reason
        self.assertEqual(ds.row_sources(), [(2, "r,1"), (3, "r2"), (6, "r5")])
        self.assertEqual(ds.skipped_rows(), [(4, "label"), (5, "malformed")])
        dropped = self.read(on_error="skip", conv_no_click="drop").report()
        self.assertEqual((dropped["kept"], dropped["skipped"]["conv_no_click"], dropped["warnings"]), (2, 1, []))

    def test_standard_input_and_descriptors(self):
        code = ("import esmm, json; d = esmm.Dataset.read('-', spec=%r, fields='f1,f2', on_error='skip'); "
                "print(json.dumps(d.report()))" % SPEC)
        with open(self.path, "rb") as f:
            out = subprocess.run([sys.executable, "-c", code], stdin=f, capture_output=True, check=True,
                                 env=dict(os.environ, PYTHONPATH=PKG)).stdout
        r = json.loads(out)
        self.assertEqual((r["rows"], r["kept"], r["source"]), (5, 3, "<stdin>"))
        r, w = os.pipe()
        os.write(w, DIRTY)
        os.close(w)
        try:
            ds = esmm.Dataset.read(r, spec=SPEC, fields="f1,f2", on_error="skip")
        finally:
            os.close(r)
        self.assertEqual(len(ds), 3)

    def test_model_policies(self):
        ds = self.read(on_error="skip", conv_no_click="zero")
        m = esmm.Model.for_data(ds, embed_dim=4, hash_buckets=16, batch_size=4, conv_no_click="zero",
                                on_error="skip")
        m.fit(ds, epochs=1)
        m.set_metadata("input.format", "csv")
        m.set_metadata("input.spec", SPEC)
        # the model's conv_no_click and spec, not its on_error (as `esmm eval`)
        with self.assertRaises(esmm.EsmmError):
            esmm.Dataset.read(self.path, model=m)
        again = esmm.Dataset.read(self.path, model=m, on_error="skip").report()
        self.assertEqual((again["kept"], again["conv_no_click_policy"], again["conv_no_click_zeroed"]), (3, "zero", 1))
        # a text file is read as text though the model remembers a CSV spec
        txt = os.path.join(self.dir, "rows.txt")
        with open(txt, "w") as f:
            f.write("1 0 f1:3\n0 0 f2:4\n")
        self.assertEqual(esmm.Dataset.read(txt, model=m).report()["rows"], 2)

    def test_simulated_report(self):
        r = esmm.Dataset.simulate(200, 0).report()
        self.assertEqual((r["rows"], r["kept"], r["on_error"], r["skipped_rows"]), (200, 200, None, 0))


def run_child(env_changes, code="import esmm, json, os; print(json.dumps([os.environ.get('OPENBLAS_NUM_THREADS'), "
                                 "os.environ.get('OPENBLAS_CORETYPE'), esmm.blas_info()]))"):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS")}
    env.update(env_changes)
    env["PYTHONPATH"] = PKG
    for k in [k for k, v in env.items() if v is None]:
        del env[k]
    return json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                                     env=env).stdout)


@unittest.skipUnless(os.path.exists("/proc/self/maps") and esmm.blas_info()["library"], "OpenBLAS on Linux")
class BlasEnvironmentTest(unittest.TestCase):
    def test_threads_set_before_load(self):
        threads, _, info = run_child({})
        self.assertEqual(threads, "1")
        self.assertEqual(info["threads"], 1)
        self.assertIn("OPENBLAS_NUM_THREADS=1", info["set_by_esmm"])
        # the model trains on every CPU it may use
        n = run_child({}, "import esmm; m = esmm.Model(esmm.Config(fields='a,b', embed_dim=2, hash_buckets=8)); "
                          "print(int(m.stat(11)))")
        self.assertEqual(n, len(os.sched_getaffinity(0)))

    def test_the_users_setting_wins(self):
        threads, _, info = run_child({"OPENBLAS_NUM_THREADS": "2"})
        self.assertEqual(threads, "2")
        self.assertNotIn("OPENBLAS_NUM_THREADS=1", info["set_by_esmm"])
        self.assertIn(info["threads"], (1, 2))
        _, core, info = run_child({"OPENBLAS_CORETYPE": "Haswell"})
        self.assertEqual((core, info["kernels"]), ("Haswell", "Haswell"))
        self.assertNotIn("OPENBLAS_CORETYPE=SkylakeX", info["set_by_esmm"])
        # the child process that tells which kernels OpenBLAS picks on load
        self.assertEqual(esmm._probe_kernels(esmm.library_path), esmm.blas_info()["kernels"])

    def test_no_avx2_kernels_on_an_avx512_cpu(self):
        _, core, info = run_child({"OPENBLAS_CORETYPE": None})
        if esmm._cpu_has_avx512():
            self.assertNotIn(info["kernels"], ("Haswell", "Zen"))
        self.assertEqual(core is not None, "OPENBLAS_CORETYPE=SkylakeX" in info["set_by_esmm"])


if __name__ == "__main__":
    unittest.main()
