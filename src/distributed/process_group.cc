// Process groups on Gloo: rendezvous through a store (Gloo's FileStore or our TCP store),
// a full mesh of TCP pairs, and one worker thread that runs the collectives in call order.
//
// Failure: Gloo reports a dead peer as an IoException on the pairs that talked to it (at
// once when the kernel saw the connection close, else at the collective's timeout), and
// its message names a socket address, not a rank. So each rank also listens on a
// "liveness" port published at rendezvous; when a collective fails, the rank tries to
// connect to every peer's liveness port, and the peers that do not answer are the ones
// the error names as lost. A process that died answers nothing (its kernel refuses the
// connection), a live one is answered by its kernel even when the process is busy.
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/common/error.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/transport/tcp/device.h>
#include <sys/stat.h>

#include <csignal>

#include <algorithm>
#include <cctype>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "distributed/socket.h"
#include "distributed/tcp_store.h"
#include "ops/collective.h"
#include "tessera/distributed.h"
#include "tessera/ops.h"

namespace tessera::distributed {
namespace {

using Clock = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

const char* op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Avg: return "avg";
    case ReduceOp::Max: return "max";
    case ReduceOp::Min: return "min";
  }
  return "?";
}

int env_int(const char* name, int fallback, const char* who) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  TESSERA_CHECK(end != v && *end == '\0' && x >= 0 && x < (1L << 30), who, ": environment variable ",
                name, " must be a non-negative integer, got '", v, "'");
  return static_cast<int>(x);
}

std::string env_str(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

// Element-wise reductions for Gloo (its own templates index with int and are warned about).
template <typename T>
void reduce_sum(void* c, const void* a, const void* b, size_t n) {
  T* o = static_cast<T*>(c);
  const T* x = static_cast<const T*>(a);
  const T* y = static_cast<const T*>(b);
  for (size_t i = 0; i < n; ++i) o[i] = x[i] + y[i];
}
template <typename T>
void reduce_max(void* c, const void* a, const void* b, size_t n) {
  T* o = static_cast<T*>(c);
  const T* x = static_cast<const T*>(a);
  const T* y = static_cast<const T*>(b);
  for (size_t i = 0; i < n; ++i) o[i] = std::max(x[i], y[i]);
}
template <typename T>
void reduce_min(void* c, const void* a, const void* b, size_t n) {
  T* o = static_cast<T*>(c);
  const T* x = static_cast<const T*>(a);
  const T* y = static_cast<const T*>(b);
  for (size_t i = 0; i < n; ++i) o[i] = std::min(x[i], y[i]);
}

std::string to_lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Whether `msg` names the socket address `addr` ("[10.0.0.2]:7086"), not merely one whose
// port starts with the same digits.
bool mentions(const std::string& msg, const std::string& addr) {
  if (addr.empty()) return false;
  for (size_t at = msg.find(addr); at != std::string::npos; at = msg.find(addr, at + 1)) {
    const size_t end = at + addr.size();
    if (end == msg.size() || !std::isdigit(static_cast<unsigned char>(msg[end]))) return true;
  }
  return false;
}

void check_tensor(const char* op, const Tensor& t) {
  TESSERA_CHECK(t.defined(), op, ": the tensor is undefined");
  TESSERA_CHECK(t.device() == Device::CPU, op, ": ", t.describe(), ": only CPU tensors");
  TESSERA_CHECK_IMPLEMENTED(t.dtype() == DType::Float32 || t.dtype() == DType::Float64, op, ": ",
                            t.describe(), ": collectives support float32 and float64");
}

class WorkImpl : public Work {
 public:
  WorkImpl(std::string what, std::function<void()> fn, ms timeout,
           std::shared_ptr<std::atomic<uint64_t>> progress)
      : what_(std::move(what)), fn_(std::move(fn)), timeout_(timeout), progress_(std::move(progress)) {}

  void wait() override {
    std::unique_lock<std::mutex> lock(mu_);
    // Gloo enforces the timeout on each collective; this bound only catches a worker that
    // stopped making progress altogether, so it allows for the collectives queued first.
    uint64_t seen = progress_->load();
    while (!done_) {
      if (cv_.wait_for(lock, timeout_ + std::chrono::seconds(5), [&] { return done_; })) break;
      uint64_t now = progress_->load();
      TESSERA_CHECK_IO(now != seen, what_, ": no collective finished within ",
                       (timeout_ + std::chrono::seconds(5)).count(), " ms; giving up waiting");
      seen = now;
    }
    if (!error_.empty()) throw_error(kind_, error_);
  }
  bool completed() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }

  void run() { fn_(); }
  void finish(const std::string& error = {}, ErrorKind kind = ErrorKind::IO) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
      error_ = error;
      kind_ = kind;
    }
    fn_ = nullptr;  // drop the tensors it holds
    cv_.notify_all();
  }
  const std::string& what() const { return what_; }

 private:
  std::string what_;
  std::function<void()> fn_;
  ms timeout_;
  std::shared_ptr<std::atomic<uint64_t>> progress_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::string error_;
  ErrorKind kind_ = ErrorKind::IO;
};

