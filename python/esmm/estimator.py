"""A thin scikit-learn-style estimator over esmm.Model (no scikit-learn
dependency; get_params/set_params follow its conventions, so it can sit in
its pipelines and grid searches).

    from esmm.estimator import ESMMEstimator
    est = ESMMEstimator(epochs=10, early_stopping=2, embed_dim=8)
    est.fit(X, y, eval_set=(X_val, y_val))        # X: (n, F) ids, y: (n, 2) click, conversion
    pctr, pcvr, pctcvr = est.predict_proba(X_test).T
"""
import esmm


class ESMMEstimator(object):
    """ESMM on one categorical id per field (X: (n, F) integer array, a
    negative id = no feature), y = (n, 2) array of click and conversion
    labels; optional numeric inputs through fit/predict's dense argument.
    Keyword arguments are fit options (epochs, early_stopping, monitor,
    eval_every) or config options (embed_dim, hash_buckets, learning_rate,
    batch_size, variant, ...)."""

    _FIT = ("epochs", "early_stopping", "monitor", "eval_every", "min_delta")

    def __init__(self, fields=None, **params):
        self.fields = fields
        self.params = dict(params)
        self.model_ = None
        self.history_ = None

    def get_params(self, deep=True):
        out = dict(self.params)
        out["fields"] = self.fields
        return out

    def set_params(self, **params):
        if "fields" in params:
            self.fields = params.pop("fields")
        self.params.update(params)
        return self

    @staticmethod
    def _labels(y):
        y = esmm._np.asarray(y)
        if y.ndim != 2 or y.shape[1] != 2:
            raise esmm.EsmmError(esmm.EINVAL, "y must be an (n, 2) array of click and conversion labels")
        return y[:, 0], y[:, 1]

    def _dataset(self, X, y=None, dense=None):
        n = len(X)
        click, conv = self._labels(y) if y is not None else (esmm._np.zeros(n, int), esmm._np.zeros(n, int))
        return esmm.Dataset.from_numpy(X, click, conv, dense=dense, fields=self.fields)

    def fit(self, X, y, dense=None, eval_set=None, eval_dense=None, verbose=False):
        train = self._dataset(X, y, dense)
        valid = self._dataset(eval_set[0], eval_set[1], eval_dense) if eval_set is not None else None
        fit_opts = {k: v for k, v in self.params.items() if k in self._FIT}
        model_opts = {k: v for k, v in self.params.items() if k not in self._FIT}
        self.model_ = esmm.Model.for_data(train, **model_opts)
        self.history_ = self.model_.fit(train, valid=valid, verbose=verbose, **fit_opts)
        return self

    def predict_proba(self, X, dense=None):
        """(n, 3) array: pCTR, pCVR, pCTCVR per row."""
        if self.model_ is None:
            raise esmm.EsmmError(esmm.ESTATE, "fit first")
        return esmm._np.stack(self.model_.predict(self._dataset(X, None, dense)), axis=1)

    def score(self, X, y, dense=None):
        """CTCVR AUC (the ESMM objective's ranking quality) on X, y."""
        return self.model_.evaluate(self._dataset(X, y, dense))["ctcvr_auc"]
