// The TCP store as rank 0 runs it, fed what a broken or hostile process that reaches
// MASTER_PORT could send: the request reader refuses it naming the fault, and the server
// drops that connection only, frees its thread, and keeps serving the ranks.
#include <sys/socket.h>

#include <cerrno>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "distributed/socket.h"
#include "distributed/tcp_store.h"
#include "tessera/error.h"

namespace tessera::distributed {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The protocol's pieces, written as the client writes them.
void put_u32(std::string& b, uint32_t v) { b.append(reinterpret_cast<const char*>(&v), 4); }
void put_i64(std::string& b, int64_t v) { b.append(reinterpret_cast<const char*>(&v), 8); }
void put_string(std::string& b, const std::string& s) {
  put_u32(b, static_cast<uint32_t>(s.size()));
  b += s;
}
std::string set_request(const std::string& key, const std::string& value) {
  std::string b(1, '\x01');
  put_string(b, key);
  put_string(b, value);
  return b;
}
std::string get_request(const std::string& key, int64_t timeout_ms) {
  std::string b(1, '\x02');
  put_string(b, key);
  put_i64(b, timeout_ms);
  return b;
}
std::string wait_request(const std::vector<std::string>& keys, int64_t timeout_ms) {
  std::string b(1, '\x03');
  put_u32(b, static_cast<uint32_t>(keys.size()));
  for (const std::string& k : keys) put_string(b, k);
  put_i64(b, timeout_ms);
  return b;
}

// Reads requests from `bytes` as the server reads a connection.
struct BytesReader {
  std::string bytes;
  size_t at = 0;
  ReadExactly reader() {
    return [this](void* p, size_t n, std::string* why) {
      if (n > bytes.size() - at) {
        *why = "connection closed by the peer";
        return false;
      }
      std::memcpy(p, bytes.data() + at, n);
      at += n;
      return true;
    };
  }
};

TEST(TcpStore, ReadsEveryRequestAndClampsTimeouts) {
  BytesReader in{set_request("rank_0", std::string("a\0b", 3)) + get_request("rank_0", 1500) +
                 wait_request({"x", "", "yy"}, -7) + get_request("k", std::numeric_limits<int64_t>::max())};
  const ReadExactly read = in.reader();
  StoreRequest r;
  std::string why;
  ASSERT_TRUE(read_store_request(read, &r, &why)) << why;
  EXPECT_EQ(r.op, StoreRequest::Op::Set);
  EXPECT_EQ(r.keys, std::vector<std::string>{"rank_0"});
  EXPECT_EQ(r.value, std::string("a\0b", 3));
  ASSERT_TRUE(read_store_request(read, &r, &why)) << why;
  EXPECT_EQ(r.op, StoreRequest::Op::Get);
  EXPECT_EQ(r.timeout, milliseconds(1500));
  ASSERT_TRUE(read_store_request(read, &r, &why)) << why;
  EXPECT_EQ(r.op, StoreRequest::Op::Wait);
  EXPECT_EQ(r.keys, (std::vector<std::string>{"x", "", "yy"}));
  EXPECT_EQ(r.timeout, milliseconds(0)) << "a negative timeout reads as 0";
  ASSERT_TRUE(read_store_request(read, &r, &why)) << why;
  EXPECT_EQ(r.timeout, StoreRequest::kMaxTimeout) << "a huge timeout is cut to the bound";
  EXPECT_FALSE(read_store_request(read, &r, &why)) << "no bytes left";
}

TEST(TcpStore, RefusesMalformedRequestsNamingTheFault) {
  auto refused = [](const std::string& bytes) {
    BytesReader in{bytes};
    StoreRequest r;
    std::string why;
    EXPECT_FALSE(read_store_request(in.reader(), &r, &why));
    return why;
  };
  EXPECT_EQ(refused("\x09"), "unknown request 9 (expected 1 set, 2 get or 3 wait)");
  std::string long_key(1, '\x02');
  put_u32(long_key, StoreRequest::kMaxBytes + 1);
  EXPECT_EQ(refused(long_key), "a string of 67108865 bytes (at most 67108864)");
  std::string many(1, '\x03');
  put_u32(many, StoreRequest::kMaxKeys + 1);
  EXPECT_EQ(refused(many), "a wait for 65537 keys (at most 65536)");
  const std::string get = get_request("key", 10);
  for (size_t cut = 0; cut < get.size(); ++cut)
    EXPECT_EQ(refused(get.substr(0, cut)), "connection closed by the peer") << "cut at " << cut;

  // A value that declares the limit and sends 16 bytes takes one read piece (1 MiB), not
  // the 64 MiB it declared.
  std::string declared(1, '\x01');
  put_string(declared, "k");
  put_u32(declared, StoreRequest::kMaxBytes);
  declared += std::string(16, 'v');
  BytesReader in{declared};
  StoreRequest r;
  std::string why;
  EXPECT_FALSE(read_store_request(in.reader(), &r, &why));
  EXPECT_LE(r.value.capacity(), size_t{2} << 20);
}

// A raw connection to the server: sends `bytes`, says it will send no more, and reads
// until the server closes. Returns how the read ended: "dropped" when the server closed
// the connection (cleanly, or with a reset where it left bytes unread), "timed out" when
// it held it for 5 s.
std::string send_and_drain(int port, const std::string& bytes, std::string* reply = nullptr) {
  net::Socket s = net::connect_tcp("127.0.0.1", port, Clock::now() + std::chrono::seconds(5));
  std::string why;
  if (!net::send_all(s.fd(), bytes.data(), bytes.size(), Clock::now() + std::chrono::seconds(5), &why))
    return "send failed: " + why;
  ::shutdown(s.fd(), SHUT_WR);
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  char c = 0;
  while (net::recv_all(s.fd(), &c, 1, deadline, &why))
    if (reply != nullptr) reply->push_back(c);
  return why == "connection closed by the peer" || why == std::strerror(ECONNRESET) ? "dropped" : why;
}

// Waits (up to 3 s) for the server's open connections to fall to `n`.
size_t settle(TcpStoreServer& server, size_t n) {
  const auto deadline = Clock::now() + std::chrono::seconds(3);
  while (server.open_connections() != n && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(10));
  return server.open_connections();
}

TEST(TcpStore, HostileClientsLeaveTheServerServing) {
  TcpStoreServer server("127.0.0.1", 0);
  TcpStore rank(/*host=*/"127.0.0.1", server.port(), milliseconds(5000));
  rank.set("rank_0", {'o', 'k'});

  std::vector<std::string> hostile = {
      std::string("\x09garbage", 8),
      std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),  // a port scanner or a browser
      std::string(1, '\x01'),                            // a SET cut off after its op
  };
  std::string huge_string(1, '\x01');
  put_u32(huge_string, 0xffffffffu);
  hostile.push_back(huge_string);
  std::string huge_wait(1, '\x03');
  put_u32(huge_wait, 0xffffffffu);
  hostile.push_back(huge_wait);
  hostile.push_back(get_request("absent", std::numeric_limits<int64_t>::max()));  // then hangs up
  hostile.push_back(wait_request({"absent", "rank_0"}, -1));
  // Random mutations of well-formed requests: flipped bytes and cuts.
  const std::string valid =
      set_request("a", "bc") + get_request("rank_0", 100) + wait_request({"rank_0", "x"}, 50) + get_request("y", 0);
  std::mt19937 rng(7);
  for (int i = 0; i < 150; ++i) {
    std::string m = valid.substr(0, 1 + rng() % valid.size());
    for (int f = 1 + static_cast<int>(rng() % 4); f > 0; --f) m[rng() % m.size()] = static_cast<char>(rng());
    hostile.push_back(m);
  }
  const auto start = Clock::now();
  for (size_t i = 0; i < hostile.size(); ++i)
    EXPECT_EQ(send_and_drain(server.port(), hostile[i]), "dropped")
        << "hostile request " << i << " was held, not dropped";
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  EXPECT_LT(seconds, 60.0) << hostile.size() << " hostile connections";

