// `tessera board --logdir DIR [--port N]`: a dashboard over TensorBoard event files.
//
// HTTP with cpp-httplib, JSON with nlohmann-json (both Debian's). Routes:
//   GET /                                  the page (board_page.h: self-contained)
//   GET /api/runs                          {"runs": ["run1", "sub/run2", ...]}
//   GET /api/run?run=R                     one run's scalars, texts, image list, hparams,
//                                          histogram tags, and an error if a file is corrupt
//   GET /api/histograms?run=R&tag=T        that tag's histograms over the steps
//   GET /api/image?run=R&tag=T&index=I     the I-th image of a tag (PNG)
//
// Safety: it listens on 127.0.0.1 unless --host says otherwise, and no request names a
// file: a run is one of the folders the board itself found under the log folder (by
// walking it without following symbolic links), matched by exact name, so no request can
// reach outside the log folder. Anything else is a 4xx with a one-line JSON error.
//
// Live: every request at most once a second rescans the folder and reads what each event
// file gained since (summary::EventFileReader), so a run still writing shows new epochs.
#include <httplib.h>
#include <tessera/summary.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "board_page.h"
#include "commands.h"

namespace tessera_cli {

namespace {

namespace fs = std::filesystem;
namespace summary = tessera::summary;
using nlohmann::json;

struct Image {
  int64_t step;
  int width, height;
  std::string png;
};

struct Run {
  std::map<std::string, std::unique_ptr<summary::EventFileReader>> readers;  // by file
  std::map<std::string, std::vector<std::array<double, 3>>> scalars;  // (step, wall, value)
  std::map<std::string, std::vector<std::pair<int64_t, summary::Histogram>>> histograms;
  std::map<std::string, std::vector<Image>> images;
  std::map<std::string, std::vector<std::pair<int64_t, std::string>>> texts;
  summary::HParams hparams;
  std::string error;  // the first corrupt file's message (shown; the rest still served)
};

class Board {
 public:
  explicit Board(fs::path root) : root_(std::move(root)) {}

  // Rescans (at most once a second) and calls `fn` with the runs, under the lock.
  template <typename F>
  auto with_runs(F&& fn) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (now - last_scan_ > std::chrono::seconds(1)) {
      scan();
      last_scan_ = now;
    }
    return fn(runs_);
  }

 private:
  void scan() {
    std::error_code ec;
    // Folders only, symbolic links not followed: nothing outside root_ is ever opened.
    std::vector<fs::path> dirs = {root_};
    for (auto it = fs::recursive_directory_iterator(root_, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->symlink_status(ec).type() == fs::file_type::directory) dirs.push_back(it->path());
    }
    for (const fs::path& dir : dirs) {
      std::vector<std::string> files;
      for (const auto& e : fs::directory_iterator(dir, ec)) {
        if (e.symlink_status(ec).type() == fs::file_type::regular &&
            e.path().filename().string().find("tfevents") != std::string::npos)
          files.push_back(e.path().string());
      }
      if (files.empty()) continue;
      std::sort(files.begin(), files.end());
      std::string name = fs::relative(dir, root_, ec).generic_string();
      if (ec || name.empty()) name = ".";
      Run& run = runs_[name];
      for (const std::string& f : files) {
        auto& reader = run.readers[f];
        try {
          if (!reader) reader = std::make_unique<summary::EventFileReader>(f);
          for (const summary::SummaryRecord& r : reader->read_new()) add(run, r);
        } catch (const tessera::Error& e) {
          if (run.error.empty()) run.error = e.what();
        }
      }
    }
  }

  static void add(Run& run, const summary::SummaryRecord& r) {
    using Kind = summary::SummaryRecord::Kind;
    switch (r.kind) {
      case Kind::Scalar:
        run.scalars[r.tag].push_back({static_cast<double>(r.step), r.wall_time, r.scalar});
        break;
      case Kind::Histogram:
        run.histograms[r.tag].emplace_back(r.step, r.histogram);
        break;
      case Kind::Image:
        run.images[r.tag].push_back({r.step, r.image_width, r.image_height, r.image_png});
        break;
      case Kind::Text:
        run.texts[r.tag].emplace_back(r.step, r.text);
        break;
      case Kind::HParams:
        run.hparams = r.hparams;
        break;
      case Kind::Other:
        break;
    }
  }

