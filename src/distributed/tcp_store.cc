// The TCP store: a map behind a mutex on rank 0, one thread per connected rank.
#include "distributed/tcp_store.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tessera/error.h"

namespace tessera::distributed {
namespace {

using Op = StoreRequest::Op;
constexpr uint8_t kSet = static_cast<uint8_t>(Op::Set), kGet = static_cast<uint8_t>(Op::Get),
                  kWait = static_cast<uint8_t>(Op::Wait);
// How long one request may take to arrive, and one reply to leave (clients send whole
// requests at once).
constexpr auto kIoTimeout = std::chrono::seconds(30);
// A string is read in pieces of this size, so a declared length costs nothing until its
// bytes come.
constexpr size_t kReadPiece = 1u << 20;
// How often a waiting GET or WAIT looks whether its client hung up.
constexpr auto kHangUpCheck = std::chrono::milliseconds(100);

bool read_u32(const ReadExactly& read, uint32_t* v, std::string* why) { return read(v, sizeof(*v), why); }

bool read_string(const ReadExactly& read, std::string* s, std::string* why) {
  uint32_t n = 0;
  if (!read_u32(read, &n, why)) return false;
  if (n > StoreRequest::kMaxBytes) {
    *why = detail::concat("a string of ", n, " bytes (at most ", StoreRequest::kMaxBytes, ")");
    return false;
  }
  s->clear();
  for (size_t got = 0; got < n;) {
    const size_t piece = std::min<size_t>(kReadPiece, n - got);
    s->resize(got + piece);
    if (!read(s->data() + got, piece, why)) return false;
    got += piece;
  }
  return true;
}

bool read_timeout(const ReadExactly& read, std::chrono::milliseconds* out, std::string* why) {
  int64_t ms = 0;
  if (!read(&ms, sizeof(ms), why)) return false;
  *out = std::chrono::milliseconds(std::clamp<int64_t>(ms, 0, StoreRequest::kMaxTimeout.count()));
  return true;
}

// Whether the peer of `fd` closed its end (or the connection broke).
bool hung_up(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

}  // namespace

bool read_store_request(const ReadExactly& read, StoreRequest* out, std::string* why) {
  uint8_t op = 0;
  if (!read(&op, 1, why)) return false;
  *out = StoreRequest{};
  if (op == kSet) {
    out->op = Op::Set;
    out->keys.resize(1);
    return read_string(read, &out->keys[0], why) && read_string(read, &out->value, why);
  }
  if (op == kGet) {
    out->op = Op::Get;
    out->keys.resize(1);
    return read_string(read, &out->keys[0], why) && read_timeout(read, &out->timeout, why);
  }
  if (op == kWait) {
    out->op = Op::Wait;
    uint32_t count = 0;
    if (!read_u32(read, &count, why)) return false;
    if (count > StoreRequest::kMaxKeys) {
      *why = detail::concat("a wait for ", count, " keys (at most ", StoreRequest::kMaxKeys, ")");
      return false;
    }
    for (uint32_t i = 0; i < count; ++i) {
      out->keys.emplace_back();
      if (!read_string(read, &out->keys.back(), why)) return false;
    }
    return read_timeout(read, &out->timeout, why);
  }
  *why = detail::concat("unknown request ", static_cast<int>(op), " (expected ", static_cast<int>(kSet), " set, ",
                        static_cast<int>(kGet), " get or ", static_cast<int>(kWait), " wait)");
  return false;
}

// ---------------------------------------------------------------- server

TcpStoreServer::TcpStoreServer(const std::string& host, int port)
    : listener_(net::listen_tcp(host, port)), port_(net::local_port(listener_)) {
  acceptor_ = std::thread([this] { accept_loop(); });
}

TcpStoreServer::~TcpStoreServer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    for (Client& c : clients_)
      if (!c.done) ::shutdown(c.fd, SHUT_RDWR);
  }
  changed_.notify_all();
  acceptor_.join();
  for (Client& c : clients_) c.thread.join();  // the acceptor is gone: nobody adds any
  listener_.close();
}

size_t TcpStoreServer::open_connections() {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<size_t>(std::count_if(clients_.begin(), clients_.end(), [](const Client& c) { return !c.done; }));
}