// Gives every wait of a store the group's timeout: Gloo's rendezvous calls the untimed
// wait() and get(), and its FileStore waits 30 s for those whatever the group's timeout.
class TimeoutStore : public gloo::rendezvous::Store {
 public:
  TimeoutStore(std::unique_ptr<gloo::rendezvous::Store> inner, ms timeout)
      : inner_(std::move(inner)), timeout_(timeout) {}
  void set(const std::string& key, const std::vector<char>& data) override { inner_->set(key, data); }
  std::vector<char> get(const std::string& key) override {
    inner_->wait({key}, timeout_);
    return inner_->get(key);
  }
  void wait(const std::vector<std::string>& keys) override { inner_->wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys, const ms& timeout) override { inner_->wait(keys, timeout); }

 private:
  std::unique_ptr<gloo::rendezvous::Store> inner_;
  ms timeout_;
};

}  // namespace

Work::~Work() = default;

struct ProcessGroup::Impl {
  int rank = 0, size = 1, local_rank = 0;
  ms timeout{60000};
  std::unique_ptr<TcpStoreServer> server;
  std::unique_ptr<gloo::rendezvous::Store> store;
  // Where failure diagnoses are shared (see describe_failure): the TCP store, or plain
  // files next to the file store's (Gloo's FileStore cannot be asked "is it there?"
  // without a wait that sleeps a second).
  TcpStore* tcp_store = nullptr;
  std::filesystem::path file_dir;
  std::shared_ptr<gloo::transport::Device> device;
  std::shared_ptr<gloo::rendezvous::Context> context;
  net::Socket liveness;                 // listened on, never accepted: the kernel answers
  std::vector<std::string> peer_alive;  // "host:port" of every rank's liveness socket
  std::vector<std::string> peer_gloo;   // "[ip]:port" of every rank's Gloo pair with us, as Gloo prints it

