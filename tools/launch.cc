// `tessera launch`: starts the ranks of a distributed job on this host (torchrun's role).
//
//   tessera launch --nproc N [--nnodes M --node-rank K --master ADDR:PORT] CMD [ARGS...]
//
// Each child gets RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR and
// MASTER_PORT (distributed::init_process_group reads them). SIGINT, SIGTERM and SIGHUP
// are forwarded to every rank. When a rank fails (a non-zero exit or a signal), the
// launcher stops the others (SIGTERM, then SIGKILL after a grace period) and exits with
// that rank's status, so a job never lingers half alive. The ranks themselves fail a
// collective with a peer lost within their timeout (TESSERA_DIST_TIMEOUT), which covers
// ranks on other hosts that this launcher cannot see.
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <charconv>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>

#include "commands.h"

extern char** environ;

namespace tessera_cli {
namespace {

std::atomic<int> g_signal{0};
void on_signal(int sig) { g_signal.store(sig); }

template <typename T>
bool parse_int(std::string_view s, T& out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

// A port nobody listens on now on 127.0.0.1 (the kernel's pick, released for rank 0).
int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  if (fd >= 0) ::close(fd);
  return port;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return "was killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  return "ended with wait status " + std::to_string(status);
}

// The shell's convention: the exit status, or 128 + the signal.
int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

int launch_ranks(const LaunchConfig& cfg, const std::vector<std::string>& command) {
  const int world = cfg.nproc * cfg.nnodes;
  std::string master_host = "127.0.0.1";
  int master_port = 0;
  if (!cfg.master.empty()) {
    const size_t colon = cfg.master.rfind(':');
    if (colon == std::string::npos || colon == 0 || !parse_int(std::string_view(cfg.master).substr(colon + 1), master_port) ||
        master_port <= 0 || master_port > 65535) {
      std::cerr << "tessera launch: --master must be ADDR:PORT with a port in [1, 65535], got '"
                << cfg.master << "'\n";
      return kExitUsage;
    }
    master_host = cfg.master.substr(0, colon);
  } else {
    master_port = free_local_port();
    if (master_port == 0) {
      std::cerr << "tessera launch: found no free port on 127.0.0.1 for the store\n";
      return kExitIO;
    }
  }

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);

  std::vector<pid_t> pids;
  std::map<pid_t, int> rank_of;
  std::mutex mu;  // guards `ended` below; held while signalling, so no reaped pid is signalled
  std::deque<std::pair<pid_t, int>> ended;  // (pid, wait status) in the order the ranks ended
  auto stop_all = [&](int sig) {
    for (pid_t p : pids) {
      bool reaped = false;
      for (const auto& e : ended) reaped = reaped || e.first == p;
      if (p > 0 && !reaped) kill(p, sig);
    }
  };
  for (int local = 0; local < cfg.nproc; ++local) {
    const int rank = cfg.node_rank * cfg.nproc + local;
    std::map<std::string, std::string> vars = {
        {"RANK", std::to_string(rank)},
        {"LOCAL_RANK", std::to_string(local)},
        {"WORLD_SIZE", std::to_string(world)},
        {"LOCAL_WORLD_SIZE", std::to_string(cfg.nproc)},
        {"GROUP_RANK", std::to_string(cfg.node_rank)},
        {"MASTER_ADDR", master_host},
        {"MASTER_PORT", std::to_string(master_port)}};
    if (cfg.timeout_s > 0) vars["TESSERA_DIST_TIMEOUT"] = std::to_string(cfg.timeout_s);
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string kv = *e;
      if (!vars.count(kv.substr(0, kv.find('=')))) env.push_back(std::move(kv));
    }
    for (const auto& [k, v] : vars) env.push_back(k + "=" + v);
    std::vector<char*> envp, argv;
    for (std::string& s : env) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<std::string> args = command;
    for (std::string& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), envp.data());
    if (rc != 0) {
      std::cerr << "tessera launch: cannot start rank " << rank << " (" << command[0]
                << "): " << std::strerror(rc) << "\n";
      stop_all(SIGKILL);
      for (pid_t p : pids) waitpid(p, nullptr, 0);
      return kExitIO;
    }
    pids.push_back(pid);
    rank_of[pid] = rank;
  }

  // One thread per rank blocks in waitpid and records the moment its rank ended, so when
  // one rank dies and its peers fail a moment later (they lost it), the launcher still
  // names the rank that ended first.
  std::condition_variable ended_cv;
  std::vector<std::thread> waiters;
  for (pid_t pid : pids)
    waiters.emplace_back([&, pid] {
      int status = 0;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      std::lock_guard<std::mutex> lock(mu);
      ended.emplace_back(pid, status);
      ended_cv.notify_all();
    });

  int result = 0;
  size_t running = pids.size();
  bool stopping = false;
  auto kill_deadline = std::chrono::steady_clock::time_point::max();
  while (running > 0) {
    std::unique_lock<std::mutex> lock(mu);
    if (int sig = g_signal.exchange(0); sig != 0) {
      // Forwarded as is; the ranks decide how to end (a second Ctrl-C gets the same).
      stop_all(sig);
      if (result == 0) result = 128 + sig;
      if (!stopping) {
        stopping = true;
        kill_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(cfg.grace_s);
      }
    }
    ended_cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return !ended.empty(); });
    while (!ended.empty()) {
      auto [pid, status] = ended.front();
      ended.pop_front();
      --running;
      for (pid_t& p : pids)
        if (p == pid) p = -1;  // never signal a reaped pid: it may be reused
      const bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
      if (failed && !stopping) {
        std::cerr << "tessera launch: rank " << rank_of[pid] << " (pid " << pid << ") "
                  << describe_status(status) << "; stopping the other " << running
                  << " rank(s)" << std::endl;
        result = exit_code_of(status);
        stopping = true;
        stop_all(SIGTERM);
        kill_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(cfg.grace_s);
      }
    }
    if (stopping && running > 0 && std::chrono::steady_clock::now() >= kill_deadline) {
      std::cerr << "tessera launch: " << running << " rank(s) still running " << cfg.grace_s
                << " s after SIGTERM; killing them" << std::endl;
      stop_all(SIGKILL);
      kill_deadline = std::chrono::steady_clock::time_point::max();
    }
  }
  for (std::thread& t : waiters) t.join();
  return result;
}