  fs::path root_;
  std::mutex mu_;
  std::map<std::string, Run> runs_;
  std::chrono::steady_clock::time_point last_scan_{};
};

void reply_error(httplib::Response& res, int status, const std::string& message) {
  res.status = status;
  res.set_content(json{{"error", message}}.dump() + "\n", "application/json");
}

// A value JSON can hold: NaN and infinities (a diverged loss) become null.
json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// The request's `name` parameter, or a 400.
bool param(const httplib::Request& req, httplib::Response& res, const char* name, std::string& out) {
  if (!req.has_param(name)) {
    reply_error(res, 400, std::string("missing parameter '") + name + "'");
    return false;
  }
  out = req.get_param_value(name);
  return true;
}

}  // namespace

CLI::App* add_board_command(CLI::App& app, BoardConfig& cfg) {
  CLI::App* cmd = app.add_subcommand(
      "board",
      "Serves a dashboard of the TensorBoard event files under a folder: curves per tag\n"
      "(smoothing, log scale, runs overlaid), histograms over time, images, text and\n"
      "hyper-parameters; it follows runs that are still writing. Stop it with Ctrl-C.");
  cmd->add_option("--logdir", cfg.logdir,
                  "the log folder: every folder under it holding event files is a run")
      ->required()->check(non_empty())->type_name("DIR")->envname("TESSERA_LOGDIR");
  cmd->add_option("--port", cfg.port, "TCP port (0: any free one, printed)")
      ->check(integer_in(0, 65535, "a port number in 0..65535"))->type_name("N")
      ->capture_default_str();
  cmd->add_option("--host", cfg.host,
                  "address to listen on; the default serves this machine only, 0.0.0.0 every\n"
                  "network (the board has no authentication)")
      ->check(non_empty())->type_name("ADDR")->capture_default_str();
  return cmd;
}

