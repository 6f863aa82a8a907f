// `tessera board`: started on a log folder with two runs, asked over plain sockets.
// Checks what it serves (runs, values, a PNG, a self-contained page whose script renders
// every tab), that it follows a run still writing, that it listens on 127.0.0.1 only, and
// that requests for paths outside the log folder and malformed requests all get a 4xx.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tessera/data.h"
#include "tessera/nn.h"
#include "tessera/ops.h"
#include "tessera/optim.h"
#include "tessera/summary.h"
#include "tessera/train.h"
#include "test_util.h"

#if defined(TESSERA_CLI_PATH)

namespace fs = std::filesystem;
using namespace tessera;

namespace {

struct Response {
  int status = 0;
  std::string head, body;
};

// Sends `request` (raw bytes) to 127.0.0.1:port and reads the reply until the server closes.
Response http(int port, const std::string& request) {
  Response r;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return r;
  }
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  // Reads until the server closes, or the reply is complete by its Content-Length (a
  // server may keep the connection open after answering a malformed request).
  std::string all;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    all.append(buf, static_cast<size_t>(n));
    const size_t end = all.find("\r\n\r\n");
    const size_t cl = all.find("Content-Length: ");
    if (end != std::string::npos && cl != std::string::npos && cl < end &&
        all.size() >= end + 4 + std::strtoull(all.c_str() + cl + 16, nullptr, 10))
      break;
  }
  ::close(fd);
  const size_t split = all.find("\r\n\r\n");
  r.head = all.substr(0, split);
  r.body = split == std::string::npos ? "" : all.substr(split + 4);
  if (all.rfind("HTTP/1.", 0) == 0 && all.size() > 12) r.status = std::atoi(all.c_str() + 9);
  return r;
}

