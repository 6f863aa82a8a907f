#pragma once
// The TCP key-value store the ranks meet at (torch.distributed's TCPStore idea): rank 0
// runs a TcpStoreServer on MASTER_ADDR:MASTER_PORT, every rank (rank 0 included) talks to
// it through a TcpStore, which is a gloo::rendezvous::Store so Gloo's full-mesh
// rendezvous runs over it. Gloo ships a file store and a Redis one, but no plain TCP one.
//
// Protocol (one request, one reply, on a connection per client):
//   request: u8 op, then for SET: key, value; GET: key, i64 timeout_ms; WAIT: u32 count,
//            keys, i64 timeout_ms. Strings and values are u32 length + bytes.
//   reply:   u8 status (0 ok, 1 timed out); GET adds the value.
// The server answers GET and WAIT when the keys exist or the request's timeout passes.
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gloo/rendezvous/store.h>

#include "distributed/socket.h"

namespace tessera::distributed {

class TcpStoreServer {
 public:
  // Listens on host:port (host "": every interface; port 0: a free one, see port()).
  TcpStoreServer(const std::string& host, int port);
  ~TcpStoreServer();
  int port() const { return port_; }

 private:
  void accept_loop();
  void serve(int fd);

  net::Socket listener_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, std::vector<char>> data_;
  bool stop_ = false;
  std::vector<int> clients_;  // open client descriptors, shut down on stop
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

class TcpStore : public gloo::rendezvous::Store {
 public:
  // Connects, retrying until `timeout` (rank 0's server may start after us).
  TcpStore(const std::string& host, int port, std::chrono::milliseconds timeout);
  void set(const std::string& key, const std::vector<char>& data) override;
  // Waits up to the store's timeout for the key.
  std::vector<char> get(const std::string& key) override;
  // The value when the key is there now; false (at once) when it is not.
  bool try_get(const std::string& key, std::vector<char>* value);
  void wait(const std::vector<std::string>& keys) override { wait(keys, timeout_); }
  void wait(const std::vector<std::string>& keys, const std::chrono::milliseconds& timeout) override;

 private:
  void send_bytes(const void* p, size_t n);
  void recv_bytes(void* p, size_t n, std::chrono::milliseconds extra);
  // GET waiting up to `wait` on the server: false when the key did not come.
  bool get_within(const std::string& key, std::chrono::milliseconds wait, std::vector<char>* value);

  std::string where_;  // "host:port", for errors
  std::chrono::milliseconds timeout_;
  std::mutex mu_;
  net::Socket sock_;
};

}  // namespace tessera::distributed