  std::thread worker;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::shared_ptr<WorkImpl>> queue;
  bool stop = false;
  std::string broken;  // the first failure; every later collective fails with it
  ErrorKind broken_kind = ErrorKind::IO;
  uint32_t next_tag = 0;
  uint64_t sequence = 0;  // collectives started, for messages
  std::shared_ptr<std::atomic<uint64_t>> progress = std::make_shared<std::atomic<uint64_t>>(0);

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stop = true;
    }
    cv.notify_all();
    if (worker.joinable()) worker.join();
    for (auto& w : queue) w->finish(w->what() + ": the process group was destroyed first");
    context.reset();
    device.reset();
  }

  void loop() {
    while (true) {
      std::shared_ptr<WorkImpl> w;
      std::string fail;
      ErrorKind fail_kind = ErrorKind::IO;
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return stop || !queue.empty(); });
        if (stop) return;
        w = queue.front();
        queue.pop_front();
        fail = broken;
        fail_kind = broken_kind;
        ++sequence;
      }
      if (!fail.empty()) {
        w->finish(fail, fail_kind);
      } else {
        try {
          w->run();
          w->finish();
        } catch (const gloo::Exception& e) {
          std::string msg = describe_failure(w->what(), e.what());
          std::lock_guard<std::mutex> lock(mu);
          broken = msg;
          w->finish(msg);
        } catch (const Error& e) {
          w->finish(e.what(), e.kind());  // a local problem: the group stays usable
        } catch (const std::exception& e) {
          std::string msg = describe_failure(w->what(), e.what());
          std::lock_guard<std::mutex> lock(mu);
          broken = msg;
          w->finish(msg);
        }
      }
      progress->fetch_add(1);
    }
  }

  // Which peers no longer answer on their liveness port (probed in parallel, 2 s at most).
  std::vector<int> lost_peers() const {
    std::vector<char> alive(static_cast<size_t>(size), 1);
    std::vector<std::thread> probes;
    const auto deadline = Clock::now() + std::min<ms>(timeout, std::chrono::seconds(2));
    for (int r = 0; r < size; ++r) {
      if (r == rank || static_cast<size_t>(r) >= peer_alive.size()) continue;
      probes.emplace_back([&, r] {
        std::string host;
        int port = 0;
        net::split_host_port(peer_alive[static_cast<size_t>(r)], "liveness", &host, &port);
        alive[static_cast<size_t>(r)] = net::probe_tcp(host, port, deadline) ? 1 : 0;
      });
    }
    for (std::thread& t : probes) t.join();
    std::vector<int> lost;
    for (int r = 0; r < size; ++r)
      if (!alive[static_cast<size_t>(r)]) lost.push_back(r);
    return lost;
  }

  // The diagnosis some rank recorded ("tessera_lost_by_<r>" = the lost rank), or -1:
  // none yet, or the store is gone (rank 0 hosted it).
  int recorded_loss() const {
    for (int r = 0; r < size; ++r) {
      const std::string key = "tessera_lost_by_" + std::to_string(r);
      std::string text;
      try {
        if (tcp_store != nullptr) {
          std::vector<char> v;
          if (tcp_store->try_get(key, &v)) text.assign(v.begin(), v.end());
        } else if (!file_dir.empty()) {
          std::ifstream in(file_dir / key);
          std::getline(in, text);
        }
        if (!text.empty()) return std::stoi(text);
      } catch (...) {  // unreachable store or a torn file: no record
      }
    }
    return -1;
  }

  void record_loss(int lost) const {
    const std::string key = "tessera_lost_by_" + std::to_string(rank);
    try {
      const std::string v = std::to_string(lost);
      if (tcp_store != nullptr) {
        tcp_store->set(key, std::vector<char>(v.begin(), v.end()));
      } else if (!file_dir.empty()) {
        // Written aside and renamed: a reader sees the whole number or nothing.
        const std::filesystem::path tmp = file_dir / (key + ".tmp");
        std::ofstream(tmp) << v << "\n";
        std::filesystem::rename(tmp, file_dir / key);
      }
    } catch (...) {  // best effort: the message is built without it
    }
  }

  std::string describe_failure(const std::string& what, const std::string& gloo_what) const {
    // A dying process closes its sockets one by one: Gloo may see its connection reset
    // a moment before its liveness port goes. So when every peer still answers, look
    // again for a short while before calling it a timeout or a stuck peer.
    std::vector<int> lost = lost_peers();
    const auto until = Clock::now() + std::min<ms>(timeout, std::chrono::seconds(1));
    while (lost.empty() && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      lost = lost_peers();
    }
    auto is_lost = [&](int r) { return std::find(lost.begin(), lost.end(), r) != lost.end(); };
    // The rank whose connection broke under Gloo (its message names the peer's socket).
    int broke = -1;
    for (int r = 0; r < size; ++r)
      if (r != rank && mentions(gloo_what, peer_gloo[static_cast<size_t>(r)])) broke = r;
    // With more than two ranks, a rank may learn of the loss late, from a peer that has
    // already left after seeing it; the first rank to diagnose it records the lost rank in
    // the store, and later ones name the same rank.
    const int recorded = recorded_loss();
    int culprit = -1;
    if (recorded >= 0 && is_lost(recorded)) culprit = recorded;
    else if (broke >= 0 && is_lost(broke)) culprit = broke;
    else if (lost.size() == 1) culprit = lost[0];
    if (culprit >= 0 && recorded < 0) record_loss(culprit);

    auto where = [&](int r) { return " (" + peer_alive[static_cast<size_t>(r)] + ")"; };
    std::string head = detail::concat("distributed (rank ", rank, " of ", size, "): ", what, " failed: ");
    if (culprit >= 0) {
      head += detail::concat("lost rank ", culprit, where(culprit),
                             ": the process exited or its host is unreachable");
      std::string others;
      for (int r : lost)
        if (r != culprit) others += (others.empty() ? "" : ", ") + std::to_string(r);
      if (!others.empty())
        head += "; rank(s) " + others + " are gone too (they may have stopped after the loss)";
    } else if (!lost.empty()) {
      std::string ranks;
      for (int r : lost) ranks += (ranks.empty() ? "" : ", ") + std::to_string(r) + where(r);
      head += "lost ranks " + ranks + ": the processes exited or their hosts are unreachable";
    } else if (broke >= 0) {
      head += detail::concat("rank ", broke, " closed its connection while still running (it "
                             "failed, or stopped taking part)");
    } else if (std::string lower = to_lower(gloo_what);
               lower.find("timeout") != std::string::npos || lower.find("timed out") != std::string::npos) {
      head += detail::concat("timed out after ", timeout.count(),
                             " ms; every peer still answers, so one is stuck or the ranks "
                             "called different collectives");
    } else {
      head += "communication error";
    }
    return head + " [gloo: " + gloo_what + "]";
  }

  std::shared_ptr<WorkImpl> enqueue(std::string what, std::function<void()> fn) {
    auto w = std::make_shared<WorkImpl>(std::move(what), std::move(fn), timeout, progress);
    {
      std::lock_guard<std::mutex> lock(mu);
      queue.push_back(w);
    }
    cv.notify_all();
    return w;
  }

  uint32_t tag() { return next_tag++; }  // worker thread only

  // Runs on the worker. `t` contiguous.
  void all_reduce(const Tensor& t, ReduceOp op) {
    if (size == 1 || t.numel() == 0) return;
    const bool f64 = t.dtype() == DType::Float64;
    gloo::AllreduceOptions o(context);
    o.setTag(tag());
    o.setTimeout(timeout);
    if (f64) {
      o.setOutput(static_cast<double*>(t.data_ptr()), static_cast<size_t>(t.numel()));
      o.setReduceFunction(op == ReduceOp::Max   ? &reduce_max<double>
                          : op == ReduceOp::Min ? &reduce_min<double>
                                                : &reduce_sum<double>);
    } else {
      o.setOutput(static_cast<float*>(t.data_ptr()), static_cast<size_t>(t.numel()));
      o.setReduceFunction(op == ReduceOp::Max   ? &reduce_max<float>
                          : op == ReduceOp::Min ? &reduce_min<float>
                                                : &reduce_sum<float>);
    }
    gloo::allreduce(o);
    if (op == ReduceOp::Avg) {
      // Division (not a multiply by 1/size), so averaging over 2 or 4 ranks is exact.
      const size_t n = static_cast<size_t>(t.numel());
      if (f64) {
        double* p = static_cast<double*>(t.data_ptr());
        for (size_t i = 0; i < n; ++i) p[i] /= size;
      } else {
        float* p = static_cast<float*>(t.data_ptr());
        for (size_t i = 0; i < n; ++i) p[i] /= static_cast<float>(size);
      }
    }
    t.storage()->bump_version();
  }
};

