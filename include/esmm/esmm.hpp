/*
 * esmm/esmm.hpp - header-only C++11 RAII wrapper over the C API of libesmm.
 *
 * Every handle becomes a move-only class that frees itself; every failing
 * status becomes an esmm::Error carrying the status and the library's
 * message (read on the thread that made the call, as the C API requires).
 * Nothing here adds state or threads: the thread-safety rules are the C
 * API's. In particular one esmm::Model may be shared (const) by any number
 * of threads for prediction while each thread uses its own esmm::Workspace;
 * nothing may train or reload that model meanwhile.
 *
 *   esmm::Model model = esmm::Model::load("model.esmm");
 *   esmm::Workspace ws(model, 256);                 // one per thread
 *   esmm::Scores s = ws.predict_user(model, user, items);   // user: esmm::Features
 *
 * Training (1.1): datasets (files, CSR arrays, the simulator), the library's
 * training loop with validation, early stopping and the best model kept:
 *
 *   esmm::Dataset train = esmm::Dataset::read_text("train.txt");
 *   esmm::Dataset valid = esmm::Dataset::read_text("valid.txt");
 *   esmm::Config cfg;  cfg.set("epochs", "10").set("patience", "2");
 *   esmm::Model model(cfg);
 *   esmm::FitHistory h = model.fit(train, &valid);
 *   esmm::Model best = h.best_model();               // or: h.records(), h.stopped_early()
 *   esmm::Metrics m = best.evaluate(valid);          // m["ctcvr_auc"]
 *
 * Requires C++11. Links like the C library: $(pkg-config --libs esmm).
 * @since 1.0 (serving), 1.1 (Dataset, Metrics, FitHistory, Model::fit/evaluate/predict)
 */
#ifndef ESMM_ESMM_HPP
#define ESMM_ESMM_HPP

#include "esmm.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace esmm {

/** A failing libesmm call: status() is the esmm_status, what() the message. */
class Error : public std::runtime_error {
public:
  Error(int status, const std::string &what) : std::runtime_error(what), status_(status) {}
  int status() const noexcept { return status_; }

private:
  int status_;
};

/** Throw esmm::Error for a negative status (with this thread's last error). */
inline void check(int status) {
  if (status < 0)
    throw Error(status, std::string(esmm_last_error()) + " (" + esmm_strerror(status) + ")");
}

/** A sparse feature list: parallel arrays of field index, id, value. */
struct Features {
  std::vector<int> field;
  std::vector<uint64_t> id;
  std::vector<float> value; /* empty = all 1.0, else one per feature */
  void add(int f, uint64_t i, float v = 1.0f) {
    if (!value.empty() || v != 1.0f) {
      value.resize(field.size(), 1.0f);
      value.push_back(v);
    }
    field.push_back(f);
    id.push_back(i);
  }
  std::size_t size() const { return field.size(); }
};

/** pCTR, pCVR, pCTCVR per candidate or row. */
struct Scores {
  std::vector<float> pctr, pcvr, pctcvr;
  void resize(std::size_t n) {
    pctr.resize(n);
    pcvr.resize(n);
    pctcvr.resize(n);
  }
};

/** Owning wrapper of esmm_config. */
class Config {
public:
  Config() { check(esmm_config_new(&c_)); }
  explicit Config(esmm_config *owned) noexcept : c_(owned) {}
  ~Config() { esmm_config_free(c_); }
  Config(Config &&o) noexcept : c_(o.c_) { o.c_ = nullptr; }
  Config &operator=(Config &&o) noexcept {
    std::swap(c_, o.c_);
    return *this;
  }
  Config(const Config &) = delete;
  Config &operator=(const Config &) = delete;

