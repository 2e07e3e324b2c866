// train.cpp - train with early stopping from C++ and save the best model.
//
//   train TRAIN.txt VALID.txt MODEL.esmm [EPOCHS]
//
// Reads two text-format files, trains with validation after every epoch and
// patience 2 on ctcvr_auc (the library's esmm_model_fit), saves the best
// model and prints its validation metrics. Exit status: 0, 1 library error,
// 2 usage.
#include <esmm/esmm.hpp>

#include <cstdio>
#include <string>

int main(int argc, char **argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: train TRAIN.txt VALID.txt MODEL.esmm [EPOCHS]\n");
    return 2;
  }
  try {
    esmm::Dataset train = esmm::Dataset::read_text(argv[1]);
    esmm::Dataset valid = esmm::Dataset::read_text(argv[2]);
    esmm::Config cfg;
    cfg.set("epochs", argc > 4 ? argv[4] : "10").set("patience", "2").set("hash_buckets", "4096");
    esmm::Model model(cfg);
    esmm::FitHistory h = model.fit(train, &valid, nullptr, [](const esmm::FitRecord &r) {
      std::printf("epoch %.0f: train loss %.5f, valid ctcvr_auc %.4f%s\n", r.epoch, r.train_loss,
                  r.valid["ctcvr_auc"], r.improved ? " *" : "");
      return false;
    });
    esmm::Model best = h.best() >= 0 ? h.best_model() : std::move(model);
    best.save(argv[3]);
    esmm::Metrics m = best.evaluate(valid);
    std::printf("saved %s: ctr_auc %.4f cvr_auc_clicked %.4f ctcvr_auc %.4f%s\n", argv[3], m["ctr_auc"],
                m["cvr_auc_clicked"], m["ctcvr_auc"], h.stopped_early() ? " (stopped early)" : "");
  } catch (const esmm::Error &e) {
    std::fprintf(stderr, "train: %s\n", e.what());
    return 1;
  }
  return 0;
}
