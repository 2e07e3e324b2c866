"""libesmm from Python: a ctypes binding (standard library; numpy optional).

Train and serve: datasets from numpy arrays, CSR arrays, files and the
simulator (Dataset); training with validation, early stopping and the best
model kept (Model.fit, the library's esmm_model_fit); evaluation, prediction,
save/load; serving on CSR rows or one user against many candidate items, from
any number of threads (each thread gets its own workspace automatically).
numpy arrays are accepted wherever a sequence is, and results then come back
as numpy arrays; without numpy, plain sequences in, lists of floats out.
Failures raise EsmmError carrying the library's message and status.

The shared library is found through $ESMM_LIBRARY (a path), then the build
tree next to this package (../../lib/libesmm.so.1), then the directory
`make install` recorded (esmm/_build_config.py), then pkg-config's libdir of
esmm, then the system loader (ctypes.util.find_library("esmm")).

The BLAS: the library trains on threads of its own (one per CPU by default),
each calling OpenBLAS single-threaded, and never changes OpenBLAS's settings;
OpenBLAS reads its environment once, when it is loaded. So before loading the
library this module sets, unless they are set already,
OPENBLAS_NUM_THREADS=1 (os.environ, inherited by child processes) and, on a
CPU with AVX-512 F/BW/VL/DQ where OpenBLAS would run its AVX2 (Haswell/Zen)
kernels, OPENBLAS_CORETYPE=SkylakeX (its AVX-512 kernels; which kernels
OpenBLAS picks is asked in a short child process, only on such CPUs). Set
OPENBLAS_NUM_THREADS yourself (e.g. to let OpenBLAS parallelise each GEMM,
the model then trains on 1 thread) to keep your choice; blas_info() tells
what the process runs with. The settings hold for the process: numpy linked
to the same system OpenBLAS (Debian's) runs single-threaded GEMMs too. An
OpenBLAS loaded earlier by another module keeps its settings (a warning
says so when it runs threads of its own): import esmm first.

    import esmm
    train = esmm.Dataset.read("train.txt")
    valid = esmm.Dataset.read("valid.txt")
    m = esmm.Model.for_data(train, embed_dim=8)
    history = m.fit(train, valid=valid, epochs=10, early_stopping=2)
    print(m.evaluate(valid)["ctcvr_auc"])
    m.save("model.esmm")
"""
import ctypes
import ctypes.util
import os
import threading

__all__ = ["EsmmError", "Config", "Model", "Workspace", "Dataset", "History", "version", "library_path",
           "metric_names", "model_info", "blas_info",
           "OK", "ERROR", "EINVAL", "ENOMEM", "EIO", "EFORMAT", "ECORRUPT", "EVERSION",
           "ESHAPE", "ESTATE", "ENUMERIC", "EBUFS", "ECANCELED"]

OK, ERROR, EINVAL, ENOMEM, EIO, EFORMAT, ECORRUPT, EVERSION = 0, -1, -2, -3, -4, -5, -6, -7
ESHAPE, ESTATE, ENUMERIC, EBUFS, ECANCELED = -8, -9, -10, -11, -12

# esmm_model_stat_key, esmm_opt values used here (pinned in the C headers)
STAT_STEP, STAT_EPOCH, STAT_LOSS, STAT_SAMPLES, STAT_PARAMS = 0, 1, 2, 5, 7
_OPT_BATCH_SIZE = 300
_OPT_DENSE_FEATURES = 500
_METRIC_COUNT = 15  # ESMM_METRIC_COUNT of this binding; the library only appends
# esmm_dataset_stat_key
(_DS_ROWS, _DS_CLICKS, _DS_CONVERSIONS, _DS_CLICKED_CONVERSIONS, _DS_CONV_WITHOUT_CLICK, _DS_COMMONS,
 _DS_FEATURES, _DS_COMMON_FEATURES, _DS_ROWS_WITH_COMMON, _DS_FIELDS, _DS_DENSE, _DS_LINES, _DS_SKIPPED,
 _DS_SKIPPED_MALFORMED, _DS_SKIPPED_LABEL, _DS_SKIPPED_MISSING_COMMON, _DS_SKIPPED_CONV_NO_CLICK,
 _DS_CONV_NO_CLICK_READ, _DS_FEATURES_IGNORED, _DS_COMMON_LINES, _DS_COMMON_SKIPPED) = range(21)
_DS_ROW_LINES, _DS_ROW_IDS, _DS_SKIPPED_LISTED = 26, 27, 28
# esmm_format
_FORMATS = {"text": 0, "aliccp": 1, "csv": 2, "cache": 3, "tokens": 4}
_FORMAT_AUTO = 5
_ON_ERROR = ["fail", "skip"]
_CONV_NO_CLICK = ["keep", "zero", "drop", "error"]
# esmm_fit_key / esmm_fit_stat_key / esmm_fit_event
(_FIT_EPOCH, _FIT_STEP, _FIT_SAMPLES, _FIT_TRAIN_LOSS, _FIT_SECONDS, _FIT_MONITOR, _FIT_IMPROVED) = range(7)
_FIT_VALID = 100
(_FS_RECORDS, _FS_BEST, _FS_BEST_STEP, _FS_BEST_VALUE, _FS_STOPPED_EARLY) = range(5)
_FIT_EVENT_EVAL = 1
# esmm_model_info_key
_INFO_KEYS = ["format_version", "bytes", "checkpoint", "sections", "tensors", "parameters", "step", "epoch",
              "samples", "epoch_position", "epoch_rows", "optimizer_steps"]


