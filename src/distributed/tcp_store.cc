// The TCP store: a map behind a mutex on rank 0, one thread per connected rank.
#include "distributed/tcp_store.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tessera/error.h"

namespace tessera::distributed {
namespace {

enum Op : uint8_t { kSet = 1, kGet = 2, kWait = 3 };
// Limits a malformed or hostile request cannot push the server past.
constexpr uint32_t kMaxBytes = 64u << 20;
constexpr uint32_t kMaxKeys = 1u << 16;
// How long one read or write of the server may take (clients send whole requests at once).
constexpr auto kIoTimeout = std::chrono::seconds(30);

bool read_u32(int fd, uint32_t* v, net::Clock::time_point deadline, std::string* why) {
  return net::recv_all(fd, v, sizeof(*v), deadline, why);
}
bool read_string(int fd, std::string* s, net::Clock::time_point deadline, std::string* why) {
  uint32_t n = 0;
  if (!read_u32(fd, &n, deadline, why)) return false;
  if (n > kMaxBytes) {
    *why = "oversized request";
    return false;
  }
  s->resize(n);
  return net::recv_all(fd, s->data(), n, deadline, why);
}

}  // namespace

// ---------------------------------------------------------------- server

TcpStoreServer::TcpStoreServer(const std::string& host, int port)
    : listener_(net::listen_tcp(host, port)), port_(net::local_port(listener_)) {
  acceptor_ = std::thread([this] { accept_loop(); });
}

TcpStoreServer::~TcpStoreServer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    for (int fd : clients_) ::shutdown(fd, SHUT_RDWR);
  }
  changed_.notify_all();
  acceptor_.join();
  for (std::thread& t : threads_) t.join();
  listener_.close();
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
    clients_.push_back(fd);
    threads_.emplace_back([this, fd] { serve(fd); });
  }
}

void TcpStoreServer::serve(int fd) {
  std::string why;
  while (true) {
    uint8_t op = 0;
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
    {
      const auto deadline = net::Clock::now() + kIoTimeout;
      if (!net::recv_all(fd, &op, 1, deadline, &why)) break;
      uint8_t status = 0;
      if (op == kSet) {
        std::string key, value;
        if (!read_string(fd, &key, deadline, &why) || !read_string(fd, &value, deadline, &why)) break;
        {
          std::lock_guard<std::mutex> lock(mu_);
          data_[key] = std::vector<char>(value.begin(), value.end());
        }
        changed_.notify_all();
        if (!net::send_all(fd, &status, 1, deadline, &why)) break;
      } else if (op == kGet || op == kWait) {
        std::vector<std::string> keys;
        uint32_t count = 1;
        if (op == kWait && (!read_u32(fd, &count, deadline, &why) || count > kMaxKeys)) break;
        keys.resize(count);
        bool ok = true;
        for (std::string& k : keys) ok = ok && read_string(fd, &k, deadline, &why);
        int64_t timeout_ms = 0;
        if (!ok || !net::recv_all(fd, &timeout_ms, sizeof(timeout_ms), deadline, &why)) break;
        std::vector<char> value;
        {
          std::unique_lock<std::mutex> lock(mu_);
          auto present = [&] {
            if (stop_) return true;
            for (const std::string& k : keys)
              if (!data_.count(k)) return false;
            return true;
          };
          bool found = changed_.wait_for(lock, std::chrono::milliseconds(timeout_ms), present);
          if (stop_) break;
          status = found ? 0 : 1;
          if (found && op == kGet) value = data_[keys[0]];
        }
        const auto reply_deadline = net::Clock::now() + kIoTimeout;
        if (!net::send_all(fd, &status, 1, reply_deadline, &why)) break;
        if (op == kGet && status == 0) {
          uint32_t n = static_cast<uint32_t>(value.size());
          if (!net::send_all(fd, &n, 4, reply_deadline, &why) ||
              !net::send_all(fd, value.data(), n, reply_deadline, &why))
            break;
        }
      } else {
        break;  // not our protocol: drop the connection
      }
    }
  }
done:
  std::lock_guard<std::mutex> lock(mu_);
  std::erase(clients_, fd);
  ::close(fd);
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
  uint8_t status = 1;
  recv_bytes(&status, 1, std::chrono::milliseconds(0));
}

bool TcpStore::get_within(const std::string& key, std::chrono::milliseconds wait,
                          std::vector<char>* value) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<char> req{static_cast<char>(kGet)};
  append_string(req, key);
  int64_t ms = wait.count();
  append(req, &ms, sizeof(ms));
  send_bytes(req.data(), req.size());
  uint8_t status = 1;
  // The server may hold the reply for the whole wait; give the reply a margin on top.
  recv_bytes(&status, 1, wait - timeout_ + std::chrono::seconds(5));
  if (status != 0) return false;
  uint32_t n = 0;
  recv_bytes(&n, 4, std::chrono::seconds(5));
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
  uint8_t status = 1;
  recv_bytes(&status, 1, timeout - timeout_ + std::chrono::seconds(5));
  if (status != 0) {
    std::string names;
    for (const std::string& k : keys) names += (names.empty() ? "" : ", ") + k;
    throw_error(ErrorKind::IO, detail::concat("rendezvous: keys [", names, "] did not appear in the TCP store at ",
                                              where_, " within ", timeout.count(),
                                              " ms (a rank did not arrive)"));
  }
}

}  // namespace tessera::distributed