int run_launch(Args args) {
  LaunchConfig cfg;
  size_t i = 0;
  for (; i < args.size(); ++i) {
    std::string_view opt = args[i];
    if (!opt.starts_with("--")) break;  // the command starts here
    if (opt == "--") {
      ++i;
      break;
    }
    std::string_view value;
    if (size_t eq = opt.find('='); eq != std::string_view::npos) {
      value = opt.substr(eq + 1);
      opt = opt.substr(0, eq);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      std::cerr << "tessera launch: " << opt << " needs a value (see tessera launch --help)\n";
      return kExitUsage;
    }
    bool ok = false;
    if (opt == "--nproc") ok = parse_int(value, cfg.nproc) && cfg.nproc >= 1;
    else if (opt == "--nnodes") ok = parse_int(value, cfg.nnodes) && cfg.nnodes >= 1;
    else if (opt == "--node-rank") ok = parse_int(value, cfg.node_rank) && cfg.node_rank >= 0;
    else if (opt == "--master") {
      cfg.master = std::string(value);
      ok = !cfg.master.empty();
    } else if (opt == "--timeout") ok = parse_int(value, cfg.timeout_s) && cfg.timeout_s > 0;
    else if (opt == "--grace") ok = parse_int(value, cfg.grace_s) && cfg.grace_s >= 0;
    else {
      std::cerr << "tessera launch: unknown option '" << opt << "' (see tessera launch --help)\n";
      return kExitUsage;
    }
    if (!ok) {
      std::cerr << "tessera launch: bad value '" << value << "' for " << opt << "\n";
      return kExitUsage;
    }
  }
  if (i >= args.size()) {
    std::cerr << "tessera launch: no command to run (see tessera launch --help)\n";
    return kExitUsage;
  }
  if (cfg.node_rank >= cfg.nnodes) {
    std::cerr << "tessera launch: --node-rank must be below --nnodes (" << cfg.nnodes << "), got "
              << cfg.node_rank << "\n";
    return kExitUsage;
  }
  if (cfg.nnodes > 1 && cfg.master.empty()) {
    std::cerr << "tessera launch: with --nnodes > 1, every node needs --master ADDR:PORT "
                 "(an address of node 0, which hosts the store)\n";
    return kExitUsage;
  }
  std::vector<std::string> command(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
  return launch_ranks(cfg, command);
}

}  // namespace tessera_cli