int run_board(const BoardConfig& cfg) {
  std::error_code ec;
  const fs::path root = fs::canonical(cfg.logdir, ec);
  TESSERA_CHECK_IO(!ec && fs::is_directory(root), "tessera board --logdir: '", cfg.logdir,
                   "' is not a folder", ec ? " (" + ec.message() + ")" : std::string());
  Board board(root);
  httplib::Server svr;

  svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(kBoardPage), "text/html; charset=utf-8");
  });
  svr.Get("/api/runs", [&board](const httplib::Request&, httplib::Response& res) {
    json runs = json::array();
    board.with_runs([&](std::map<std::string, Run>& rs) {
      for (const auto& [name, r] : rs) runs.push_back(name);
    });
    res.set_content(json{{"runs", runs}}.dump(), "application/json");
  });
  svr.Get("/api/run", [&board](const httplib::Request& req, httplib::Response& res) {
    std::string name;
    if (!param(req, res, "run", name)) return;
    board.with_runs([&](std::map<std::string, Run>& rs) {
      auto it = rs.find(name);
      if (it == rs.end()) return reply_error(res, 404, "no run named '" + name + "'");
      const Run& r = it->second;
      json out = {{"scalars", json::object()}, {"texts", json::object()},
                  {"images", json::object()}, {"hparams", json::object()},
                  {"histogram_tags", json::array()}};
      for (const auto& [tag, pts] : r.scalars) {
        json a = json::array();
        for (const auto& p : pts) a.push_back({p[0], p[1], number(p[2])});
        out["scalars"][tag] = a;
      }
      for (const auto& [tag, list] : r.texts) {
        json a = json::array();
        for (const auto& [step, text] : list) a.push_back({{"step", step}, {"text", text}});
        out["texts"][tag] = a;
      }
      for (const auto& [tag, list] : r.images) {
        json a = json::array();
        for (const Image& im : list)
          a.push_back({{"step", im.step}, {"width", im.width}, {"height", im.height}});
        out["images"][tag] = a;
      }
      for (const auto& [k, v] : r.hparams)
        std::visit([&](const auto& x) { out["hparams"][k] = x; }, v);
      for (const auto& [tag, list] : r.histograms) out["histogram_tags"].push_back(tag);
      if (!r.error.empty()) out["error"] = r.error;
      res.set_content(out.dump(), "application/json");
    });
  });
  svr.Get("/api/histograms", [&board](const httplib::Request& req, httplib::Response& res) {
    std::string name, tag;
    if (!param(req, res, "run", name) || !param(req, res, "tag", tag)) return;
    board.with_runs([&](std::map<std::string, Run>& rs) {
      auto it = rs.find(name);
      if (it == rs.end()) return reply_error(res, 404, "no run named '" + name + "'");
      auto h = it->second.histograms.find(tag);
      if (h == it->second.histograms.end())
        return reply_error(res, 404, "run '" + name + "' has no histogram '" + tag + "'");
      json a = json::array();
      for (const auto& [step, hist] : h->second) {
        json limits = json::array(), counts = json::array();
        for (double l : hist.bucket_limits) limits.push_back(number(l));
        for (double c : hist.bucket_counts) counts.push_back(number(c));
        a.push_back({{"step", step}, {"min", number(hist.min)}, {"max", number(hist.max)},
                     {"limits", limits}, {"counts", counts}});
      }
      res.set_content(json{{"histograms", a}}.dump(), "application/json");
    });
  });
  svr.Get("/api/image", [&board](const httplib::Request& req, httplib::Response& res) {
    std::string name, tag, index_text;
    if (!param(req, res, "run", name) || !param(req, res, "tag", tag) ||
        !param(req, res, "index", index_text))
      return;
    int64_t index = -1;
    if (!detail::parse_whole(index_text, index) || index < 0)
      return reply_error(res, 400, "index: expected an integer >= 0, got '" + index_text + "'");
    board.with_runs([&](std::map<std::string, Run>& rs) {
      auto it = rs.find(name);
      if (it == rs.end()) return reply_error(res, 404, "no run named '" + name + "'");
      auto im = it->second.images.find(tag);
      if (im == it->second.images.end())
        return reply_error(res, 404, "run '" + name + "' has no image '" + tag + "'");
      if (index >= static_cast<int64_t>(im->second.size()))
        return reply_error(res, 404, "image '" + tag + "' has " + std::to_string(im->second.size()) +
                                         " entries, asked for index " + index_text);
      res.set_content(im->second[static_cast<size_t>(index)].png, "image/png");
    });
  });
  // Unknown paths (a traversal attempt included: it matches no route) and other methods.
  svr.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.body.empty()) {
      res.set_content(json{{"error", "HTTP " + std::to_string(res.status) + " for " + req.method +
                                         " " + req.path}}.dump() + "\n",
                      "application/json");
    }
  });
  svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    reply_error(res, 500, what);
  });

  int port = cfg.port;
  if (port == 0) {
    port = svr.bind_to_any_port(cfg.host);
    TESSERA_CHECK_IO(port > 0, "tessera board: cannot listen on ", cfg.host, " (any port)");
  } else {
    TESSERA_CHECK_IO(svr.bind_to_port(cfg.host, port), "tessera board: cannot listen on ", cfg.host,
                     ":", port, " (in use, or not an address of this machine)");
  }
  std::cout << "tessera board: serving " << root.string() << " at http://" << cfg.host << ":"
            << port << "/" << std::endl;
  if (cfg.host != "127.0.0.1" && cfg.host != "localhost" && cfg.host != "::1")
    std::cerr << "tessera board: warning: listening on " << cfg.host
              << ", reachable from other machines; the board has no authentication\n";
  TESSERA_CHECK_IO(svr.listen_after_bind(), "tessera board: the server stopped with an error");
  return 0;
}

}  // namespace tessera_cli