namespace {

// The group as the collective ops see it (ops/collective.h): what a graph node of a
// compiled DDP step calls. In-flight all-reduces are known by their buffer's address.
class GroupCommunicator final : public ops::Communicator {
 public:
  explicit GroupCommunicator(ProcessGroup* group) : group_(group) {}

  std::string describe() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return group_ ? detail::concat("process group (rank ", group_->rank(), " of ", group_->size(), ")")
                  : std::string("a destroyed process group");
  }
  void all_reduce_start(const Tensor& buffer) override {
    std::lock_guard<std::mutex> lock(mu_);
    check_alive();
    TESSERA_CHECK(!pending_.count(buffer.data_ptr()), "an all-reduce of ", buffer.describe(),
                  " at this address is already in flight (all_reduce_wait_ comes first)");
    pending_[buffer.data_ptr()] = group_->all_reduce_async(buffer, ReduceOp::Sum);  // only enqueues
  }
  void all_reduce_wait(const Tensor& buffer) override {
    std::shared_ptr<Work> work;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = pending_.find(buffer.data_ptr());
      TESSERA_CHECK(it != pending_.end(), "no all-reduce of ", buffer.describe(),
                    " was started (all_reduce_start_ comes first)");
      work = std::move(it->second);
      pending_.erase(it);
    }
    work->wait();
  }
  void broadcast(const Tensor& buffer, int64_t root) override {
    ProcessGroup* group;
    {
      std::lock_guard<std::mutex> lock(mu_);
      check_alive();
      group = group_;
    }
    Tensor t = buffer;
    group->broadcast(t, static_cast<int>(root));
  }
  // The group is going: later calls are errors, not a use of freed memory.
  void detach() {
    std::lock_guard<std::mutex> lock(mu_);
    group_ = nullptr;
    pending_.clear();
  }

 private:
  void check_alive() const {
    TESSERA_CHECK(group_ != nullptr, "the process group of this collective was destroyed");
  }
  mutable std::mutex mu_;
  ProcessGroup* group_;
  std::map<const void*, std::shared_ptr<Work>> pending_;
};

}  // namespace