def _find_library():
    env = os.environ.get("ESMM_LIBRARY")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    tree = os.path.join(here, "..", "..", "lib", "libesmm.so.1")
    if os.path.exists(tree):
        return os.path.normpath(tree)
    try:  # written by `make install`
        from . import _build_config
        installed = os.path.join(_build_config.LIBDIR, "libesmm.so.1")
        if os.path.exists(installed):
            return installed
    except ImportError:
        pass
    try:
        import subprocess
        libdir = subprocess.run(["pkg-config", "--variable=libdir", "esmm"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        if libdir and os.path.exists(os.path.join(libdir, "libesmm.so.1")):
            return os.path.join(libdir, "libesmm.so.1")
    except (OSError, ValueError):
        pass
    found = ctypes.util.find_library("esmm")
    if found:
        return found
    raise OSError("libesmm not found: set ESMM_LIBRARY to the path of libesmm.so.1 "
                  "(or install the library: make install)")


def _openblas_loaded():
    """Path of the OpenBLAS mapped into this process, or None (Linux)."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.rstrip("\n").split(None, 5)[-1]
                if path.startswith("/") and "libopenblas" in os.path.basename(path):
                    return path
    except OSError:
        pass
    return None


def _cpu_has_avx512():
    """AVX-512 F, BW, VL and DQ: what OpenBLAS's SkylakeX kernels need."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return False


# Run in a child process: the kernels OpenBLAS picks when the library loads.
_PROBE = """import ctypes, os, sys
ctypes.CDLL(sys.argv[1])
for line in open("/proc/self/maps"):
    p = line.rstrip("\\n").split(None, 5)[-1]
    if p.startswith("/") and "libopenblas" in os.path.basename(p):
        f = ctypes.CDLL(p).openblas_get_corename
        f.restype = ctypes.c_char_p
        print(f().decode())
        break
"""


def _probe_kernels(path):
    import subprocess
    import sys
    if not sys.executable:
        return None
    try:
        r = subprocess.run([sys.executable, "-S", "-c", _PROBE, path], capture_output=True, text=True,
                           timeout=60)
        return r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


_blas_set = []  # what this module put in the environment


_blas_early = False  # OpenBLAS was loaded before this module (numpy, scipy)


def _blas_environment(path):
    """OPENBLAS_NUM_THREADS=1 and the kernel rule, before OpenBLAS loads (see
    the module's docstring); nothing when OpenBLAS is loaded already."""
    global _blas_early
    if _openblas_loaded():
        _blas_early = True
        return
    if not os.environ.get("OPENBLAS_NUM_THREADS") and not os.environ.get("GOTO_NUM_THREADS"):
        os.environ["OPENBLAS_NUM_THREADS"] = "1"
        _blas_set.append("OPENBLAS_NUM_THREADS=1")
    if not os.environ.get("OPENBLAS_CORETYPE") and _cpu_has_avx512() and \
            _probe_kernels(path) in ("Haswell", "Zen"):
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
        _blas_set.append("OPENBLAS_CORETYPE=SkylakeX")


library_path = _find_library()
_blas_environment(library_path)
_lib = ctypes.CDLL(library_path)

# numpy after the library: Debian's numpy loads the system OpenBLAS, which
# must see the environment set above first (and then shares it: one
# OpenBLAS in the process, one thread per GEMM for numpy too).
try:  # optional
    import numpy as _np
except ImportError:  # pragma: no cover - depends on the host
    _np = None

_c = ctypes
_P = _c.c_void_p
_i64p = _c.POINTER(_c.c_int64)
_intp = _c.POINTER(_c.c_int)
_u64p = _c.POINTER(_c.c_uint64)
_fp = _c.POINTER(_c.c_float)


def _proto(name, restype, *argtypes):
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


_strerror = _proto("esmm_strerror", _c.c_char_p, _c.c_int)
_last_error = _proto("esmm_last_error", _c.c_char_p)
_version_string = _proto("esmm_version_string", _c.c_char_p)
_config_new = _proto("esmm_config_new", _c.c_int, _c.POINTER(_P))
_config_free = _proto("esmm_config_free", None, _P)
_config_set_by_name = _proto("esmm_config_set_by_name", _c.c_int, _P, _c.c_char_p, _c.c_char_p)
_config_get_int = _proto("esmm_config_get_int", _c.c_int, _P, _c.c_int, _i64p)
_config_field_count = _proto("esmm_config_field_count", _c.c_int, _P, _c.POINTER(_c.c_size_t))
_config_field = _proto("esmm_config_field", _c.c_int, _P, _c.c_size_t, _c.POINTER(_c.c_char_p), _i64p)
_model_new = _proto("esmm_model_new", _c.c_int, _c.POINTER(_P), _P)
_model_free = _proto("esmm_model_free", None, _P)
_model_load = _proto("esmm_model_load", _c.c_int, _c.POINTER(_P), _c.c_char_p, _P)
_model_load_buffer = _proto("esmm_model_load_buffer", _c.c_int, _c.POINTER(_P), _c.c_char_p, _c.c_size_t, _P)
_model_load_checkpoint = _proto("esmm_model_load_checkpoint", _c.c_int, _c.POINTER(_P), _c.c_char_p, _P)
_model_save = _proto("esmm_model_save", _c.c_int, _P, _c.c_char_p)
_model_save_buffer = _proto("esmm_model_save_buffer", _c.c_int, _P, _c.c_void_p, _c.c_size_t,
                            _c.POINTER(_c.c_size_t))
_model_config = _proto("esmm_model_config", _c.c_int, _P, _c.POINTER(_P))
_model_stat = _proto("esmm_model_stat", _c.c_int, _P, _c.c_int, _c.POINTER(_c.c_double))
_workspace_new = _proto("esmm_workspace_new", _c.c_int, _c.POINTER(_P), _P, _c.c_size_t)
_workspace_free = _proto("esmm_workspace_free", None, _P)
_predict_csr = _proto("esmm_model_predict_csr", _c.c_int, _P, _P, _c.c_size_t, _i64p, _intp, _u64p, _fp, _fp,
                      _fp, _fp, _fp)
_dataset_new = _proto("esmm_dataset_new", _c.c_int, _c.POINTER(_P), _P)
_dataset_free = _proto("esmm_dataset_free", None, _P)
_dataset_add_rows = _proto("esmm_dataset_add_rows", _c.c_int, _P, _c.c_size_t, _intp, _intp, _i64p, _i64p, _intp,
                           _u64p, _fp)
_dataset_set_dense = _proto("esmm_dataset_set_dense", _c.c_int, _P, _c.c_size_t, _c.c_size_t, _fp)
_dataset_stat = _proto("esmm_dataset_stat", _c.c_int, _P, _c.c_int, _i64p)
_dataset_labels = _proto("esmm_dataset_labels", _c.c_int, _P, _c.c_size_t, _c.c_size_t, _intp, _intp)
_dataset_field_name = _proto("esmm_dataset_field_name", _c.c_int, _P, _c.c_size_t, _c.POINTER(_c.c_char_p))
_dataset_read = _proto("esmm_dataset_read", _c.c_int, _c.POINTER(_P), _P, _c.c_char_p, _c.c_int, _c.c_char_p,
                       _c.c_char_p)
_dataset_read_fd = _proto("esmm_dataset_read_fd", _c.c_int, _c.POINTER(_P), _P, _c.c_int, _c.c_char_p, _c.c_int,
                          _c.c_char_p, _c.c_char_p)
_detect_format = _proto("esmm_dataset_detect_format", _c.c_int, _c.c_char_p, _c.c_size_t, _c.c_char_p, _intp)


class _DataReport(ctypes.Structure):  # esmm_data_report (esmm/dataset.h, 1.1)
    _fields_ = [(k, ctypes.c_int64) for k in (
        "rows_read", "rows_kept", "clicks", "conversions", "clicked_conversions", "conv_no_click_read",
        "conv_no_click_kept", "conv_no_click_zeroed", "conv_no_click_skipped", "skipped", "skipped_malformed",
        "skipped_label", "skipped_missing_common", "skipped_conv_no_click", "commons", "common_lines",
        "common_skipped", "features_ignored", "messages", "conv_no_click_policy", "on_error_policy")] + \
        [("source", ctypes.c_char_p)]


_dataset_report = _proto("esmm_dataset_report", _c.c_int, _P, _c.POINTER(_DataReport), _c.c_size_t)
_report_message = _proto("esmm_dataset_report_message", _c.c_int, _P, _c.c_size_t, _c.POINTER(_c.c_char_p))
_skip_reason_name = _proto("esmm_skip_reason_name", _c.c_char_p, _c.c_int)
_row_source = _proto("esmm_dataset_row_source", _c.c_int, _P, _c.c_size_t, _i64p, _c.POINTER(_c.c_void_p),
                     _c.POINTER(_c.c_size_t))
_skipped_row = _proto("esmm_dataset_skipped_row", _c.c_int, _P, _c.c_size_t, _i64p, _intp)
_save_cache = _proto("esmm_dataset_save_cache", _c.c_int, _P, _c.c_char_p)
_sim_new = _proto("esmm_sim_new", _c.c_int, _c.POINTER(_P), _P)
_sim_free = _proto("esmm_sim_free", None, _P)
_sim_set_by_name = _proto("esmm_sim_set_by_name", _c.c_int, _P, _c.c_char_p, _c.c_char_p)
_sim_generate = _proto("esmm_sim_generate", _c.c_int, _P, _c.c_size_t, _c.c_uint64, _c.POINTER(_P))
_metric_name = _proto("esmm_metric_name", _c.c_char_p, _c.c_int)
_model_evaluate = _proto("esmm_model_evaluate", _c.c_int, _P, _P, _c.POINTER(_c.c_double), _c.c_size_t)
_model_predict = _proto("esmm_model_predict", _c.c_int, _P, _P, _P, _c.c_size_t, _c.c_size_t, _fp, _fp, _fp)
_model_set_meta = _proto("esmm_model_set_meta", _c.c_int, _P, _c.c_char_p, _c.c_char_p)
_config_meta_at = _proto("esmm_config_meta_at", _c.c_int, _P, _c.c_size_t, _c.POINTER(_c.c_char_p),
                         _c.POINTER(_c.c_char_p), _c.POINTER(_c.c_size_t))
_FIT_FN = _c.CFUNCTYPE(_c.c_int, _P, _P, _c.c_int, _P)
_model_fit = _proto("esmm_model_fit", _c.c_int, _P, _P, _P, _P, _FIT_FN, _P, _c.POINTER(_P))
_fit_free = _proto("esmm_fit_free", None, _P)
_fit_record = _proto("esmm_fit_record", _c.c_int, _P, _c.c_size_t, _c.c_int, _c.POINTER(_c.c_double))
_fit_stat = _proto("esmm_fit_stat", _c.c_int, _P, _c.c_int, _c.POINTER(_c.c_double))
_fit_best_model = _proto("esmm_fit_best_model", _c.c_int, _P, _P, _c.POINTER(_P))
_info_open = _proto("esmm_model_info_open", _c.c_int, _c.POINTER(_P), _c.c_char_p)
_info_free = _proto("esmm_model_info_free", None, _P)
_info_stat = _proto("esmm_model_info_stat", _c.c_int, _P, _c.c_int, _i64p)
_info_tensor = _proto("esmm_model_info_tensor", _c.c_int, _P, _c.c_size_t, _c.POINTER(_c.c_char_p),
                      _c.POINTER(_c.c_uint64), _c.POINTER(_c.c_uint64))
_info_config = _proto("esmm_model_info_config", _c.c_int, _P, _c.POINTER(_P), _c.POINTER(_c.c_char_p),
                      _c.POINTER(_c.c_size_t))
_predict_user = _proto("esmm_model_predict_user", _c.c_int, _P, _P, _c.c_size_t, _intp, _u64p, _fp, _c.c_size_t,
                       _i64p, _intp, _u64p, _fp, _fp, _fp, _fp, _fp)


class EsmmError(Exception):
    """A failing libesmm call: .status is the esmm_status code (negative)."""

    def __init__(self, status, message):
        Exception.__init__(self, message)
        self.status = status


def _check(rc):
    # ctypes releases the GIL during the call but stays on this OS thread,
    # so the thread-local message belongs to this call.
    if rc < 0:
        msg = _last_error().decode("utf-8", "replace")
        raise EsmmError(rc, "%s (%s)" % (msg, _strerror(rc).decode()))
    return rc


def version():
    """The library's version string, e.g. "1.0.0"."""
    return _version_string().decode()


def _warn_blas_early():
    if not _blas_early or os.environ.get("OPENBLAS_NUM_THREADS") or os.environ.get("GOTO_NUM_THREADS"):
        return
    n = blas_info()["threads"]
    if n and n > 1:
        import warnings
        warnings.warn("OpenBLAS was loaded before esmm (by numpy?) and runs %d threads of its own: models train "
                      "on 1 thread. Set OPENBLAS_NUM_THREADS=1 before Python starts, or import esmm first, to "
                      "train on every CPU" % n, RuntimeWarning, stacklevel=3)


def blas_info():
    """The OpenBLAS this process runs: {"library": openblas_get_config(),
    "kernels": openblas_get_corename(), "threads": openblas_get_num_threads(),
    "set_by_esmm": the variables this module set before loading it}; None
    for library, kernels and threads when the BLAS is not OpenBLAS."""
    info = {"library": None, "kernels": None, "threads": None, "set_by_esmm": list(_blas_set)}
    path = _openblas_loaded()
    if path:
        try:
            ob = ctypes.CDLL(path)
            for key, name, rt in (("library", "openblas_get_config", _c.c_char_p),
                                  ("kernels", "openblas_get_corename", _c.c_char_p),
                                  ("threads", "openblas_get_num_threads", _c.c_int)):
                f = getattr(ob, name)
                f.restype = rt
                f.argtypes = []
                v = f()
                info[key] = v.decode() if isinstance(v, bytes) else v
        except (OSError, AttributeError):
            pass
    return info


def _is_np(x):
    return _np is not None and isinstance(x, _np.ndarray)


def _arr(seq, ctype, np_dtype, name, keep):
    """A C array for seq (None -> NULL). numpy arrays are passed without a
    copy when already contiguous and of the right type."""
    if seq is None:
        return None
    if _is_np(seq):
        a = _np.ascontiguousarray(seq, dtype=np_dtype)
        keep.append(a)
        return a.ctypes.data_as(_c.POINTER(ctype))
    try:
        a = (ctype * len(seq))(*seq)
    except TypeError as e:
        raise TypeError("%s: %s" % (name, e))
    keep.append(a)
    return _c.cast(a, _c.POINTER(ctype))


class Config(object):
    """esmm_config: options by name, e.g. Config(embed_dim=8, fields="a:100,b:100")."""

    def __init__(self, **options):
        self._h = _P()
        _check(_config_new(_c.byref(self._h)))
        for k, v in options.items():
            self.set(k, v)

    @classmethod
    def _wrap(cls, handle):
        c = cls.__new__(cls)
        c._h = handle
        return c

    def set(self, name, value):
        if isinstance(value, (list, tuple)):
            value = ",".join(str(x) for x in value)
        _check(_config_set_by_name(self._h, str(name).encode(), str(value).encode()))
        return self

    def get_int(self, opt):
        v = _c.c_int64()
        _check(_config_get_int(self._h, opt, _c.byref(v)))
        return v.value

    def fields(self):
        """Field names, in order (a feature's field is an index into this)."""
        n = _c.c_size_t()
        _check(_config_field_count(self._h, _c.byref(n)))
        out = []
        for i in range(n.value):
            name = _c.c_char_p()
            _check(_config_field(self._h, i, _c.byref(name), None))
            out.append(name.value.decode())
        return out

    def field_index(self, name):
        try:
            return self.fields().index(name)
        except ValueError:
            raise EsmmError(EINVAL, "no field named %r" % (name,))

    def close(self):
        if self._h:
            _config_free(self._h)
            self._h = _P()

    def __del__(self):
        self.close()


class Workspace(object):
    """Per-thread prediction scratch for one model shape (esmm_workspace)."""

    def __init__(self, model, max_batch=0):
        self._h = _P()
        _check(_workspace_new(_c.byref(self._h), model._h, max_batch))

    def close(self):
        if self._h:
            _workspace_free(self._h)
            self._h = _P()

    def __del__(self):
        self.close()


class Model(object):
    """esmm_model. Prediction methods may be called from several threads at
    once; each thread then uses its own workspace (made on first use)."""

    def __init__(self, config=None):
        self._h = _P()
        _check(_model_new(_c.byref(self._h), config._h if config is not None else None))
        self._init()

    def _init(self):
        self._local = threading.local()
        cfg = self.config()
        self.fields = cfg.fields()
        self.batch_size = cfg.get_int(_OPT_BATCH_SIZE)
        self.dense_features = cfg.get_int(_OPT_DENSE_FEATURES)
        cfg.close()

    @classmethod
    def _wrap(cls, handle):
        m = cls.__new__(cls)
        m._h = handle
        m._init()
        return m

    @classmethod
    def load(cls, path):
        h = _P()
        _check(_model_load(_c.byref(h), os.fsencode(path), None))
        return cls._wrap(h)

    @classmethod
    def load_checkpoint(cls, path):
        h = _P()
        _check(_model_load_checkpoint(_c.byref(h), os.fsencode(path), None))
        return cls._wrap(h)

    @classmethod
    def load_buffer(cls, data):
        data = bytes(data)
        h = _P()
        _check(_model_load_buffer(_c.byref(h), data, len(data), None))
        return cls._wrap(h)

    def save(self, path):
        _check(_model_save(self._h, os.fsencode(path)))

    def save_buffer(self):
        n = _c.c_size_t()
        rc = _model_save_buffer(self._h, None, 0, _c.byref(n))
        if rc != EBUFS:
            _check(rc)
        buf = _c.create_string_buffer(n.value)
        _check(_model_save_buffer(self._h, buf, n.value, _c.byref(n)))
        return buf.raw[:n.value]

    def config(self):
        h = _P()
        _check(_model_config(self._h, _c.byref(h)))
        return Config._wrap(h)

    def stat(self, key):
        v = _c.c_double()
        _check(_model_stat(self._h, key, _c.byref(v)))
        return v.value

    def field_index(self, name):
        try:
            return self.fields.index(name)
        except ValueError:
            raise EsmmError(EINVAL, "no field named %r" % (name,))

    def workspace(self):
        """This thread's workspace (created on first use, batch size of the model)."""
        ws = getattr(self._local, "ws", None)
        if ws is None:
            ws = self._local.ws = Workspace(self, 0)
        return ws

    def _outputs(self, n, use_np):
        if use_np:
            outs = [_np.empty(n, dtype=_np.float32) for _ in range(3)]
            return outs, [o.ctypes.data_as(_fp) for o in outs]
        outs = [(_c.c_float * max(n, 1))() for _ in range(3)]
        return outs, [_c.cast(o, _fp) for o in outs]

    @staticmethod
    def _result(outs, n, use_np):
        if use_np:
            return tuple(outs)
        return tuple([o[i] for i in range(n)] for o in outs)

    def predict_csr(self, offsets, fields, ids, values=None, dense=None, workspace=None):
        """pCTR, pCVR, pCTCVR of len(offsets)-1 rows in CSR form
        (esmm_model_predict_csr): row i has features offsets[i]:offsets[i+1]
        of fields (indices into .fields), ids (uint64) and values (None = 1)."""
        n = len(offsets) - 1
        if n < 0:
            raise EsmmError(EINVAL, "offsets must have at least one entry")
        use_np = any(_is_np(x) for x in (offsets, fields, ids, values, dense))
        keep = []
        args = [_arr(offsets, _c.c_int64, "int64", "offsets", keep),
                _arr(fields, _c.c_int, "intc", "fields", keep),
                _arr(ids, _c.c_uint64, "uint64", "ids", keep),
                _arr(values, _c.c_float, "float32", "values", keep),
                _arr(dense, _c.c_float, "float32", "dense", keep)]
        ws = workspace or self.workspace()
        outs, ptrs = self._outputs(n, use_np)
        _check(_predict_csr(self._h, ws._h, n, *(args + ptrs)))
        return self._result(outs, n, use_np)

    def predict_user(self, user_fields, user_ids, user_values, item_offsets, item_fields, item_ids,
                     item_values=None, item_dense=None, workspace=None):
        """Score len(item_offsets)-1 candidate items for one user
        (esmm_model_predict_user): the user's features are pooled once."""
        n = len(item_offsets) - 1
        if n < 0:
            raise EsmmError(EINVAL, "item_offsets must have at least one entry")
        use_np = any(_is_np(x) for x in (user_fields, user_ids, user_values, item_offsets, item_fields, item_ids,
                                         item_values, item_dense))
        keep = []
        uf = _arr(user_fields, _c.c_int, "intc", "user_fields", keep)
        ui = _arr(user_ids, _c.c_uint64, "uint64", "user_ids", keep)
        uv = _arr(user_values, _c.c_float, "float32", "user_values", keep)
        unnz = len(user_fields) if user_fields is not None else 0
        rest = [_arr(item_offsets, _c.c_int64, "int64", "item_offsets", keep),
                _arr(item_fields, _c.c_int, "intc", "item_fields", keep),
                _arr(item_ids, _c.c_uint64, "uint64", "item_ids", keep),
                _arr(item_values, _c.c_float, "float32", "item_values", keep),
                _arr(item_dense, _c.c_float, "float32", "item_dense", keep)]
        ws = workspace or self.workspace()
        outs, ptrs = self._outputs(n, use_np)
        _check(_predict_user(self._h, ws._h, unnz, uf, ui, uv, n, *(rest + ptrs)))
        return self._result(outs, n, use_np)

    # ---- training and evaluation (1.1) -----------------------------------------

    @classmethod
    def for_data(cls, dataset, config=None, **options):
        """A new model whose field list and numeric input count are those of
        dataset (so that it can train on it); options as for Config."""
        cfg = config if config is not None else Config()
        cfg.set("fields", ",".join(dataset.fields))
        cfg.set("dense_features", dataset.dense_features)
        for k, v in options.items():
            cfg.set(k, v)
        return cls(cfg)

    def fit(self, train, valid=None, epochs=None, early_stopping=None, monitor=None, eval_every=None,
            min_delta=None, keep_best=True, restore_best=True, callback=None, verbose=False):
        """Train on train (a Dataset) with the library's loop (esmm_model_fit):
        valid is evaluated after every epoch (or every eval_every steps);
        early_stopping=N stops after N evaluations without improvement of
        monitor ("ctcvr_auc" by default; "ctr_auc", "cvr_auc_clicked",
        "cvr_auc_all" or a "*_logloss"); with valid and keep_best the model
        afterwards holds the parameters of its best evaluation (restore_best;
        the training position then starts afresh), else its last state.
        epochs is the total number of epochs to reach (a resumed model goes on).
        callback(record) is called with each evaluation's record (a dict);
        returning True stops training. Returns a History."""
        opts = self.config()
        for name, value in (("epochs", epochs), ("patience", early_stopping or None), ("monitor", monitor),
                            ("eval_every", eval_every), ("min_delta", min_delta)):
            if value is not None:
                opts.set(name, value)
        opts.set("keep_best", 1 if keep_best and valid is not None else 0)
        state = {"error": None, "stopped": False}

        def on_event(m, fit, event, payload):
            if event != _FIT_EVENT_EVAL:
                return 0
            try:
                n = _fit_stat_value(fit, _FS_RECORDS)
                rec = _fit_record_dict(fit, int(n) - 1, valid is not None)
                if verbose:
                    print(_describe(rec), flush=True)
                if callback is not None and callback(rec):
                    state["stopped"] = True
                    return 1
            except BaseException as e:  # surfaced after the call
                state["error"] = e
                return 1
            return 0

        fn = _FIT_FN(on_event)
        h = _P()
        rc = _model_fit(self._h, train._h, valid._h if valid is not None else None, opts._h, fn, None,
                        _c.byref(h))
        opts.close()
        try:
            if state["error"] is not None:
                raise state["error"]
            if rc != ECANCELED or not state["stopped"]:
                _check(rc)
            history = History(h, valid is not None, monitor)
            history.stopped_by_callback = state["stopped"]
            if restore_best and history.best is not None and keep_best and valid is not None:
                best = _P()
                _check(_fit_best_model(h, None, _c.byref(best)))
                _model_free(self._h)
                self._h = best
                self._init()
            return history
        finally:
            _fit_free(h)

    def evaluate(self, dataset):
        """The metrics of the model on dataset, as a dict (esmm_metric names;
        NaN where undefined, e.g. AUCs without a positive)."""
        out = (_c.c_double * _METRIC_COUNT)()
        _check(_model_evaluate(self._h, dataset._h, out, _METRIC_COUNT))
        return {metric_names()[i]: out[i] for i in range(_METRIC_COUNT)}

    def predict(self, dataset):
        """pCTR, pCVR, pCTCVR of every row of dataset (numpy arrays, or lists)."""
        n = len(dataset)
        outs, ptrs = self._outputs(n, _np is not None)
        if n:
            _check(_model_predict(self._h, self.workspace()._h, dataset._h, 0, n, *ptrs))
        return self._result(outs, n, _np is not None)

    def metadata(self):
        """The model's metadata (how its training data was read, early-stopping
        state, anything set with set_metadata) as a dict."""
        cfg = self.config()
        try:
            return _config_meta(cfg._h)
        finally:
            cfg.close()

    def set_metadata(self, key, value):
        """Attach text to the model (saved with it); value None removes."""
        _check(_model_set_meta(self._h, key.encode(), None if value is None else str(value).encode()))

    def close(self):
        """Free the model now (also done by the garbage collector). Workspaces
        made by workspace() belong to their threads and go with them."""
        if self._h:
            _model_free(self._h)
            self._h = _P()

    def __del__(self):
        self.close()


# ---- datasets, history, metrics (1.1) --------------------------------------------------


def metric_names():
    """Names of the evaluation metrics, in esmm_metric order."""
    return [_metric_name(i).decode() for i in range(_METRIC_COUNT)]


def _config_meta(h):
    n = _c.c_size_t()
    _check(_config_meta_at(h, 0, None, None, _c.byref(n)))
    out = {}
    for i in range(n.value):
        k, v = _c.c_char_p(), _c.c_char_p()
        _check(_config_meta_at(h, i, _c.byref(k), _c.byref(v), None))
        out[k.value.decode()] = v.value.decode("utf-8", "replace")
    return out


def _fit_stat_value(fit, key):
    v = _c.c_double()
    _check(_fit_stat(fit, key, _c.byref(v)))
    return v.value


def _fit_record_dict(fit, i, have_valid):
    def get(key):
        v = _c.c_double()
        _check(_fit_record(fit, i, key, _c.byref(v)))
        return v.value
    rec = {"epoch": get(_FIT_EPOCH), "step": int(get(_FIT_STEP)), "samples": int(get(_FIT_SAMPLES)),
           "seconds": get(_FIT_SECONDS), "train_loss": get(_FIT_TRAIN_LOSS), "valid": None, "improved": False}
    if have_valid:
        names = metric_names()
        rec["valid"] = {names[k]: get(_FIT_VALID + k) for k in range(_METRIC_COUNT)}
        rec["improved"] = get(_FIT_IMPROVED) > 0
    return rec


def _describe(rec):
    text = "epoch %.4g (step %d): train loss %.5f" % (rec["epoch"], rec["step"], rec["train_loss"])
    if rec["valid"]:
        text += "  valid ctr_auc %.4f cvr_auc_clicked %.4f ctcvr_auc %.4f" % (
            rec["valid"]["ctr_auc"], rec["valid"]["cvr_auc_clicked"], rec["valid"]["ctcvr_auc"])
        if rec["improved"]:
            text += "  * best"
    return text


class History(object):
    """What Model.fit did: one record (dict) per evaluation point, in order:
    epoch, step, samples, seconds, train_loss, valid (metric -> value, or
    None without a validation set), improved. .best is the index of the best
    record (None when none improved), .stopped_early whether patience ran out."""

    def __init__(self, fit, have_valid, monitor):
        n = int(_fit_stat_value(fit, _FS_RECORDS))
        self.records = [_fit_record_dict(fit, i, have_valid) for i in range(n)]
        best = int(_fit_stat_value(fit, _FS_BEST))
        self.best = best if best >= 0 else None
        self.stopped_early = _fit_stat_value(fit, _FS_STOPPED_EARLY) > 0
        self.monitor = monitor or "ctcvr_auc"
        self.stopped_by_callback = False

    @property
    def best_record(self):
        return self.records[self.best] if self.best is not None else None

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        return self.records[i]

    def __repr__(self):
        return "History(%d records, best=%r, stopped_early=%r)" % (len(self.records), self.best,
                                                                     self.stopped_early)


def _as_np(x, dtype, name):
    if _np is None:
        raise EsmmError(EINVAL, "%s: numpy is needed to build datasets from arrays" % name)
    return _np.ascontiguousarray(x, dtype=dtype)


class Dataset(object):
    """esmm_dataset: labelled impressions (click, conversion, sparse features
    of the config's fields, optional numeric inputs). Build one from numpy
    arrays (from_numpy, from_csr), read a file (read) or simulate one
    (simulate). The arrays are copied into the library's storage: a no-copy
    path needs a library constructor that borrows host arrays (the rows and
    features as given, with a lifetime the host guarantees), which 1.1 does
    not have."""

    def __init__(self, handle, config=None):
        self._h = handle
        self.fields = []
        name = _c.c_char_p()
        for i in range(self._stat(_DS_FIELDS)):
            _check(_dataset_field_name(self._h, i, _c.byref(name)))
            self.fields.append(name.value.decode())
        self.dense_features = self._stat(_DS_DENSE)
        self.path = None

    def _stat(self, key):
        v = _c.c_int64()
        _check(_dataset_stat(self._h, key, _c.byref(v)))
        return v.value

    @staticmethod
    def _config(fields=None, dense_features=0, config=None, options=None):
        cfg = Config() if config is None else config
        if fields is not None:
            cfg.set("fields", ",".join(str(f) for f in fields))
        if dense_features:
            cfg.set("dense_features", dense_features)
        for k, v in (options or {}).items():
            cfg.set(k, v)
        return cfg

    @classmethod
    def from_csr(cls, click, conversion, offsets, fields, ids, values=None, dense=None, field_names=None,
                 config=None):
        """Rows in CSR form: row i has features offsets[i]:offsets[i+1] of
        fields (indices into field_names, or the config's field list), ids
        (uint64), values (None = 1); dense is an (n, D) float array of numeric
        inputs or None."""
        click = _as_np(click, "intc", "click")
        n = len(click)
        dense_np = None if dense is None else _as_np(dense, "float32", "dense").reshape(n, -1)
        cfg = cls._config(field_names, 0 if dense_np is None else dense_np.shape[1], config)
        h = _P()
        try:
            _check(_dataset_new(_c.byref(h), cfg._h))
            conv = _as_np(conversion, "intc", "conversion")
            off = _as_np(offsets, "int64", "offsets")
            fl = _as_np(fields, "intc", "fields")
            idv = _as_np(ids, "uint64", "ids")
            val = None if values is None else _as_np(values, "float32", "values")
            if len(conv) != n or len(off) != n + 1:
                raise EsmmError(EINVAL, "click, conversion and offsets must describe the same %d rows" % n)
            _check(_dataset_add_rows(h, n, click.ctypes.data_as(_intp), conv.ctypes.data_as(_intp), None,
                                     off.ctypes.data_as(_i64p), fl.ctypes.data_as(_intp), idv.ctypes.data_as(_u64p),
                                     val.ctypes.data_as(_fp) if val is not None else None))
            if dense_np is not None and n:
                _check(_dataset_set_dense(h, 0, n, dense_np.ctypes.data_as(_fp)))
        except BaseException:
            _dataset_free(h)
            raise
        finally:
            if config is None:
                cfg.close()
        return cls(h)

    @classmethod
    def from_numpy(cls, X, click, conversion, dense=None, fields=None, config=None):
        """One categorical id per field and row: X is an (n, F) integer array
        (column f holds field f's ids, any 64-bit values; a negative id means
        no feature); fields names the F fields (default "f0" .. "fF-1");
        dense an optional (n, D) float array."""
        X = _np.asarray(X) if _np is not None else X
        X = _as_np(X, "int64", "X")
        if X.ndim != 2:
            raise EsmmError(EINVAL, "X must be 2-dimensional (rows x fields), got %d dimensions" % X.ndim)
        n, F = X.shape
        names = list(fields) if fields is not None else ["f%d" % i for i in range(F)]
        if len(names) != F:
            raise EsmmError(EINVAL, "%d field names for %d columns" % (len(names), F))
        present = X >= 0
        counts = present.sum(axis=1)
        offsets = _np.zeros(n + 1, dtype=_np.int64)
        _np.cumsum(counts, out=offsets[1:])
        cols = _np.broadcast_to(_np.arange(F, dtype=_np.intc), X.shape)[present]
        ids = X[present].astype(_np.uint64)
        return cls.from_csr(click, conversion, offsets, cols, ids, None, dense, names, config)

    @classmethod
    def read(cls, path, format=None, spec=None, common=None, config=None, model=None, **options):
        """Read a data file through the library (esmm_dataset_read): path is a
        file name, "-" for standard input, or an open file descriptor (int);
        format "text", "aliccp" (common: the common_features file), "csv"
        (spec: the column spec), "tokens" or "cache", detected by the library
        when not given (on a prefix it reads again: a pipe loses nothing).
        With model, the file is read as that model's training data was: its
        fields, its label and feature policies (conv_no_click, unknown_field,
        feature_values) and the CSV spec it remembers (for an input the
        library calls CSV), but not its on_error, as `esmm eval` does: a bad
        row raises EsmmError unless on_error="skip" is given. Other keyword
        arguments are reader options (on_error="skip", conv_no_click="drop",
        ...). report() says what the read found."""
        own, meta = None, {}
        if model is not None:
            config = own = model.config()
            meta = _config_meta(config._h)
            for k, v in (("on_error", "fail"), ("max_errors", 0)):
                if k not in options:
                    options[k] = v
        cfg = cls._config(None, 0, config, options)
        try:
            if format is not None and format not in _FORMATS:
                raise EsmmError(EINVAL, "unknown format %r (text, aliccp, csv, tokens, cache)" % (format,))
            mspec = meta.get("input.spec") if meta.get("input.format") in ("csv", "tokens") else None
            if format is None and spec is None and common is None and mspec:
                seen = -1  # as `esmm` decides (cli/data.c): a CSV file, or a stream
                if not isinstance(path, int) and path != "-" and os.path.isfile(path):
                    with open(path, "rb") as f:
                        head = f.read(65536)
                    fmt = _c.c_int(-1)
                    _check(_detect_format(head, len(head), os.fsencode(path), _c.byref(fmt)))
                    seen = fmt.value
                if seen in (-1, _FORMATS["csv"]):
                    spec = mspec
            if format == "csv" and spec is None and mspec != "tokens":
                spec = mspec
            if format is not None:  # an explicit format takes only its own arguments
                spec = spec if format == "csv" else None
                common = common if format == "aliccp" else None
            fmt = _FORMATS[format] if format is not None else _FORMAT_AUTO
            h = _P()
            c = os.fsencode(common) if common is not None else None
            sp = spec.encode() if spec is not None else None
            if isinstance(path, int):
                _check(_dataset_read_fd(_c.byref(h), cfg._h, path, b"<fd>", fmt, c, sp))
            else:
                _check(_dataset_read(_c.byref(h), cfg._h, os.fsencode(path), fmt, c, sp))
        finally:
            if config is None or own is not None:
                cfg.close()
        ds = cls(h)
        ds.path = str(path) if not isinstance(path, int) else "<fd %d>" % path
        return ds

    @classmethod
    def simulate(cls, rows, stream=0, config=None, **sim_options):
        """rows impressions from the library's simulator (the 23 Ali-CCP
        fields, known true probabilities); stream numbers independent draws
        (0 for training, 1 for test, ...); keyword arguments are simulator
        options (seed, users, ctr, cvr, ...)."""
        sim = _P()
        _check(_sim_new(_c.byref(sim), config._h if config is not None else None))
        try:
            for k, v in sim_options.items():
                _check(_sim_set_by_name(sim, str(k).encode(), str(v).encode()))
            h = _P()
            _check(_sim_generate(sim, rows, stream, _c.byref(h)))
        finally:
            _sim_free(sim)
        return cls(h)

    def __len__(self):
        return self._stat(_DS_ROWS)

    def labels(self):
        """(click, conversion) of every row (numpy int arrays, or lists)."""
        n = len(self)
        c, z = (_c.c_int * max(n, 1))(), (_c.c_int * max(n, 1))()
        _check(_dataset_labels(self._h, 0, n, c, z))
        if _np is not None:
            return _np.frombuffer(c, dtype=_np.intc)[:n].copy(), _np.frombuffer(z, dtype=_np.intc)[:n].copy()
        return list(c)[:n], list(z)[:n]

    def report(self):
        """The data report (esmm_dataset_report), with the keys of `esmm`'s
        --json "data" object: rows (read), kept, clicks, conversions,
        clicked_conversions, conv_no_click (rows read with click 0 and
        conversion 1) and what the policy did with them, the policies,
        skipped (reason -> count), messages (the first "file:line: reason"),
        common lists, features ignored, warnings."""
        r = _DataReport()
        _check(_dataset_report(self._h, _c.byref(r), _c.sizeof(r)))
        read = r.rows_read if (r.rows_read or r.conv_no_click_policy >= 0) else r.rows_kept
        msgs = []
        for k in range(r.messages):
            m = _c.c_char_p()
            _check(_report_message(self._h, k, _c.byref(m)))
            msgs.append(m.value.decode("utf-8", "replace"))
        warnings = []
        if r.conv_no_click_kept > 0:
            warnings.append("%d row%s with a conversion but no click, kept as read (conv_no_click=zero|drop|error "
                            "changes that)" % (r.conv_no_click_kept, "" if r.conv_no_click_kept == 1 else "s"))
        return {
            "file": self.path, "source": (r.source or b"").decode("utf-8", "replace"), "rows": read,
            "kept": r.rows_kept, "clicks": r.clicks, "conversions": r.conversions,
            "clicked_conversions": r.clicked_conversions, "conv_no_click": r.conv_no_click_read,
            "conv_no_click_policy": _CONV_NO_CLICK[r.conv_no_click_policy] if r.conv_no_click_policy >= 0 else None,
            "conv_no_click_kept": r.conv_no_click_kept, "conv_no_click_zeroed": r.conv_no_click_zeroed,
            "conv_no_click_skipped": r.conv_no_click_skipped,
            "on_error": _ON_ERROR[r.on_error_policy] if r.on_error_policy >= 0 else None,
            "skipped_rows": r.skipped,
            "skipped": {"malformed": r.skipped_malformed, "label": r.skipped_label,
                        "missing_common": r.skipped_missing_common, "conv_no_click": r.skipped_conv_no_click},
            "messages": msgs, "common_lists": r.commons, "common_lines": r.common_lines,
            "common_skipped": r.common_skipped, "features_ignored": r.features_ignored, "warnings": warnings,
            "dense_features": self.dense_features,
        }

    def row_sources(self):
        """Where each kept row came from: a list of (line, id) per row, line
        1-based in the input (0 when unknown: rows built in memory), id the
        cell of the spec's id= column (str) or None."""
        out, line = [], _c.c_int64()
        ids = self._stat(_DS_ROW_IDS)
        ptr, n = _c.c_void_p(), _c.c_size_t()
        for i in range(len(self)):
            _check(_row_source(self._h, i, _c.byref(line), _c.byref(ptr) if ids else None,
                               _c.byref(n) if ids else None))
            rid = _c.string_at(ptr.value, n.value).decode("utf-8", "replace") if ids and ptr.value else \
                ("" if ids else None)
            out.append((line.value, rid))
        return out

    def skipped_rows(self):
        """The rows the reader skipped, in input order: a list of (line, reason)
        with reason "malformed", "label", "missing_common" or "conv_no_click"."""
        out, line, reason = [], _c.c_int64(), _c.c_int()
        for k in range(self._stat(_DS_SKIPPED_LISTED)):
            _check(_skipped_row(self._h, k, _c.byref(line), _c.byref(reason)))
            name = _skip_reason_name(reason.value)
            out.append((line.value, name.decode() if name else str(reason.value)))
        return out

    def save_cache(self, path):
        """Write the binary cache (reopened with Dataset.read)."""
        _check(_save_cache(self._h, os.fsencode(path)))

    def close(self):
        if self._h:
            _dataset_free(self._h)
            self._h = _P()

    def __del__(self):
        self.close()

    def __repr__(self):
        return "Dataset(%d rows, %d fields, %d dense%s)" % (len(self), len(self.fields), self.dense_features,
                                                            ", %s" % self.path if self.path else "")


def model_info(path):
    """What a model file or checkpoint holds, validated by the library
    without building the model: format version, sizes, tensors, config,
    metadata, training position (esmm_model_info_open)."""
    h = _P()
    _check(_info_open(_c.byref(h), os.fsencode(path)))
    try:
        out = {}
        for i, k in enumerate(_INFO_KEYS):
            v = _c.c_int64()
            _check(_info_stat(h, i, _c.byref(v)))
            out[k] = v.value
        out["checkpoint"] = bool(out["checkpoint"])
        tensors = []
        for i in range(out["tensors"]):
            name, rows, cols = _c.c_char_p(), _c.c_uint64(), _c.c_uint64()
            _check(_info_tensor(h, i, _c.byref(name), _c.byref(rows), _c.byref(cols)))
            tensors.append((name.value.decode(), rows.value, cols.value))
        out["tensors"] = tensors
        cfg, text, n = _P(), _c.c_char_p(), _c.c_size_t()
        _check(_info_config(h, _c.byref(cfg), _c.byref(text), _c.byref(n)))
        out["config"] = dict(line.split("=", 1) for line in text.value.decode().splitlines() if "=" in line)
        out["metadata"] = _config_meta(cfg)
        return out
    finally:
        _info_free(h)


_warn_blas_early()