  // The rank's own connection still works, and every hostile one is gone.
  EXPECT_EQ(rank.get("rank_0"), (std::vector<char>{'o', 'k'}));
  EXPECT_EQ(settle(server, 1), 1u);
}

TEST(TcpStore, RepliesAsTheProtocolSaysToARawClient) {
  TcpStoreServer server("127.0.0.1", 0);
  std::string reply;
  EXPECT_EQ(send_and_drain(server.port(), set_request("k", "v") + get_request("k", 0), &reply), "dropped");
  std::string expected("\x00\x00", 2);  // SET ok; GET ok, then the value
  put_string(expected, "v");
  EXPECT_EQ(reply, expected);
  reply.clear();
  // A negative timeout is no wait at all: "timed out" (1) at once.
  const auto t0 = Clock::now();
  EXPECT_EQ(send_and_drain(server.port(), get_request("absent", -1000), &reply), "dropped");
  EXPECT_EQ(reply, std::string(1, '\x01'));
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
}

TEST(TcpStore, AClientThatHangsUpWhileWaitingFreesItsThread) {
  TcpStoreServer server("127.0.0.1", 0);
  {
    net::Socket s = net::connect_tcp("127.0.0.1", server.port(), Clock::now() + std::chrono::seconds(5));
    const std::string req = wait_request({"never"}, 3'600'000);  // an hour
    std::string why;
    ASSERT_TRUE(net::send_all(s.fd(), req.data(), req.size(), Clock::now() + std::chrono::seconds(5), &why)) << why;
    ASSERT_EQ(settle(server, 1), 1u);
  }  // closed here, an hour early
  const auto t0 = Clock::now();
  EXPECT_EQ(settle(server, 0), 0u);
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(1));
}