  Config &set(const std::string &name, const std::string &value) {
    check(esmm_config_set_by_name(c_, name.c_str(), value.c_str()));
    return *this;
  }
  int64_t get_int(esmm_opt opt) const {
    int64_t v = 0;
    check(esmm_config_get_int(c_, opt, &v));
    return v;
  }
  std::size_t field_count() const {
    std::size_t n = 0;
    check(esmm_config_field_count(c_, &n));
    return n;
  }
  /** Index of a field by name; throws esmm::Error (ESMM_EINVAL) when absent. */
  int field_index(const std::string &name) const {
    int i = -1;
    check(esmm_config_field_index(c_, name.c_str(), &i));
    return i;
  }
  std::string field_name(std::size_t i) const {
    const char *n = nullptr;
    check(esmm_config_field(c_, i, &n, nullptr));
    return n;
  }
  /** Metadata (esmm_config_set_meta); an empty value is kept, remove() removes. */
  Config &set_meta(const std::string &key, const std::string &value) {
    check(esmm_config_set_meta(c_, key.c_str(), value.c_str()));
    return *this;
  }
  /** Metadata as a map. */
  std::map<std::string, std::string> meta() const {
    std::map<std::string, std::string> out;
    std::size_t n = 0;
    check(esmm_config_meta_at(c_, 0, nullptr, nullptr, &n));
    for (std::size_t i = 0; i < n; i++) {
      const char *k = nullptr, *v = nullptr;
      check(esmm_config_meta_at(c_, i, &k, &v, nullptr));
      out[k] = v;
    }
    return out;
  }
  const esmm_config *get() const noexcept { return c_; }
  esmm_config *get() noexcept { return c_; }

private:
  esmm_config *c_ = nullptr;
};

/** Owning wrapper of esmm_dataset (1.1): labelled impressions. */
class Dataset {
public:
  /** The text format (esmm/io.h). cfg: field list and reader options (nullptr = defaults). */
  static Dataset read_text(const std::string &path, const Config *cfg = nullptr) {
    esmm_dataset *d = nullptr;
    check(esmm_dataset_read_text(&d, cfg ? cfg->get() : nullptr, path.c_str()));
    return Dataset(d);
  }
  /** CSV with a column spec ("tokens": PaddleRec token lines). */
  static Dataset read_csv(const std::string &path, const std::string &spec, const Config *cfg = nullptr) {
    esmm_dataset *d = nullptr;
    check(esmm_dataset_read_csv(&d, cfg ? cfg->get() : nullptr, path.c_str(), spec.c_str()));
    return Dataset(d);
  }
  /** The raw Ali-CCP pair (common may be empty: none). */
  static Dataset read_aliccp(const std::string &skeleton, const std::string &common, const Config *cfg = nullptr) {
    esmm_dataset *d = nullptr;
    check(esmm_dataset_read_aliccp(&d, cfg ? cfg->get() : nullptr, skeleton.c_str(),
                                   common.empty() ? nullptr : common.c_str()));
    return Dataset(d);
  }
  /** A binary cache (esmm convert), memory-mapped. */
  static Dataset open_cache(const std::string &path, const Config *cfg = nullptr) {
    esmm_dataset *d = nullptr;
    check(esmm_dataset_open_cache(&d, cfg ? cfg->get() : nullptr, path.c_str()));
    return Dataset(d);
  }
  /** rows impressions from the simulator; options by name (seed, ctr, ...). */
  static Dataset simulate(std::size_t rows, uint64_t stream = 0,
                          const std::map<std::string, std::string> &options = {}) {
    esmm_sim *sim = nullptr;
    esmm_dataset *d = nullptr;
    check(esmm_sim_new(&sim, nullptr));
    int rc = ESMM_OK;
    for (const auto &kv : options)
      if ((rc = esmm_sim_set_by_name(sim, kv.first.c_str(), kv.second.c_str())) != ESMM_OK)
        break;
    if (rc == ESMM_OK)
      rc = esmm_sim_generate(sim, rows, stream, &d);
    std::string msg = rc < 0 ? esmm_last_error() : "";
    esmm_sim_free(sim);
    if (rc < 0)
      throw Error(rc, msg + " (" + esmm_strerror(rc) + ")");
    return Dataset(d);
  }
  /** An empty dataset with cfg's field list; add rows with add_rows. */
  explicit Dataset(const Config &cfg) { check(esmm_dataset_new(&d_, cfg.get())); }
  /** Append n rows in CSR form (esmm_dataset_add_rows; copied). */
  void add_rows(std::size_t n, const int *click, const int *conversion, const int64_t *offsets, const int *field,
                const uint64_t *id, const float *value = nullptr) {
    check(esmm_dataset_add_rows(d_, n, click, conversion, nullptr, offsets, field, id, value));
  }
  ~Dataset() { esmm_dataset_free(d_); }
  Dataset(Dataset &&o) noexcept : d_(o.d_) { o.d_ = nullptr; }
  Dataset &operator=(Dataset &&o) noexcept {
    std::swap(d_, o.d_);
    return *this;
  }
  Dataset(const Dataset &) = delete;
  Dataset &operator=(const Dataset &) = delete;