Response get(int port, const std::string& target) {
  return http(port, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
}

struct Board {
  pid_t pid = -1;
  int port = 0;
  std::string log;
  Board(const std::string& logdir, const std::string& log_path) : log(log_path) {
    pid = ::fork();
    if (pid == 0) {
      const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execl(TESSERA_CLI_PATH, TESSERA_CLI_PATH, "board", "--logdir", logdir.c_str(), "--port",
              "0", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    // "tessera board: serving DIR at http://127.0.0.1:PORT/"
    const auto t0 = std::chrono::steady_clock::now();
    while (port == 0 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30)) {
      const std::string out = read_bytes(log_path);
      const size_t p = out.find("http://127.0.0.1:");
      if (p != std::string::npos && out.find('/', p + 17) != std::string::npos)
        port = std::atoi(out.c_str() + p + 17);
      else
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ~Board() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

// Whether /proc/net/tcp lists a socket listening on 127.0.0.1:port (and none on another
// address with that port).
std::string listening_addresses(int port) {
  std::ifstream in("/proc/net/tcp");
  std::string line, out;
  char want[8];
  std::snprintf(want, sizeof want, "%04X", port);
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string sl, local, remote, st;
    f >> sl >> local >> remote >> st;
    if (st == "0A" && local.substr(local.find(':') + 1) == want) out += local.substr(0, 8) + " ";
  }
  return out;
}

}  // namespace

TEST(Board, ServesRunsAndRefusesPathsOutsideTheLogdir) {
  const fs::path base = fs::temp_directory_path() / ("tessera_board_" + std::to_string(::getpid()));
  fs::remove_all(base);
  const std::string logdir = (base / "logs").string();
  // Something outside the log folder, reachable from it only through symbolic links.
  const fs::path outside = base / "outside";
  {
    summary::SummaryWriter secret(outside.string());
    secret.add_scalar("secret", 42, 0);
  }
  write_bytes((outside / "passwd").string(), "root:x:0:0:secret\n");
  auto writer_a = std::make_unique<summary::SummaryWriter>(logdir + "/run_a");
  writer_a->add_scalar("loss", 1.5, 0);
  writer_a->add_scalar("loss", 1.0, 1);
  writer_a->add_scalar("accuracy", 0.5, 0);
  writer_a->add_scalar("accuracy", 0.75, 1);
  writer_a->add_histogram("weights", arange(50).to(kFloat32), 0);
  writer_a->add_histogram("weights", arange(50).to(kFloat32) * 2, 1);
  writer_a->add_image("img", full({3, 4, 5}, 0.5), 0);
  writer_a->add_text("note", "hello from run_a", 0);
  writer_a->add_hparams({{"lr", 0.01}, {"optimizer", std::string("sgd")}});
  writer_a->flush();
  {
    summary::SummaryWriter b(logdir + "/nested/run_b");
    b.add_scalar("loss", 2.0, 0);
    b.add_scalar("loss", 1.2, 1);
  }
  fs::create_directory_symlink(outside, logdir + "/link_out");
  fs::create_symlink(outside / "passwd", logdir + "/run_a/passwd.tfevents");

  Board board(logdir, (base / "board.txt").string());
  ASSERT_GT(board.port, 0) << read_bytes(board.log);
  const int port = board.port;
  // Bound to the loopback address only.
  EXPECT_EQ(listening_addresses(port), "0100007F ");

  const Response page = get(port, "/");
  ASSERT_EQ(page.status, 200) << page.head;
  EXPECT_NE(page.head.find("text/html"), std::string::npos);
  // Self-contained: nothing is fetched from elsewhere.
  EXPECT_EQ(page.body.find("http://"), std::string::npos);
  EXPECT_EQ(page.body.find("https://"), std::string::npos);
  EXPECT_EQ(page.body.find("src=\"//"), std::string::npos);

  Response runs = get(port, "/api/runs");
  ASSERT_EQ(runs.status, 200);
  EXPECT_EQ(runs.body, R"({"runs":["nested/run_b","run_a"]})");  // not link_out

  Response a = get(port, "/api/run?run=run_a");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_NE(a.body.find(R"("loss":[[0.0,)"), std::string::npos) << a.body;
  EXPECT_NE(a.body.find(R"("hparams":{"lr":0.01,"optimizer":"sgd"})"), std::string::npos) << a.body;
  EXPECT_NE(a.body.find(R"("img":[{"height":4,"step":0,"width":5}])"), std::string::npos) << a.body;
  EXPECT_EQ(a.body.find("error"), std::string::npos) << a.body;  // the passwd symlink unread
  Response png = get(port, "/api/image?run=run_a&tag=img&index=0");
  ASSERT_EQ(png.status, 200);
  EXPECT_EQ(png.body.substr(0, 8), "\x89PNG\r\n\x1a\n");
  Response hist = get(port, "/api/histograms?run=run_a&tag=weights");
  ASSERT_EQ(hist.status, 200);
  EXPECT_NE(hist.body.find(R"("max":98.0)"), std::string::npos) << hist.body;

  // Live: an epoch written now shows up (the board rescans at most once a second).
  writer_a->add_scalar("loss", 0.5, 2);
  writer_a->flush();
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  a = get(port, "/api/run?run=run_a");
  EXPECT_NE(a.body.find("[2.0,"), std::string::npos) << a.body;

  // The page's own script, run against this board, renders every tab (needs node).
  if (fs::exists("/usr/bin/node")) {
    const std::string page_path = (base / "page.html").string(), out = (base / "node.txt").string();
    write_bytes(page_path, page.body);
    const std::string cmd = "/usr/bin/node " + std::string(TESSERA_TEST_DIR) +
                            "/tools/board_page_check.js " + std::to_string(port) + " " + page_path +
                            " >" + out + " 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << read_bytes(out);
    std::printf("[ board page ] %s", read_bytes(out).c_str());
  } else {
    std::printf("[ board page ] no /usr/bin/node (scripts/deps installs nodejs): page script not run\n");
  }

  // Outside the log folder, unknown, or malformed: always a 4xx, never a file's content.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"run=../..", "GET /api/run?run=../.. HTTP/1.1\r\n"},
      {"run=%2e%2e%2f%2e%2e", "GET /api/run?run=%2e%2e%2f%2e%2e HTTP/1.1\r\n"},
      {"run=/etc", "GET /api/run?run=/etc HTTP/1.1\r\n"},
      {"run=run_a/../..", "GET /api/run?run=run_a/../.. HTTP/1.1\r\n"},
      {"run=run_a/../../outside", "GET /api/run?run=run_a/../../outside HTTP/1.1\r\n"},
      {"run through a symlink", "GET /api/run?run=link_out HTTP/1.1\r\n"},
      {"run=. (no events at the top)", "GET /api/run?run=. HTTP/1.1\r\n"},
      {"no run", "GET /api/run HTTP/1.1\r\n"},
      {"unknown run", "GET /api/run?run=nope HTTP/1.1\r\n"},
      {"histogram of an unknown tag", "GET /api/histograms?run=run_a&tag=../../passwd HTTP/1.1\r\n"},
      {"image index -1", "GET /api/image?run=run_a&tag=img&index=-1 HTTP/1.1\r\n"},
      {"image index abc", "GET /api/image?run=run_a&tag=img&index=abc HTTP/1.1\r\n"},
      {"image index 99", "GET /api/image?run=run_a&tag=img&index=99 HTTP/1.1\r\n"},
      {"image index huge", "GET /api/image?run=run_a&tag=img&index=99999999999999999999999 HTTP/1.1\r\n"},
      {"/../../etc/passwd", "GET /../../etc/passwd HTTP/1.1\r\n"},
      {"/%2e%2e/%2e%2e/etc/passwd", "GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\n"},
      {"/link_out/passwd", "GET /link_out/passwd HTTP/1.1\r\n"},
      {"/run_a/passwd.tfevents", "GET /run_a/passwd.tfevents HTTP/1.1\r\n"},
      {"POST /", "POST / HTTP/1.1\r\nContent-Length: 0\r\n"},
      {"DELETE /api/runs", "DELETE /api/runs HTTP/1.1\r\n"},
      {"not HTTP", "GARBAGE\r\n"},
      {"bad version", "GET / HTTP/9.9\r\n"},
      {"bad percent escape", "GET /api/run?run=%zz%2 HTTP/1.1\r\n"},
      {"spaces in the path", "GET /api/run?run=a b c HTTP/1.1\r\n"},
      {"path of 100 KB", "GET /" + std::string(100000, 'a') + " HTTP/1.1\r\n"},
  };
  int refused = 0;
  for (const auto& [name, start] : bad) {
    const std::string req = start + (start.rfind("GARBAGE", 0) == 0 ? "" : "Connection: close\r\n") + "\r\n";
    const Response r = http(port, req);
    const bool is_4xx = r.status >= 400 && r.status < 500;
    // A server that drops a hopeless request without an answer refuses it too.
    const bool dropped = r.status == 0 && r.head.empty();
    EXPECT_TRUE(is_4xx || dropped) << name << ": " << r.status << " " << r.head << "\n" << r.body;
    EXPECT_EQ(r.body.find("root:x"), std::string::npos) << name;
    EXPECT_EQ(r.body.find("secret"), std::string::npos) << name;
    refused += is_4xx;
    if (!is_4xx) std::printf("[ board ] %s: connection closed without a reply\n", name.c_str());
  }
  // Still serving after all that.
  EXPECT_EQ(get(port, "/api/runs").status, 200);
  std::printf("[ board ] %d of %zu bad requests answered 4xx (none leaked a file); listening on %s\n",
              refused, bad.size(), listening_addresses(port).c_str());
  writer_a.reset();
  fs::remove_all(base);
}

// Acceptance: two runs' loss curves, rendered by a real browser (Debian's chromium,
// headless): the page's DOM after its script ran has the loss chart with a curve in each
// run's colour. Also leaves a screenshot in the build folder (docs/board.png is one).
TEST(Board, TwoRunsInHeadlessChromium) {
  const char* chromium = "/usr/bin/chromium";
  if (!fs::exists(chromium)) GTEST_SKIP() << "no " << chromium << " (scripts/deps installs Debian's chromium)";
  const fs::path base = fs::temp_directory_path() / ("tessera_board_chromium_" + std::to_string(::getpid()));
  fs::remove_all(base);
  const std::string logdir = (base / "runs").string();
  // Two optimizers on the same data: SGD and Adam, 15 epochs each.
  for (const std::string opt_name : {"sgd", "adam"}) {
    manual_seed(0);
    auto model = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(2, 16),
                                                  std::make_shared<nn::ReLU>(),
                                                  std::make_shared<nn::Linear>(16, 4));
    Generator gen(1);
    Tensor y = randint(0, 4, {256}, kInt64, &gen);
    Tensor x = randn({256, 2}, kFloat32, &gen) * 0.8 + y.to(kFloat32).unsqueeze(1) * 0.7;
    data::DataLoader loader(data::TensorDataset(x, y), {.batch_size = 32, .shuffle = true, .seed = 2});
    std::unique_ptr<optim::Optimizer> opt;
    if (opt_name == "sgd") opt = std::make_unique<optim::SGD>(model->parameters(), optim::SGDOptions{.lr = 0.05});
    else opt = std::make_unique<optim::Adam>(model->parameters(), optim::AdamOptions{.lr = 0.01});
    train::FitOptions o;
    o.epochs = 15;
    o.optimizer = opt.get();
    o.loss = [](const Tensor& out, const Tensor& t) { return nn::functional::cross_entropy(out, t); };
    o.metrics = {std::make_shared<train::Accuracy>()};
    o.verbose = 0;
    o.callbacks = {std::make_shared<train::TensorBoard>(
        logdir + "/" + opt_name,
        train::TensorBoardOptions{.hparams = {{"optimizer", opt_name}}, .hparam_metrics = {"loss"}})};
    train::fit(*model, loader, o);
  }
  Board board(logdir, (base / "board.txt").string());
  ASSERT_GT(board.port, 0) << read_bytes(board.log);
  const std::string url = "http://127.0.0.1:" + std::to_string(board.port) + "/";
  const std::string flags = " --headless=new --no-sandbox --disable-gpu --virtual-time-budget=4000 ";
  const std::string dom_path = (base / "dom.html").string();
  const std::string shot = std::string(TESSERA_TEST_BINARY_DIR) + "/board_two_runs.png";
  ASSERT_EQ(std::system((std::string("timeout 120 ") + chromium + flags + "--dump-dom " + url + " >" +
                         dom_path + " 2>/dev/null").c_str()), 0);
  std::system((std::string("timeout 120 ") + chromium + flags + "--window-size=1280,820 --screenshot=" +
               shot + " " + url + " >/dev/null 2>&1").c_str());
  const std::string dom = read_bytes(dom_path);
  // The "loss" card: from its title to the end of its chart.
  const size_t at = dom.find("<h3>loss</h3>");
  ASSERT_NE(at, std::string::npos) << dom.substr(0, 3000);
  const std::string card = dom.substr(at, dom.find("</svg>", at) - at);
  auto count = [&](const std::string& needle) {
    size_t n = 0;
    for (size_t p = card.find(needle); p != std::string::npos; p = card.find(needle, p + 1)) ++n;
    return n;
  };
  // Each run: its smoothed curve and the faint raw one, in its colour (runs sorted: adam
  // first, so the first colour).
  EXPECT_EQ(count("<polyline fill=\"none\" stroke=\"#1e88e5\""), 2u) << card;
  EXPECT_EQ(count("<polyline fill=\"none\" stroke=\"#e53935\""), 2u) << card;
  EXPECT_NE(dom.find("data-run=\"adam\""), std::string::npos);
  EXPECT_NE(dom.find("data-run=\"sgd\""), std::string::npos);
  EXPECT_TRUE(fs::exists(shot));
  std::printf("[ board chromium ] loss chart of 2 runs rendered (%zu polylines); screenshot %s\n",
              count("<polyline"), shot.c_str());
  fs::remove_all(base);
}

TEST(Board, BadLogdirAndPort) {
  const std::string cmd = std::string(TESSERA_CLI_PATH) + " board --logdir /no/such/dir --port 0 >/dev/null 2>&1";
  EXPECT_EQ(WEXITSTATUS(std::system(cmd.c_str())), 4);  // I/O error
  const std::string cmd2 = std::string(TESSERA_CLI_PATH) + " board --logdir /tmp --port 70000 >/dev/null 2>&1";
  EXPECT_EQ(WEXITSTATUS(std::system(cmd2.c_str())), 2);  // usage
  const std::string cmd3 = std::string(TESSERA_CLI_PATH) + " board >/dev/null 2>&1";
  EXPECT_EQ(WEXITSTATUS(std::system(cmd3.c_str())), 2);  // --logdir required
}

#endif