void TcpStoreServer::accept_loop() {
  while (true) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    // Polls with a short period so the destructor never waits on a blocked accept().
    pollfd p{listener_.fd(), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int fd = ::accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) {
      ::close(fd);
      return;
    }
    // Reap the threads of connections that ended, so many short connections (or a flood
    // of hostile ones) do not pile up finished threads. A done thread is past its last
    // use of mu_, so joining it here cannot wait on us.
    for (auto it = clients_.begin(); it != clients_.end();) {
      if (it->done) {
        it->thread.join();
        it = clients_.erase(it);
      } else {
        ++it;
      }
    }
    Client& c = clients_.emplace_back();
    c.fd = fd;
    c.thread = std::thread([this, client = &c] { serve(client); });
  }
}

TcpStoreServer::Waited TcpStoreServer::wait_for_keys(const StoreRequest& req, int fd, std::vector<char>* value) {
  const auto until = net::Clock::now() + req.timeout;
  std::unique_lock<std::mutex> lock(mu_);
  auto present = [&] {
    for (const std::string& k : req.keys)
      if (!data_.count(k)) return false;
    return true;
  };
  while (!present()) {
    if (stop_) return Waited::Stopping;
    const auto now = net::Clock::now();
    if (now >= until) return Waited::TimedOut;
    // In slices: a client that hung up must not hold this thread for its whole timeout.
    changed_.wait_for(lock, std::min<net::Clock::duration>(until - now, kHangUpCheck));
    if (hung_up(fd)) return Waited::HungUp;
  }
  if (stop_) return Waited::Stopping;
  if (req.op == Op::Get) *value = data_[req.keys[0]];
  return Waited::Found;
}

void TcpStoreServer::serve(Client* client) {
  const int fd = client->fd;
  std::string why;
  net::Clock::time_point deadline;
  const ReadExactly read = [&](void* p, size_t n, std::string* w) { return net::recv_all(fd, p, n, deadline, w); };
  while (true) {
    // The next request may come much later (or never): wait for it in short slices so a
    // stopping server is noticed.
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stop_) goto done;
      }
      pollfd p{fd, POLLIN, 0};
      int r = ::poll(&p, 1, 100);
      if (r > 0) break;
      if (r < 0 && errno != EINTR) goto done;
    }
    deadline = net::Clock::now() + kIoTimeout;
    StoreRequest req;
    // Not a request of this protocol (or the peer left midway): drop the connection.
    if (!read_store_request(read, &req, &why)) break;
    if (req.op == Op::Set) {
      // Copied outside the lock: a value may be 64 MiB.
      std::vector<char> value(req.value.begin(), req.value.end());
      {
        std::lock_guard<std::mutex> lock(mu_);
        data_[req.keys[0]] = std::move(value);
      }
      changed_.notify_all();
      const uint8_t ok = 0;
      if (!net::send_all(fd, &ok, 1, net::Clock::now() + kIoTimeout, &why)) break;
      continue;
    }
    std::vector<char> value;
    const Waited waited = wait_for_keys(req, fd, &value);
    if (waited == Waited::HungUp || waited == Waited::Stopping) break;
    const uint8_t status = waited == Waited::Found ? 0 : 1;
    const auto reply_deadline = net::Clock::now() + kIoTimeout;
    if (!net::send_all(fd, &status, 1, reply_deadline, &why)) break;
    if (req.op == Op::Get && status == 0) {
      uint32_t n = static_cast<uint32_t>(value.size());
      if (!net::send_all(fd, &n, 4, reply_deadline, &why) || !net::send_all(fd, value.data(), n, reply_deadline, &why))
        break;
    }
  }
done:
  std::lock_guard<std::mutex> lock(mu_);
  ::close(fd);
  client->done = true;
}

// ---------------------------------------------------------------- client

TcpStore::TcpStore(const std::string& host, int port, std::chrono::milliseconds timeout)
    : where_(host + ":" + std::to_string(port)), timeout_(timeout) {
  try {
    sock_ = net::connect_tcp(host, port, net::Clock::now() + timeout);
  } catch (const Error& e) {
    throw_error(ErrorKind::IO, detail::concat(
        "rendezvous: no TCP store answered at ", where_, " within ", timeout.count(),
        " ms (rank 0 hosts it: is rank 0 running, and are MASTER_ADDR/MASTER_PORT right?): ",
        e.what()));
  }
}