  int64_t stat(esmm_dataset_stat_key key) const {
    int64_t v = 0;
    check(esmm_dataset_stat(d_, key, &v));
    return v;
  }
  std::size_t rows() const { return static_cast<std::size_t>(stat(ESMM_DS_ROWS)); }
  const esmm_dataset *get() const noexcept { return d_; }

private:
  explicit Dataset(esmm_dataset *owned) noexcept : d_(owned) {}
  esmm_dataset *d_ = nullptr;
};

/** The esmm_metric vector of an evaluation, by index or name (1.1). */
class Metrics {
public:
  std::vector<double> values = std::vector<double>(ESMM_METRIC_COUNT, NAN);
  double operator[](int metric) const { return values.at(static_cast<std::size_t>(metric)); }
  /** By name ("ctcvr_auc", ...); throws esmm::Error (ESMM_EINVAL) for an unknown name. */
  double operator[](const std::string &name) const {
    for (int i = 0; i < ESMM_METRIC_COUNT; i++)
      if (name == esmm_metric_name(i))
        return values[static_cast<std::size_t>(i)];
    throw Error(ESMM_EINVAL, "no metric named \"" + name + "\"");
  }
};

/** One evaluation point of a fit (esmm_fit_record). */
struct FitRecord {
  double epoch = 0, train_loss = 0, seconds = 0, monitor = NAN;
  int64_t step = 0, samples = 0;
  bool improved = false;
  Metrics valid; /* NaN without a validation set */
};

class Model;

/** Owning wrapper of esmm_fit: what Model::fit did (1.1). */
class FitHistory {
public:
  ~FitHistory() { esmm_fit_free(f_); }
  FitHistory(FitHistory &&o) noexcept : f_(o.f_) { o.f_ = nullptr; }
  FitHistory &operator=(FitHistory &&o) noexcept {
    std::swap(f_, o.f_);
    return *this;
  }
  FitHistory(const FitHistory &) = delete;
  FitHistory &operator=(const FitHistory &) = delete;

  double stat(esmm_fit_stat_key key) const {
    double v = 0;
    check(esmm_fit_stat(f_, key, &v));
    return v;
  }
  std::size_t size() const { return static_cast<std::size_t>(stat(ESMM_FIT_STAT_RECORDS)); }
  FitRecord record(std::size_t i) const { return record_of(f_, i); }
  std::vector<FitRecord> records() const {
    std::vector<FitRecord> out;
    for (std::size_t i = 0; i < size(); i++)
      out.push_back(record(i));
    return out;
  }
  /** Index of the best record, -1 when none improved. */
  int best() const { return static_cast<int>(stat(ESMM_FIT_STAT_BEST)); }
  bool stopped_early() const { return stat(ESMM_FIT_STAT_STOPPED_EARLY) > 0; }
  /** The model at its best evaluation (needs a validation set and keep_best). */
  inline Model best_model(const Config *hooks = nullptr) const;

  static FitRecord record_of(const esmm_fit *f, std::size_t i) {
    FitRecord r;
    double v = 0;
    check(esmm_fit_record(f, i, ESMM_FIT_EPOCH, &r.epoch));
    check(esmm_fit_record(f, i, ESMM_FIT_TRAIN_LOSS, &r.train_loss));
    check(esmm_fit_record(f, i, ESMM_FIT_SECONDS, &r.seconds));
    check(esmm_fit_record(f, i, ESMM_FIT_MONITOR, &r.monitor));
    check(esmm_fit_record(f, i, ESMM_FIT_STEP, &v));
    r.step = static_cast<int64_t>(v);
    check(esmm_fit_record(f, i, ESMM_FIT_SAMPLES, &v));
    r.samples = static_cast<int64_t>(v);
    check(esmm_fit_record(f, i, ESMM_FIT_IMPROVED, &v));
    r.improved = v > 0;
    for (int k = 0; k < ESMM_METRIC_COUNT; k++)
      check(esmm_fit_record(f, i, ESMM_FIT_VALID + k, &r.valid.values[static_cast<std::size_t>(k)]));
    return r;
  }

private:
  friend class Model;
  explicit FitHistory(esmm_fit *owned) noexcept : f_(owned) {}
  esmm_fit *f_ = nullptr;
};