// A "store" that answers every request with `reply`, as another service on MASTER_PORT
// might: the client names the address and what it got, and allocates nothing for it.
std::string client_error_against(const std::string& reply, bool use_get) {
  net::Socket listener = net::listen_tcp("127.0.0.1", 0);
  std::thread fake([&] {
    const int fd = ::accept(listener.fd(), nullptr, nullptr);
    if (fd < 0) return;
    net::Socket conn(fd);
    char buf[256];
    std::string why;
    (void)::recv(fd, buf, sizeof buf, 0);  // the request, whatever it is
    (void)net::send_all(fd, reply.data(), reply.size(), Clock::now() + std::chrono::seconds(5), &why);
    std::this_thread::sleep_for(milliseconds(200));  // let the client read before the close
  });
  std::string error = "(no error)";
  try {
    TcpStore client("127.0.0.1", net::local_port(listener), milliseconds(2000));
    if (use_get) {
      (void)client.get("k");
    } else {
      client.set("k", {'v'});
    }
  } catch (const Error& e) {
    error = e.what();
  }
  fake.join();
  return error;
}

TEST(TcpStore, ClientRefusesAServiceThatIsNotAStore) {
  const std::string status = client_error_against("\x07", /*use_get=*/false);
  EXPECT_NE(status.find("a reply status of 7 (expected 0 or 1)"), std::string::npos) << status;
  EXPECT_NE(status.find("TCP store at 127.0.0.1:"), std::string::npos) << status;
  std::string huge("\x00", 1);
  put_u32(huge, 0xffffffffu);
  const std::string value = client_error_against(huge, /*use_get=*/true);
  EXPECT_NE(value.find("a value of 4294967295 bytes for key 'k' (at most 67108864)"), std::string::npos) << value;
}

}  // namespace
}  // namespace tessera::distributed
