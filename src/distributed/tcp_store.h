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
//
// The server reads bytes from the network, so it trusts none of them: read_store_request
// refuses what is not this protocol or passes its limits, and a connection that sends such
// a request is dropped (tests/fuzz/tcp_store_fuzz.cc fuzzes it).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gloo/rendezvous/store.h>

#include "distributed/socket.h"

namespace tessera::distributed {

// One request as the server reads it off a connection.
struct StoreRequest {
  enum class Op : uint8_t { Set = 1, Get = 2, Wait = 3 };
  // A string or value longer than this, or a WAIT for more keys, is refused.
  static constexpr uint32_t kMaxBytes = 64u << 20;
  static constexpr uint32_t kMaxKeys = 1u << 16;
  // Longer GET/WAIT timeouts are cut to this; negative ones are 0. (Any rendezvous is far
  // shorter, and the bound keeps the server's deadline arithmetic from overflowing.)
  static constexpr std::chrono::milliseconds kMaxTimeout = std::chrono::hours(24 * 30);

  Op op = Op::Set;
  std::vector<std::string> keys;         // SET and GET: one; WAIT: up to kMaxKeys
  std::string value;                     // SET
  std::chrono::milliseconds timeout{0};  // GET and WAIT, in [0, kMaxTimeout]
};

// Fills exactly n bytes at p, or returns false with `why` set (a closed peer, a timeout).
using ReadExactly = std::function<bool(void* p, size_t n, std::string* why)>;

// Reads one request. False, with `why` naming the fault, when the bytes end first or are
// not a request: an unknown op, a string over kMaxBytes, more than kMaxKeys keys. Memory
// grows with the bytes actually read, never with a length the peer only declares.
bool read_store_request(const ReadExactly& read, StoreRequest* out, std::string* why);

class TcpStoreServer {
 public:
  // Listens on host:port (host "": every interface; port 0: a free one, see port()).
  TcpStoreServer(const std::string& host, int port);
  ~TcpStoreServer();
  int port() const { return port_; }
  // Connections being served now (finished ones are reaped as new ones arrive).
  size_t open_connections();

 private:
  struct Client {
    int fd = -1;
    bool done = false;  // serve() returned; its thread only has to be joined
    std::thread thread;
  };

  void accept_loop();
  void serve(Client* client);
  enum class Waited { Found, TimedOut, HungUp, Stopping };
  // GET and WAIT: blocks until the keys are there (GET: their value into *value), the
  // timeout passes, the client on `fd` hangs up or the server stops.
  Waited wait_for_keys(const StoreRequest& req, int fd, std::vector<char>* value);

  net::Socket listener_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, std::vector<char>> data_;
  bool stop_ = false;
  std::list<Client> clients_;  // shut down on stop; a list, so serve() keeps its Client*
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
  // A reply's status byte: 0 ok, 1 timed out; anything else is an IOError.
  uint8_t recv_status(std::chrono::milliseconds extra);
  // GET waiting up to `wait` on the server: false when the key did not come.
  bool get_within(const std::string& key, std::chrono::milliseconds wait, std::vector<char>* value);

  std::string where_;  // "host:port", for errors
  std::chrono::milliseconds timeout_;
  std::mutex mu_;
  net::Socket sock_;
};

}  // namespace tessera::distributed