/** Owning wrapper of esmm_model. */
class Model {
public:
  static Model load(const std::string &path, const Config *hooks = nullptr) {
    esmm_model *m = nullptr;
    check(esmm_model_load(&m, path.c_str(), hooks ? hooks->get() : nullptr));
    return Model(m);
  }
  static Model load_buffer(const void *buf, std::size_t len, const Config *hooks = nullptr) {
    esmm_model *m = nullptr;
    check(esmm_model_load_buffer(&m, buf, len, hooks ? hooks->get() : nullptr));
    return Model(m);
  }
  static Model load_checkpoint(const std::string &path, const Config *hooks = nullptr) {
    esmm_model *m = nullptr;
    check(esmm_model_load_checkpoint(&m, path.c_str(), hooks ? hooks->get() : nullptr));
    return Model(m);
  }
  explicit Model(const Config &cfg) { check(esmm_model_new(&m_, cfg.get())); }
  ~Model() { esmm_model_free(m_); }
  Model(Model &&o) noexcept : m_(o.m_) { o.m_ = nullptr; }
  Model &operator=(Model &&o) noexcept {
    std::swap(m_, o.m_);
    return *this;
  }
  Model(const Model &) = delete;
  Model &operator=(const Model &) = delete;

  /** A copy of the model's configuration (field names, options). */
  Config config() const {
    esmm_config *c = nullptr;
    check(esmm_model_config(m_, &c));
    return Config(c);
  }
  double stat(esmm_model_stat_key key) const {
    double v = 0;
    check(esmm_model_stat(m_, key, &v));
    return v;
  }
  void save(const std::string &path) const { check(esmm_model_save(m_, path.c_str())); }
  void save_checkpoint(const std::string &path) const { check(esmm_model_save_checkpoint(m_, path.c_str())); }

  /* Training and evaluation (1.1). ------------------------------------------ */

  /** Called after each evaluation point; return true to stop training. */
  using FitCallback = std::function<bool(const FitRecord &)>;

  /**
   * esmm_model_fit: train on train, evaluate valid (may be nullptr) at every
   * evaluation point, stop early, keep the best model. opts supplies epochs
   * and the fit options (nullptr = the model's config). An exception thrown
   * by on_eval stops training and is rethrown here; a true return stops it
   * too (the history is returned). Throws esmm::Error on failure.
   */
  FitHistory fit(const Dataset &train, const Dataset *valid = nullptr, const Config *opts = nullptr,
                 FitCallback on_eval = nullptr) {
    struct Ctx {
      FitCallback cb;
      std::exception_ptr error;
      bool stopped;
    } ctx;
    ctx.cb = std::move(on_eval);
    ctx.stopped = false;
    esmm_fit *f = nullptr;
    int rc = esmm_model_fit(
        m_, train.get(), valid ? valid->get() : nullptr, opts ? opts->get() : nullptr,
        [](const esmm_model *, const esmm_fit *fit, int event, void *payload) -> int {
          Ctx *c = static_cast<Ctx *>(payload);
          if (event != ESMM_FIT_EVENT_EVAL || !c->cb)
            return 0;
          try {
            double n = 0;
            esmm_fit_stat(fit, ESMM_FIT_STAT_RECORDS, &n);
            c->stopped = c->cb(FitHistory::record_of(fit, static_cast<std::size_t>(n) - 1));
            return c->stopped ? 1 : 0;
          } catch (...) { /* never through C frames */
            c->error = std::current_exception();
            return 1;
          }
        },
        &ctx, &f);
    FitHistory h(f);
    if (ctx.error)
      std::rethrow_exception(ctx.error);
    if (!(rc == ESMM_ECANCELED && ctx.stopped))
      check(rc);
    return h;
  }

  /** esmm_model_evaluate: every metric of the model on ds. */
  Metrics evaluate(const Dataset &ds) const {
    Metrics m;
    check(esmm_model_evaluate(m_, ds.get(), m.values.data(), m.values.size()));
    return m;
  }

