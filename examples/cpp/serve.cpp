// serve.cpp - a service-like host of libesmm through the RAII wrapper
// esmm/esmm.hpp: one model loaded once and shared (const) by a pool of
// worker threads, each with its own workspace.
//
//   serve predict MODEL DATA [THREADS]   score every row of a text data file
//                                        (one impression a line: "click conv
//                                        field:id[:value] ..."), write
//                                        "pctr pcvr pctcvr" per row to stdout
//   serve bench MODEL [ITEMS] [CALLS]    latency of one user x ITEMS candidates
//                                        (median, p90, p99 over CALLS calls)
//
// predict hands the rows to the workers in requests of the model's batch
// size, the chunking `esmm predict` uses, so the output is byte-identical to
// `esmm predict` (SGEMM may round differently for another row count). Each
// worker scores whole requests, so the order of results does not depend on
// scheduling. Exit status: 0 ok, 1 library or I/O error, 2 usage.
#include <esmm/esmm.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Rows {
  std::vector<int64_t> off{0};
  std::vector<int> field;
  std::vector<uint64_t> id;
  std::vector<float> value;
  std::size_t n() const { return off.size() - 1; }
};

// Parse the text format with the model's field list. Values are parsed with
// strtof, which rounds the decimal straight to float like the library's reader.
Rows read_rows(const std::string &path, const esmm::Config &cfg) {
  std::map<std::string, int> index;
  for (std::size_t i = 0; i < cfg.field_count(); i++)
    index[cfg.field_name(i)] = static_cast<int>(i);
  std::ifstream in(path);
  if (!in)
    throw std::runtime_error("cannot open " + path);
  Rows r;
  std::string line;
  std::size_t lineno = 0;
  while (std::getline(in, line)) {
    lineno++;
    std::istringstream ss(line);
    std::string tok;
    int k = 0;
    while (ss >> tok) {
      if (k++ < 2)
        continue;  // click, conversion
      std::size_t c1 = tok.find(':');
      if (c1 == std::string::npos)
        throw std::runtime_error(path + ":" + std::to_string(lineno) + ": bad feature " + tok);
      std::size_t c2 = tok.find(':', c1 + 1);
      auto f = index.find(tok.substr(0, c1));
      if (f == index.end())
        throw std::runtime_error(path + ":" + std::to_string(lineno) + ": unknown field " + tok.substr(0, c1));
      r.field.push_back(f->second);
      r.id.push_back(std::strtoull(tok.c_str() + c1 + 1, nullptr, 10));
      r.value.push_back(c2 == std::string::npos ? 1.0f : std::strtof(tok.c_str() + c2 + 1, nullptr));
    }
    if (k == 0)
      continue;
    r.off.push_back(static_cast<int64_t>(r.field.size()));
  }
  return r;
}

int predict(const std::string &model_path, const std::string &data, unsigned threads) {
  const esmm::Model model = esmm::Model::load(model_path);
  const esmm::Config cfg = model.config();
  const Rows rows = read_rows(data, cfg);
  const std::size_t n = rows.n(), batch = static_cast<std::size_t>(cfg.get_int(ESMM_OPT_BATCH_SIZE));
  esmm::Scores out;
  out.resize(n);
  std::atomic<std::size_t> next{0};
  std::vector<std::string> errors(threads);
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; t++)
    pool.emplace_back([&, t] {
      try {
        esmm::Workspace ws(model, batch);  // per thread, reused for every request
        for (std::size_t first; (first = next.fetch_add(batch)) < n;) {
          std::size_t k = std::min(batch, n - first);
          // a request: rows [first, first+k) as a CSR slice with rebased offsets
          std::vector<int64_t> off(k + 1);
          for (std::size_t i = 0; i <= k; i++)
            off[i] = rows.off[first + i] - rows.off[first];
          std::size_t base = static_cast<std::size_t>(rows.off[first]);
          ws.predict_csr(model, k, off.data(), rows.field.data() + base, rows.id.data() + base,
                         rows.value.data() + base, nullptr, &out.pctr[first], &out.pcvr[first], &out.pctcvr[first]);
        }
      } catch (const std::exception &e) {
        errors[t] = e.what();
      }
    });
  for (auto &th : pool)
    th.join();
  for (const auto &e : errors)
    if (!e.empty())
      throw std::runtime_error(e);
  std::printf("pctr\tpcvr\tpctcvr\n");
  for (std::size_t i = 0; i < n; i++)
    std::printf("%.9g\t%.9g\t%.9g\n", out.pctr[i], out.pcvr[i], out.pctcvr[i]);
  return 0;
}

// One user (a feature in each of the first half of the fields) and `items`
// candidates (a feature in each of the other fields), scored `calls` times.
int bench(const std::string &model_path, std::size_t items, std::size_t calls) {
  const esmm::Model model = esmm::Model::load(model_path);
  const esmm::Config cfg = model.config();
  const int nf = static_cast<int>(cfg.field_count());
  esmm::Features user;
  for (int f = 0; f < nf / 2; f++)
    user.add(f, 1000u + static_cast<uint64_t>(f));
  std::vector<int64_t> off{0};
  std::vector<int> field;
  std::vector<uint64_t> id;
  for (std::size_t i = 0; i < items; i++) {
    for (int f = nf / 2; f < nf; f++) {
      field.push_back(f);
      id.push_back(i * 7919u + static_cast<uint64_t>(f));
    }
    off.push_back(static_cast<int64_t>(field.size()));
  }
  esmm::Workspace ws(model, items);
  esmm::Scores s;
  s.resize(items);
  std::vector<double> us;
  for (std::size_t c = 0; c < calls + 20; c++) {
    auto t0 = std::chrono::steady_clock::now();
    ws.predict_user(model, user, items, off.data(), field.data(), id.data(), nullptr, nullptr, s.pctr.data(),
                    s.pcvr.data(), s.pctcvr.data());
    auto t1 = std::chrono::steady_clock::now();
    if (c >= 20)  // warm-up calls are not measured
      us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(us.begin(), us.end());
  std::printf("{\"fields\":%d,\"user_features\":%d,\"items\":%zu,\"calls\":%zu,\"median_us\":%.1f,\"p90_us\":%.1f,"
              "\"p99_us\":%.1f}\n",
              nf, nf / 2, items, calls, us[us.size() / 2], us[us.size() * 9 / 10], us[us.size() * 99 / 100]);
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  try {
    if (argc >= 4 && std::strcmp(argv[1], "predict") == 0)
      return predict(argv[2], argv[3], argc > 4 ? static_cast<unsigned>(std::atoi(argv[4])) : 4u);
    if (argc >= 3 && std::strcmp(argv[1], "bench") == 0)
      return bench(argv[2], argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 100,
                   argc > 4 ? std::strtoul(argv[4], nullptr, 10) : 2000);
  } catch (const esmm::Error &e) {
    std::fprintf(stderr, "serve: %s\n", e.what());
    return 1;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "serve: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "usage: serve predict MODEL DATA [THREADS] | serve bench MODEL [ITEMS] [CALLS]\n");
  return 2;
}
