"""libesmm from Python: a ctypes binding, standard library only.

Serving-oriented: load a model (file, buffer or checkpoint), predict on CSR
rows or score one user against many candidate items, from any number of
threads (each thread gets its own workspace automatically). numpy arrays are
accepted wherever a sequence is, and results then come back as numpy arrays;
without numpy, plain sequences in, lists of floats out.

The shared library is found through $ESMM_LIBRARY (a path), then the build
tree next to this package (../../lib/libesmm.so.1), then the system loader
(ctypes.util.find_library("esmm")).

    import esmm
    m = esmm.Model.load("model.esmm")
    pctr, pcvr, pctcvr = m.predict_user([0, 1], [42, 7], None,
                                        [0, 2, 4], [2, 3, 2, 3], [11, 5, 12, 5])
"""
import ctypes
import ctypes.util
import os
import threading

try:  # optional
    import numpy as _np
except ImportError:  # pragma: no cover - depends on the host
    _np = None

__all__ = ["EsmmError", "Config", "Model", "Workspace", "version", "library_path",
           "OK", "ERROR", "EINVAL", "ENOMEM", "EIO", "EFORMAT", "ECORRUPT", "EVERSION",
           "ESHAPE", "ESTATE", "ENUMERIC", "EBUFS", "ECANCELED"]

OK, ERROR, EINVAL, ENOMEM, EIO, EFORMAT, ECORRUPT, EVERSION = 0, -1, -2, -3, -4, -5, -6, -7
ESHAPE, ESTATE, ENUMERIC, EBUFS, ECANCELED = -8, -9, -10, -11, -12

# esmm_model_stat_key, esmm_opt values used here (pinned in the C headers)
STAT_STEP, STAT_EPOCH, STAT_LOSS, STAT_SAMPLES, STAT_PARAMS = 0, 1, 2, 5, 7
_OPT_BATCH_SIZE = 300
_OPT_DENSE_FEATURES = 500


def _find_library():
    env = os.environ.get("ESMM_LIBRARY")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    tree = os.path.join(here, "..", "..", "lib", "libesmm.so.1")
    if os.path.exists(tree):
        return os.path.normpath(tree)
    found = ctypes.util.find_library("esmm")
    if found:
        return found
    raise OSError("libesmm not found: set ESMM_LIBRARY to the path of libesmm.so.1")


library_path = _find_library()
_lib = ctypes.CDLL(library_path)

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

    def close(self):
        """Free the model now (also done by the garbage collector). Workspaces
        made by workspace() belong to their threads and go with them."""
        if self._h:
            _model_free(self._h)
            self._h = _P()

    def __del__(self):
        self.close()