  /** esmm_model_predict: pCTR, pCVR, pCTCVR of every row of ds. */
  Scores predict(const Dataset &ds) const {
    Scores s;
    s.resize(ds.rows());
    if (!s.pctr.empty())
      check(esmm_model_predict(m_, nullptr, ds.get(), 0, s.pctr.size(), s.pctr.data(), s.pcvr.data(),
                               s.pctcvr.data()));
    return s;
  }

  /** Metadata saved with the model (esmm_model_set_meta / esmm_model_meta). */
  void set_meta(const std::string &key, const std::string &value) {
    check(esmm_model_set_meta(m_, key.c_str(), value.c_str()));
  }
  std::string meta(const std::string &key) const {
    const char *v = nullptr;
    check(esmm_model_meta(m_, key.c_str(), &v));
    return v ? v : "";
  }

  const esmm_model *get() const noexcept { return m_; }
  esmm_model *get() noexcept { return m_; }

private:
  friend class FitHistory;
  explicit Model(esmm_model *owned) noexcept : m_(owned) {}
  esmm_model *m_ = nullptr;
};

inline Model FitHistory::best_model(const Config *hooks) const {
  esmm_model *m = nullptr;
  check(esmm_fit_best_model(f_, hooks ? hooks->get() : nullptr, &m));
  return Model(m);
}

/**
 * Per-thread prediction scratch (esmm_workspace). Create one per thread and
 * reuse it: the raw-pointer calls then allocate nothing; the vector
 * conveniences allocate only their result and input arrays.
 */
class Workspace {
public:
  explicit Workspace(const Model &m, std::size_t max_batch = 0) {
    check(esmm_workspace_new(&ws_, m.get(), max_batch));
  }
  ~Workspace() { esmm_workspace_free(ws_); }
  Workspace(Workspace &&o) noexcept : ws_(o.ws_) { o.ws_ = nullptr; }
  Workspace &operator=(Workspace &&o) noexcept {
    std::swap(ws_, o.ws_);
    return *this;
  }
  Workspace(const Workspace &) = delete;
  Workspace &operator=(const Workspace &) = delete;

  /** esmm_model_predict_csr (numeric inputs: dense, NULL when none). */
  void predict_csr(const Model &m, std::size_t n, const int64_t *offsets, const int *field, const uint64_t *id,
                   const float *value, const float *dense, float *pctr, float *pcvr, float *pctcvr) {
    check(esmm_model_predict_csr(m.get(), ws_, n, offsets, field, id, value, dense, pctr, pcvr, pctcvr));
  }

  /** esmm_model_predict_user on raw arrays. */
  void predict_user(const Model &m, const Features &user, std::size_t n_items, const int64_t *item_offsets,
                    const int *item_field, const uint64_t *item_id, const float *item_value,
                    const float *item_dense, float *pctr, float *pcvr, float *pctcvr) {
    check(esmm_model_predict_user(m.get(), ws_, user.size(), user.field.data(), user.id.data(),
                                  user.value.empty() ? nullptr : user.value.data(), n_items, item_offsets,
                                  item_field, item_id, item_value, item_dense, pctr, pcvr, pctcvr));
  }

  /** One user, many candidate items (models without numeric inputs). */
  Scores predict_user(const Model &m, const Features &user, const std::vector<Features> &items) {
    std::vector<int64_t> off(1, 0);
    std::vector<int> f;
    std::vector<uint64_t> id;
    std::vector<float> v;
    bool values = false;
    for (const Features &it : items)
      values = values || !it.value.empty();
    for (const Features &it : items) {
      f.insert(f.end(), it.field.begin(), it.field.end());
      id.insert(id.end(), it.id.begin(), it.id.end());
      if (values) {
        if (it.value.empty())
          v.insert(v.end(), it.size(), 1.0f);
        else
          v.insert(v.end(), it.value.begin(), it.value.end());
      }
      off.push_back(static_cast<int64_t>(f.size()));
    }
    Scores s;
    s.resize(items.size());
    predict_user(m, user, items.size(), off.data(), f.data(), id.data(), values ? v.data() : nullptr, nullptr,
                 s.pctr.data(), s.pcvr.data(), s.pctcvr.data());
    return s;
  }

  esmm_workspace *get() noexcept { return ws_; }

private:
  esmm_workspace *ws_ = nullptr;
};

} /* namespace esmm */

#endif /* ESMM_ESMM_HPP */