void TcpStore::send_bytes(const void* p, size_t n) {
  std::string why;
  TESSERA_CHECK_IO(net::send_all(sock_.fd(), p, n, net::Clock::now() + timeout_, &why),
                   "TCP store at ", where_, ": ", why, " (rank 0, which hosts it, may have exited)");
}

void TcpStore::recv_bytes(void* p, size_t n, std::chrono::milliseconds extra) {
  std::string why;
  TESSERA_CHECK_IO(net::recv_all(sock_.fd(), p, n, net::Clock::now() + timeout_ + extra, &why),
                   "TCP store at ", where_, ": ", why, " (rank 0, which hosts it, may have exited)");
}

uint8_t TcpStore::recv_status(std::chrono::milliseconds extra) {
  uint8_t status = 1;
  recv_bytes(&status, 1, extra);
  // Whatever answers at the address is checked too: MASTER_PORT may be another service.
  TESSERA_CHECK_IO(status <= 1, "TCP store at ", where_, ": a reply status of ", static_cast<int>(status),
                   " (expected 0 or 1): is that address a Tessera rank 0's TCP store?");
  return status;
}

namespace {
void append(std::vector<char>& buf, const void* p, size_t n) {
  const char* c = static_cast<const char*>(p);
  buf.insert(buf.end(), c, c + n);
}
void append_string(std::vector<char>& buf, const std::string& s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  append(buf, &n, 4);
  append(buf, s.data(), s.size());
}
}  // namespace

void TcpStore::set(const std::string& key, const std::vector<char>& data) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<char> req{static_cast<char>(kSet)};
  append_string(req, key);
  append_string(req, std::string(data.begin(), data.end()));
  send_bytes(req.data(), req.size());
  recv_status(std::chrono::milliseconds(0));
}

bool TcpStore::get_within(const std::string& key, std::chrono::milliseconds wait,
                          std::vector<char>* value) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<char> req{static_cast<char>(kGet)};
  append_string(req, key);
  int64_t ms = wait.count();
  append(req, &ms, sizeof(ms));
  send_bytes(req.data(), req.size());
  // The server may hold the reply for the whole wait; give the reply a margin on top.
  if (recv_status(wait - timeout_ + std::chrono::seconds(5)) != 0) return false;
  uint32_t n = 0;
  recv_bytes(&n, 4, std::chrono::seconds(5));
  TESSERA_CHECK_IO(n <= StoreRequest::kMaxBytes, "TCP store at ", where_, ": a value of ", n, " bytes for key '", key,
                   "' (at most ", StoreRequest::kMaxBytes, "): is that address a Tessera rank 0's TCP store?");
  value->resize(n);
  recv_bytes(value->data(), n, std::chrono::seconds(5));
  return true;
}

std::vector<char> TcpStore::get(const std::string& key) {
  std::vector<char> value;
  TESSERA_CHECK_IO(get_within(key, timeout_, &value), "rendezvous: key '", key,
                   "' did not appear in the TCP store at ", where_, " within ", timeout_.count(),
                   " ms (a rank did not arrive)");
  return value;
}

bool TcpStore::try_get(const std::string& key, std::vector<char>* value) {
  return get_within(key, std::chrono::milliseconds(0), value);
}

void TcpStore::wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<char> req{static_cast<char>(kWait)};
  uint32_t count = static_cast<uint32_t>(keys.size());
  append(req, &count, 4);
  for (const std::string& k : keys) append_string(req, k);
  int64_t ms = timeout.count();
  append(req, &ms, sizeof(ms));
  send_bytes(req.data(), req.size());
  if (recv_status(timeout - timeout_ + std::chrono::seconds(5)) != 0) {
    std::string names;
    for (const std::string& k : keys) names += (names.empty() ? "" : ", ") + k;
    throw_error(ErrorKind::IO, detail::concat("rendezvous: keys [", names, "] did not appear in the TCP store at ",
                                              where_, " within ", timeout.count(),
                                              " ms (a rank did not arrive)"));
  }
}

}  // namespace tessera::distributed
