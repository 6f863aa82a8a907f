// Blocking sockets with deadlines (poll before every read, write and connect).
#include "distributed/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "tessera/error.h"

namespace tessera::distributed::net {
namespace {

int ms_until(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left, 1 << 30));
}

// getaddrinfo for TCP; an IOError naming the host when it does not resolve.
struct AddrInfo {
  addrinfo* list = nullptr;
  ~AddrInfo() {
    if (list) freeaddrinfo(list);
  }
};
void resolve(const std::string& host, int port, bool passive, AddrInfo& out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  if (passive) hints.ai_flags = AI_PASSIVE;
  const std::string service = std::to_string(port);
  const char* node = host.empty() || host == "0.0.0.0" ? nullptr : host.c_str();
  if (node == nullptr) hints.ai_family = AF_INET;
  int rc = getaddrinfo(node, service.c_str(), &hints, &out.list);
  TESSERA_CHECK_IO(rc == 0 && out.list != nullptr, "cannot resolve host '", host, "': ",
                   gai_strerror(rc));
}

}  // namespace

Socket::~Socket() { close(); }

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    close();
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

void Socket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Socket::shutdown() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

Socket listen_tcp(const std::string& host, int port, int backlog) {
  AddrInfo ai;
  resolve(host, port, true, ai);
  std::string last = "no address";
  for (addrinfo* a = ai.list; a != nullptr; a = a->ai_next) {
    // CLOEXEC: a child (the launcher's ranks, a shell) must not keep our port open, or a
    // dead rank would still look alive to the liveness probe.
    Socket s(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
    if (!s.valid()) {
      last = std::strerror(errno);
      continue;
    }
    int one = 1;
    ::setsockopt(s.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(s.fd(), a->ai_addr, a->ai_addrlen) == 0 && ::listen(s.fd(), backlog) == 0) return s;
    last = std::strerror(errno);
  }
  throw_error(ErrorKind::IO, detail::concat("cannot listen on ", host.empty() ? "*" : host, ":",
                                            port, ": ", last));
}

int local_port(const Socket& s) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  TESSERA_CHECK_IO(::getsockname(s.fd(), reinterpret_cast<sockaddr*>(&ss), &len) == 0,
                   "getsockname: ", std::strerror(errno));
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

namespace {
// One non-blocking connect bounded by the deadline; returns the connected socket (made
// blocking again) or an invalid one with *why set.
Socket connect_once(const addrinfo* a, Clock::time_point deadline, std::string* why) {
  Socket s(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol));
  if (!s.valid()) {
    *why = std::strerror(errno);
    return Socket();
  }
  int rc = ::connect(s.fd(), a->ai_addr, a->ai_addrlen);
  if (rc != 0 && errno != EINPROGRESS) {
    *why = std::strerror(errno);
    return Socket();
  }
  if (rc != 0) {
    pollfd p{s.fd(), POLLOUT, 0};
    int n;
    do {
      n = ::poll(&p, 1, ms_until(deadline));
    } while (n < 0 && errno == EINTR);
    if (n == 0) {
      *why = "timed out";
      return Socket();
    }
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (n < 0 || err != 0) {
      *why = std::strerror(n < 0 ? errno : err);
      return Socket();
    }
  }
  int flags = ::fcntl(s.fd(), F_GETFL);
  ::fcntl(s.fd(), F_SETFL, flags & ~O_NONBLOCK);
  int one = 1;
  ::setsockopt(s.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return s;
}
}  // namespace

Socket connect_tcp(const std::string& host, int port, Clock::time_point deadline) {
  std::string why = "timed out";
  while (true) {
    AddrInfo ai;
    resolve(host, port, false, ai);
    for (addrinfo* a = ai.list; a != nullptr; a = a->ai_next) {
      Socket s = connect_once(a, deadline, &why);
      if (s.valid()) return s;
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw_error(ErrorKind::IO, detail::concat("cannot connect to ", host, ":", port, ": ", why));
}

bool probe_tcp(const std::string& host, int port, Clock::time_point deadline) {
  try {
    AddrInfo ai;
    resolve(host, port, false, ai);
    std::string why;
    for (addrinfo* a = ai.list; a != nullptr; a = a->ai_next)
      if (connect_once(a, deadline, &why).valid()) return true;
  } catch (const Error&) {
  }
  return false;
}

bool send_all(int fd, const void* data, size_t n, Clock::time_point deadline, std::string* why) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    pollfd pf{fd, POLLOUT, 0};
    int r = ::poll(&pf, 1, ms_until(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      *why = "timed out";
      return false;
    }
    ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (k <= 0) {
      *why = k < 0 ? std::strerror(errno) : "connection closed";
      return false;
    }
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

bool recv_all(int fd, void* data, size_t n, Clock::time_point deadline, std::string* why) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    pollfd pf{fd, POLLIN, 0};
    int r = ::poll(&pf, 1, ms_until(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      *why = "timed out";
      return false;
    }
    ssize_t k = ::recv(fd, p, n, 0);
    if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (k <= 0) {
      *why = k < 0 ? std::strerror(errno) : "connection closed by the peer";
      return false;
    }
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

std::string local_address_towards(const std::string& host, int port) {
  // A UDP "connect" sends nothing; it only asks the kernel which source address its
  // routing table would use, which is the address peers on that network reach us at.
  try {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* list = nullptr;
    if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &list) != 0) return "127.0.0.1";
    std::string result = "127.0.0.1";
    for (addrinfo* a = list; a != nullptr; a = a->ai_next) {
      Socket s(::socket(a->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
      if (!s.valid() || ::connect(s.fd(), a->ai_addr, a->ai_addrlen) != 0) continue;
      sockaddr_storage ss{};
      socklen_t len = sizeof(ss);
      if (::getsockname(s.fd(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) continue;
      char buf[INET6_ADDRSTRLEN] = {};
      const void* addr = ss.ss_family == AF_INET6
                             ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr)
                             : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&ss)->sin_addr);
      if (inet_ntop(ss.ss_family, addr, buf, sizeof(buf)) != nullptr) {
        result = buf;
        break;
      }
    }
    freeaddrinfo(list);
    return result;
  } catch (...) {
    return "127.0.0.1";
  }
}

std::string interface_address(const std::string& ifname) {
  ifaddrs* list = nullptr;
  TESSERA_CHECK_IO(getifaddrs(&list) == 0, "getifaddrs: ", std::strerror(errno));
  std::string found;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET || ifname != i->ifa_name) continue;
    char buf[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof(buf));
    found = buf;
    break;
  }
  freeifaddrs(list);
  TESSERA_CHECK(!found.empty(), "GLOO_SOCKET_IFNAME: no network interface '", ifname,
                "' with an IPv4 address on this host");
  return found;
}

void split_host_port(const std::string& s, const char* what, std::string* host, int* port) {
  const size_t colon = s.rfind(':');
  TESSERA_CHECK(colon != std::string::npos && colon > 0 && colon + 1 < s.size(), what,
                ": expected HOST:PORT, got '", s, "'");
  *host = s.substr(0, colon);
  if (host->size() > 2 && host->front() == '[' && host->back() == ']')  // [::1]:port
    *host = host->substr(1, host->size() - 2);
  const std::string p = s.substr(colon + 1);
  char* end = nullptr;
  long v = std::strtol(p.c_str(), &end, 10);
  TESSERA_CHECK(end != p.c_str() && *end == '\0' && v >= 0 && v <= 65535, what,
                ": the port must be a number in [0, 65535], got '", p, "'");
  *port = static_cast<int>(v);
}

}  // namespace tessera::distributed::net