ProcessGroup::ProcessGroup(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  auto c = std::make_shared<GroupCommunicator>(this);
  communicator_id_ = ops::register_communicator(c);
  communicator_ = std::move(c);
}

ProcessGroup::~ProcessGroup() {
  ops::unregister_communicator(communicator_id_);
  std::static_pointer_cast<GroupCommunicator>(communicator_)->detach();
}

int64_t ProcessGroup::communicator_id() const { return communicator_id_; }

std::shared_ptr<ProcessGroup> ProcessGroup::create(const InitOptions& options) {
  const char* who = "init_process_group";
  auto impl = std::make_unique<Impl>();
  impl->rank = options.rank >= 0 ? options.rank : env_int("RANK", -1, who);
  impl->size = options.world_size >= 0 ? options.world_size : env_int("WORLD_SIZE", -1, who);
  TESSERA_CHECK(impl->size >= 1, who, ": the world size is unknown: pass world_size or set WORLD_SIZE "
                "(tessera launch sets it), got ", impl->size);
  TESSERA_CHECK(impl->rank >= 0 && impl->rank < impl->size, who, ": rank must be in [0, ",
                impl->size, "): pass rank or set RANK, got ", impl->rank);
  impl->local_rank = env_int("LOCAL_RANK", impl->rank, who);
  if (options.timeout.count() > 0) {
    impl->timeout = options.timeout;
  } else if (!env_str("TESSERA_DIST_TIMEOUT").empty()) {
    const std::string v = env_str("TESSERA_DIST_TIMEOUT");
    char* end = nullptr;
    double s = std::strtod(v.c_str(), &end);
    TESSERA_CHECK(end != v.c_str() && *end == '\0' && s > 0, who,
                  ": TESSERA_DIST_TIMEOUT must be a positive number of seconds, got '", v, "'");
    impl->timeout = ms(static_cast<int64_t>(s * 1000));
  }
  const std::string& method = options.init_method;
  TESSERA_CHECK(method == "env://" || method.rfind("tcp://", 0) == 0 || method.rfind("file://", 0) == 0,
                who, ": init_method must be env://, tcp://HOST:PORT or file:///DIR, got '", method, "'");
  if (impl->size == 1) {  // alone: collectives are local, nothing to meet
    impl->worker = std::thread([p = impl.get()] { p->loop(); });
    return std::shared_ptr<ProcessGroup>(new ProcessGroup(std::move(impl)));
  }

  // Gloo writes to its sockets with writev, which raises SIGPIPE once the peer has died;
  // the signal's default action would end this process silently, before the error that
  // names the lost rank. So it is ignored (unless the program installed a handler of its
  // own): the failed write then returns EPIPE and Gloo reports it.
  struct sigaction old_pipe {};
  if (sigaction(SIGPIPE, nullptr, &old_pipe) == 0 && old_pipe.sa_handler == SIG_DFL)
    std::signal(SIGPIPE, SIG_IGN);

  // ---- the store
  std::string master_host;
  int master_port = -1;
  try {
    if (method.rfind("file://", 0) == 0) {
      const std::string dir = method.substr(7);
      TESSERA_CHECK(!dir.empty(), who, ": file:// needs a folder, e.g. file:///tmp/job1");
      std::error_code ec;
      std::filesystem::create_directories(dir, ec);
      TESSERA_CHECK_IO(!ec, who, ": cannot create the file store folder ", dir, ": ", ec.message());
      impl->store = std::make_unique<TimeoutStore>(std::make_unique<gloo::rendezvous::FileStore>(dir),
                                                   impl->timeout);
      impl->file_dir = dir;
    } else if (method == "env://" || method.rfind("tcp://", 0) == 0) {
      if (method == "env://") {
        master_host = env_str("MASTER_ADDR");
        TESSERA_CHECK(!master_host.empty(), who, ": env:// needs MASTER_ADDR and MASTER_PORT "
                      "(tessera launch sets them)");
        master_port = env_int("MASTER_PORT", -1, who);
        TESSERA_CHECK(master_port > 0 && master_port < 65536, who,
                      ": MASTER_PORT must be a port number, got '", env_str("MASTER_PORT"), "'");
      } else {
        net::split_host_port(method.substr(6), who, &master_host, &master_port);
      }
      if (impl->rank == 0) impl->server = std::make_unique<TcpStoreServer>("", master_port);
      auto tcp = std::make_unique<TcpStore>(master_host, master_port, impl->timeout);
      impl->tcp_store = tcp.get();
      impl->store = std::move(tcp);
    } else {
      TESSERA_CHECK(false, who, ": init_method must be env://, tcp://HOST:PORT or file:///DIR, got '",
                    method, "'");
    }

    // ---- where this rank's sockets live
    std::string host = options.hostname;
    const std::string ifname = env_str("GLOO_SOCKET_IFNAME");
    if (host.empty() && !ifname.empty()) host = net::interface_address(ifname);
    if (host.empty())
      host = master_port > 0 ? net::local_address_towards(master_host, master_port) : "127.0.0.1";
    impl->liveness = net::listen_tcp(host, 0);
    const std::string alive = host + ":" + std::to_string(net::local_port(impl->liveness));
    impl->store->set("tessera_alive_" + std::to_string(impl->rank),
                     std::vector<char>(alive.begin(), alive.end()));

    // ---- the full mesh
    gloo::transport::tcp::attr attr;
    if (!ifname.empty() && options.hostname.empty()) attr.iface = ifname;
    else attr.hostname = host;
    impl->device = gloo::transport::tcp::CreateDevice(attr);
    impl->context = std::make_shared<gloo::rendezvous::Context>(impl->rank, impl->size);
    impl->context->setTimeout(impl->timeout);
    impl->context->connectFullMesh(*impl->store, impl->device);

    // The address of each of our pairs as Gloo's errors print it on the other side
    // ("tessera_gloo_<us>_<peer>"; every pair has its own), so the peer can map a
    // failure to this rank.
    auto gloo_key = [](int from, int to) { return detail::concat("tessera_gloo_", from, "_", to); };
    for (int p = 0; p < impl->size; ++p) {
      if (p == impl->rank) continue;
      const std::string addr = impl->context->getPair(p)->address().str();
      impl->store->set(gloo_key(impl->rank, p), std::vector<char>(addr.begin(), addr.end()));
    }
    std::vector<std::string> keys;
    for (int r = 0; r < impl->size; ++r) {
      keys.push_back("tessera_alive_" + std::to_string(r));
      if (r != impl->rank) keys.push_back(gloo_key(r, impl->rank));
    }
    impl->store->wait(keys, impl->timeout);
    for (int r = 0; r < impl->size; ++r) {
      std::vector<char> a = impl->store->get("tessera_alive_" + std::to_string(r));
      std::vector<char> g;
      if (r != impl->rank) g = impl->store->get(gloo_key(r, impl->rank));
      impl->peer_alive.emplace_back(a.begin(), a.end());
      impl->peer_gloo.emplace_back(g.begin(), g.end());
    }
  } catch (const gloo::Exception& e) {
    throw_error(ErrorKind::IO, detail::concat(who, " (rank ", impl->rank, " of ", impl->size, ", ", method,
                                              "): rendezvous failed within ", impl->timeout.count(),
                                              " ms: ", e.what()));
  } catch (const Error& e) {
    throw_error(e.kind(), detail::concat(who, " (rank ", impl->rank, " of ", impl->size, ", ", method,
                                         "): ", e.what()));
  }
  impl->worker = std::thread([p = impl.get()] { p->loop(); });
  auto group = std::shared_ptr<ProcessGroup>(new ProcessGroup(std::move(impl)));
  // Every rank has read what it needs from the store once this returns, so rank 0 may
  // shut its store down whenever it likes.
  group->barrier();
  return group;
}

