#pragma once
// Helpers shared by the test files.
#include <gtest/gtest.h>

#include <string>

#include "tessera/error.h"

// The message of the tessera::Error that `f` throws, or "<no error>".
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const tessera::Error& e) {
    return e.what();
  }
  return "<no error>";
}

// Expects `stmt` to throw a tessera::Error whose message contains `text`.
#define EXPECT_ERROR_HAS(stmt, text)                                      \
  do {                                                                    \
    const std::string msg_ = error_of([&] { (void)(stmt); });             \
    EXPECT_NE(msg_.find(text), std::string::npos) << "message: " << msg_; \
  } while (0)
