#pragma once
// Small blocking-socket helpers for the TCP store and the liveness probe: every call has a
// deadline, so nothing here can hang past the group's timeout.
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace tessera::distributed::net {

using Clock = std::chrono::steady_clock;

// A socket file descriptor closed on destruction.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket();
  Socket(Socket&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Socket& operator=(Socket&& o) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void close();
  // Wakes a thread blocked on this socket (accept, recv) without closing the descriptor.
  void shutdown();

 private:
  int fd_ = -1;
};

// A listening TCP socket on host:port (port 0: any free port; host "" or "0.0.0.0": every
// interface). Throws an IOError naming the address on failure.
Socket listen_tcp(const std::string& host, int port, int backlog = 128);
int local_port(const Socket& s);

// Connects to host:port, retrying refused connections until `deadline` (the peer may not
// listen yet). Throws an IOError naming the address and the last error.
Socket connect_tcp(const std::string& host, int port, Clock::time_point deadline);

// One connection attempt, no retry: true when something listens at host:port and answers
// before `deadline`.
bool probe_tcp(const std::string& host, int port, Clock::time_point deadline);

// Reads or writes exactly n bytes before `deadline`; false on timeout, a closed peer or an
// error (errno_text tells which).
bool send_all(int fd, const void* data, size_t n, Clock::time_point deadline, std::string* why);
bool recv_all(int fd, void* data, size_t n, Clock::time_point deadline, std::string* why);

// The local address (numeric) this host uses to reach host:port: what peers on that
// network can reach us at. Falls back to "127.0.0.1" when there is no route.
std::string local_address_towards(const std::string& host, int port);
// The first IPv4 address of a network interface ("eth0"); an error naming it when absent.
std::string interface_address(const std::string& ifname);

// "host:port" split at the last ':'; an InvalidArgumentError naming `what` when malformed.
void split_host_port(const std::string& s, const char* what, std::string* host, int* port);

}  // namespace tessera::distributed::net