int ProcessGroup::rank() const { return impl_->rank; }
int ProcessGroup::size() const { return impl_->size; }
int ProcessGroup::local_rank() const { return impl_->local_rank; }
std::chrono::milliseconds ProcessGroup::timeout() const { return impl_->timeout; }

std::shared_ptr<Work> ProcessGroup::all_reduce_async(const Tensor& t, ReduceOp op) {
  check_tensor("all_reduce", t);
  TESSERA_CHECK(t.is_contiguous(), "all_reduce_async: ", t.describe(), " must be contiguous");
  Impl* p = impl_.get();
  return p->enqueue(detail::concat("all_reduce(", op_name(op), ", ", t.describe(), ")"),
                    [p, t, op] { p->all_reduce(t, op); });
}

void ProcessGroup::all_reduce(Tensor& t, ReduceOp op) {
  check_tensor("all_reduce", t);
  Tensor buf = t.is_contiguous() ? t : t.contiguous();
  all_reduce_async(buf, op)->wait();
  if (!buf.is_same(t)) t.copy_(buf);
}

void ProcessGroup::broadcast(Tensor& t, int root) {
  check_tensor("broadcast", t);
  TESSERA_CHECK(root >= 0 && root < impl_->size, "broadcast: root must be in [0, ", impl_->size,
                "), got ", root);
  Tensor buf = t.is_contiguous() ? t : t.contiguous();
  Impl* p = impl_.get();
  p->enqueue(detail::concat("broadcast(root ", root, ", ", t.describe(), ")"), [p, buf, root] {
     if (p->size == 1 || buf.numel() == 0) return;
     gloo::BroadcastOptions o(p->context);
     o.setTag(p->tag());
     o.setTimeout(p->timeout);
     o.setRoot(root);
     if (buf.dtype() == DType::Float64) {
       if (p->rank == root) o.setInput(static_cast<double*>(buf.data_ptr()), static_cast<size_t>(buf.numel()));
       o.setOutput(static_cast<double*>(buf.data_ptr()), static_cast<size_t>(buf.numel()));
     } else {
       if (p->rank == root) o.setInput(static_cast<float*>(buf.data_ptr()), static_cast<size_t>(buf.numel()));
       o.setOutput(static_cast<float*>(buf.data_ptr()), static_cast<size_t>(buf.numel()));
     }
     gloo::broadcast(o);
     buf.storage()->bump_version();
   })->wait();
  if (!buf.is_same(t)) t.copy_(buf);
}

