#pragma once
// Helpers shared by the test files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <cctype>
#include <string>
#include <utility>

#include "tessera/error.h"
#include "tessera/tensor.h"

// A message without the call sites ops name when the test's own line called them
// ("tril at shape_test.cc:466: [3] f32: ..." -> "tril: [3] f32: ..."), so tests of a
// message read the same whichever line made the call. tests/core/call_site_test.cc checks
// the sites themselves.
inline std::string without_call_sites(const std::string& msg) {
  auto is_name = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; };
  std::string out;
  size_t i = 0;
  while (i < msg.size()) {
    // " at NAME.EXT:LINE:" -> ":"
    if (msg.compare(i, 4, " at ") == 0) {
      size_t j = i + 4;
      while (j < msg.size() && is_name(msg[j])) ++j;
      const bool dotted = msg.find('.', i + 4) < j;
      size_t k = j + 1;
      while (k < msg.size() && std::isdigit(static_cast<unsigned char>(msg[k]))) ++k;
      if (dotted && j < msg.size() && msg[j] == ':' && k > j + 1 && k < msg.size() && msg[k] == ':') {
        out += ':';
        i = k + 1;
        continue;
      }
    }
    out += msg[i++];
  }
  return out;
}

// The message of the tessera::Error that `f` throws (without call sites), or "<no error>".
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const tessera::Error& e) {
    return without_call_sites(e.what());
  }
  return "<no error>";
}

// Expects `stmt` to throw a tessera::Error whose message contains `text`.
#define EXPECT_ERROR_HAS(stmt, text)                                      \
  do {                                                                    \
    const std::string msg_ = error_of([&] { (void)(stmt); });             \
    EXPECT_NE(msg_.find(text), std::string::npos) << "message: " << msg_; \
  } while (0)

// The kind and message of the tessera::Error that `f` throws; a test failure when none is.
template <typename F>
std::pair<tessera::ErrorKind, std::string> error_kind_of(F&& f) {
  try {
    f();
  } catch (const tessera::Error& e) {
    return {e.kind(), e.what()};
  }
  ADD_FAILURE() << "no error was thrown";
  return {tessera::ErrorKind::Internal, ""};
}

// Expects `stmt` to throw a tessera::Error of `kind` whose message contains `text`.
#define EXPECT_ERROR_KIND(stmt, kind, text)                                 \
  do {                                                                      \
    const auto [k_, msg_] = error_kind_of([&] { (void)(stmt); });           \
    EXPECT_EQ(k_, kind) << "message: " << msg_;                             \
    EXPECT_NE(msg_.find(text), std::string::npos) << "message: " << msg_;   \
  } while (0)

// The largest element-wise difference of two same-shaped tensors, relative to the largest
// magnitude of `b` (the reference): the figure the compiled-vs-eager tests print.
inline double max_rel_error(const tessera::Tensor& a, const tessera::Tensor& b) {
  EXPECT_TRUE(a.sizes().equals(b.sizes())) << a.describe() << " vs " << b.describe();
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double worst = 0, scale = 0;
  for (double v : y) scale = std::max(scale, std::abs(v));
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return scale > 0 ? worst / scale : worst;
}

// The largest element-wise |a - b| of two same-shaped tensors (0 when bit-equal, NaNs aside).
inline double max_abs_diff(const tessera::Tensor& a, const tessera::Tensor& b) {
  EXPECT_TRUE(a.sizes().equals(b.sizes())) << a.describe() << " vs " << b.describe();
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}

// Whole-file reads and writes for the file-format tests.
inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Deletes a scratch file. Fuzz loops write each variant under a fresh name and delete it:
// truncating and rewriting one file makes ext4 flush it to disk every time (auto_da_alloc),
// which turns a thousand tiny writes into seconds.
struct RemoveOnExit {
  std::string path;
  ~RemoveOnExit() {
    std::error_code ec;
    std::filesystem::remove(path, ec);
  }
};
