// check_hpp.cpp - the C++ wrapper (esmm/esmm.hpp) beyond serving: datasets
// from files, CSR arrays and the simulator, Model::fit with validation,
// early stopping and the best model, evaluate/predict, metadata, and errors
// as esmm::Error with the library's message (also out of a callback).
// Exit status 0 when every check passes (make check-cpp).
#include <esmm/esmm.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <unistd.h>

static int failures = 0, checks = 0;
#define CHECK(cond)                                                                                                \
  do {                                                                                                             \
    checks++;                                                                                                      \
    if (!(cond)) {                                                                                                 \
      failures++;                                                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                               \
    }                                                                                                              \
  } while (0)

template <class F> static int status_of(F f, std::string *what = nullptr) {
  try {
    f();
  } catch (const esmm::Error &e) {
    if (what)
      *what = e.what();
    return e.status();
  }
  return ESMM_OK;
}

int main() {
  esmm::Dataset train = esmm::Dataset::simulate(3000, 0);
  esmm::Dataset valid = esmm::Dataset::simulate(1500, 1, {{"seed", "42"}});
  CHECK(train.rows() == 3000 && valid.rows() == 1500);
  CHECK(valid.stat(ESMM_DS_CLICKS) > 0);

  esmm::Config cfg;
  cfg.set("embed_dim", "6").set("hash_buckets", "256").set("ctr_tower", "16").set("cvr_tower", "16");
  cfg.set("batch_size", "128").set("epochs", "10").set("monitor", "ctr_auc").set("patience", "2");
  cfg.set("min_delta", "1"); // only the first evaluation can be the best: stops after 3
  esmm::Model model(cfg);
  int seen = 0;
  esmm::FitHistory h = model.fit(train, &valid, nullptr, [&](const esmm::FitRecord &r) {
    seen++;
    return r.step < 0; // never asks to stop
  });
  CHECK(seen == 3 && h.size() == 3);
  CHECK(h.stopped_early());
  CHECK(h.best() == 0);
  std::vector<esmm::FitRecord> rec = h.records();
  CHECK(rec[0].step == 24 && rec[0].improved && !rec[1].improved);
  CHECK(std::fabs(rec[0].epoch - 1.0) < 1e-12);
  CHECK(rec[0].monitor == rec[0].valid["ctr_auc"]);
  esmm::Model best = h.best_model();
  esmm::Metrics m = best.evaluate(valid);
  CHECK(m["ctr_auc"] == rec[0].valid["ctr_auc"]);
  CHECK(m[ESMM_METRIC_ROWS] == 1500);
  CHECK(status_of([&] { (void)m["no_such_metric"]; }) == ESMM_EINVAL);

  esmm::Scores s = best.predict(valid);
  CHECK(s.pctr.size() == 1500);
  CHECK(std::fabs(s.pctcvr[7] - s.pctr[7] * s.pcvr[7]) < 1e-6);

  // a callback that asks to stop, and one that throws
  esmm::Model m2(cfg);
  esmm::FitHistory h2 = m2.fit(train, &valid, nullptr, [](const esmm::FitRecord &) { return true; });
  CHECK(h2.size() == 1);
  esmm::Model m3(cfg);
  bool thrown = false;
  try {
    m3.fit(train, &valid, nullptr, [](const esmm::FitRecord &) -> bool { throw std::runtime_error("mine"); });
  } catch (const std::runtime_error &e) {
    thrown = std::string(e.what()) == "mine";
  }
  CHECK(thrown);

  // library errors carry the message
  std::string what;
  CHECK(status_of([&] { m2.fit(train, nullptr, &cfg); }, &what) == ESMM_EINVAL);
  CHECK(what.find("needs a validation set") != std::string::npos);
  CHECK(status_of([&] { esmm::Config c; c.set("optimizer", "adamw"); }, &what) == ESMM_EINVAL);
  CHECK(what.find("is not one of adam, adagrad, sgd") != std::string::npos);
  CHECK(status_of([] { esmm::Dataset::read_text("/nonexistent/rows.txt"); }, &what) == ESMM_EIO);

  // CSR rows and a file written by the library read back; metadata survives a save
  esmm::Config small;
  small.set("fields", "user,item").set("embed_dim", "4").set("hash_buckets", "32").set("batch_size", "4");
  esmm::Dataset rows(small);
  const int click[4] = {1, 0, 1, 0}, conv[4] = {1, 0, 0, 0}, field[8] = {0, 1, 0, 1, 0, 1, 0, 1};
  const int64_t off[5] = {0, 2, 4, 6, 8};
  const uint64_t id[8] = {1, 10, 2, 11, 1, 12, 3, 10};
  rows.add_rows(4, click, conv, off, field, id);
  CHECK(rows.rows() == 4 && rows.stat(ESMM_DS_CLICKS) == 2);
  char dir[] = "/tmp/esmm-hpp-XXXXXX";
  CHECK(mkdtemp(dir) != nullptr);
  std::string txt = std::string(dir) + "/rows.txt", mp = std::string(dir) + "/m.esmm";
  CHECK(esmm_dataset_write_text(rows.get(), txt.c_str()) == ESMM_OK);
  esmm::Dataset back = esmm::Dataset::read_text(txt, &small);
  CHECK(back.rows() == 4);
  esmm::Model sm(small);
  sm.fit(back);
  sm.set_meta("input.format", "text");
  sm.save(mp);
  esmm::Model loaded = esmm::Model::load(mp);
  CHECK(loaded.meta("input.format") == "text");
  CHECK(loaded.config().meta().at("input.format") == "text");
  CHECK(loaded.meta("absent").empty());
  unlink(txt.c_str());
  unlink(mp.c_str());
  rmdir(dir);

  std::printf("check-cpp: %d of %d checks passed\n", checks - failures, checks);
  return failures ? 1 : 0;
}
