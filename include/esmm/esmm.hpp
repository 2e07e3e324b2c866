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
 * Requires C++11. Links like the C library: $(pkg-config --libs esmm).
 * @since 1.0
 */
#ifndef ESMM_ESMM_HPP
#define ESMM_ESMM_HPP

#include "esmm.h"

#include <cstddef>
#include <cstdint>
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
  const esmm_config *get() const noexcept { return c_; }
  esmm_config *get() noexcept { return c_; }

private:
  esmm_config *c_ = nullptr;
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

  const esmm_model *get() const noexcept { return m_; }
  esmm_model *get() noexcept { return m_; }

private:
  explicit Model(esmm_model *owned) noexcept : m_(owned) {}
  esmm_model *m_ = nullptr;
};

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