Tensor ProcessGroup::all_gather(const Tensor& t) {
  check_tensor("all_gather", t);
  Tensor in = t.contiguous();
  Shape shape;
  shape.push_back(impl_->size);
  for (int64_t s : t.sizes()) shape.push_back(s);
  Tensor out = empty(shape, t.dtype());
  Impl* p = impl_.get();
  p->enqueue(detail::concat("all_gather(", t.describe(), ")"), [p, in, out] {
     const size_t n = static_cast<size_t>(in.numel());
     if (p->size == 1 || n == 0) {
       if (n) std::memcpy(out.data_ptr(), in.data_ptr(), in.nbytes());
       return;
     }
     gloo::AllgatherOptions o(p->context);
     o.setTag(p->tag());
     o.setTimeout(p->timeout);
     if (in.dtype() == DType::Float64) {
       o.setInput(static_cast<double*>(in.data_ptr()), n);
       o.setOutput(static_cast<double*>(out.data_ptr()), n * static_cast<size_t>(p->size));
     } else {
       o.setInput(static_cast<float*>(in.data_ptr()), n);
       o.setOutput(static_cast<float*>(out.data_ptr()), n * static_cast<size_t>(p->size));
     }
     gloo::allgather(o);
   })->wait();
  return out;
}

void ProcessGroup::barrier() {
  Impl* p = impl_.get();
  p->enqueue("barrier", [p] {
     if (p->size == 1) return;
     gloo::BarrierOptions o(p->context);
     o.setTag(p->tag());
     o.setTimeout(p->timeout);
     gloo::barrier(o);
   })->wait();
}

// ---------------------------------------------------------------- the default group

namespace {
std::mutex g_mu;
std::shared_ptr<ProcessGroup> g_default;
}  // namespace

void init_process_group(const InitOptions& options) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    TESSERA_CHECK(g_default == nullptr, "init_process_group: already initialized (rank ",
                  g_default->rank(), " of ", g_default->size(), "); destroy_process_group() first");
  }
  auto group = ProcessGroup::create(options);
  std::lock_guard<std::mutex> lock(g_mu);
  g_default = std::move(group);
}

bool is_initialized() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_default != nullptr;
}

const std::shared_ptr<ProcessGroup>& default_group() {
  std::lock_guard<std::mutex> lock(g_mu);
  TESSERA_CHECK(g_default != nullptr, "distributed: no default process group; call "
                "distributed::init_process_group() first");
  return g_default;
}

void destroy_process_group() {
  std::shared_ptr<ProcessGroup> old;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    old = std::move(g_default);
  }
}

int get_rank() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_default ? g_default->rank() : 0;
}

int get_world_size() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_default ? g_default->size() : 1;
}

}  // namespace tessera::distributed
