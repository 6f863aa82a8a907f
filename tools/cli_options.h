#pragma once
// The command lines' argument parsing, on CLI11 (Debian's libcli11-dev, header-only), shared
// by `tessera` and `tessera-bench` so every option is validated the same way and every
// malformed command line ends the same way: one clear line on stderr, exit status 2.
//
// CLI11's own checks (CLI::PositiveNumber and the like) print ranges such as "not in range
// 0.000000 to 1797693134862315708..." and let a negative number wrap around into an
// unsigned option, so the validators below are ours: each names the value it got and what
// it wanted ("--epochs: expected a positive integer, got 'abc'").
#include <CLI/CLI.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli_errors.h"

namespace tessera_cli {

namespace detail {
template <typename T>
bool parse_whole(const std::string& s, T& out) {
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc() && p == end && !s.empty();
}
}  // namespace detail

// An integer in [lo, hi]; `what` describes it for the message ("a positive integer").
inline CLI::Validator integer_in(int64_t lo, int64_t hi, std::string what) {
  return CLI::Validator(
      [lo, hi, what](std::string& s) -> std::string {
        int64_t v = 0;
        if (!detail::parse_whole(s, v) || v < lo || v > hi)
          return "expected " + what + ", got '" + s + "'";
        return "";
      },
      "", "integer");
}
inline CLI::Validator positive_int() { return integer_in(1, 1'000'000'000, "a positive integer"); }
inline CLI::Validator non_negative_int() {
  return integer_in(0, 1'000'000'000, "an integer >= 0");
}

// An unsigned 64-bit integer (seeds): digits only, so "-3" is refused, not wrapped around.
inline CLI::Validator unsigned_int() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        uint64_t v = 0;
        if (s.empty() || s[0] == '-' || s[0] == '+' || !detail::parse_whole(s, v))
          return "expected an integer in 0..18446744073709551615, got '" + s + "'";
        return "";
      },
      "", "unsigned");
}

// A finite number > 0 (learning rates, minutes).
inline CLI::Validator positive_number(double max = 1e300) {
  return CLI::Validator(
      [max](std::string& s) -> std::string {
        double v = 0;
        if (!detail::parse_whole(s, v) || !std::isfinite(v) || !(v > 0) || v > max)
          return "expected a number > 0" + (max < 1e300 ? " and <= " + CLI::detail::to_string(max) : "") +
                 ", got '" + s + "'";
        return "";
      },
      "", "positive");
}

inline CLI::Validator non_empty() {
  return CLI::Validator(
      [](std::string& s) -> std::string { return s.empty() ? "expected a non-empty value" : ""; },
      "", "non-empty");
}

// Parses argv into `app`. Returns -1 to go on, or the status to exit with: 0 after --help
// (printed to stdout), kExitUsage after a malformed command line (one line on stderr:
// "<prog>: <what was wrong>", then a pointer to --help).
inline int parse_command_line(CLI::App& app, int argc, const char* const* argv,
                              std::string_view prog) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::ArgumentMismatch& e) {
    // CLI11 says "--epochs: 1 required N missing" for an option given without its value.
    const std::string msg = e.what();
    const size_t colon = msg.find(':');
    if (msg.ends_with(" missing") && colon != std::string::npos)
      std::cerr << prog << ": " << msg.substr(0, colon) << " needs a value";
    else
      std::cerr << prog << ": " << msg;
    std::cerr << "\n(see " << prog << " --help)\n";
    return kExitUsage;
  } catch (const CLI::ParseError& e) {
    std::cerr << prog << ": " << e.what() << "\n(see " << prog << " --help)\n";
    return kExitUsage;
  }
  return -1;
}

// The arguments a command (or the program) did not recognise, as one usage error; -1 when
// there are none. Commands allow extras so that this message, not CLI11's, names them.
inline int reject_extras(const CLI::App& app, std::string_view prog) {
  const std::vector<std::string> extra = app.remaining();
  if (extra.empty()) return -1;
  const std::string& a = extra.front();
  if (a.size() > 1 && a[0] == '-')
    std::cerr << prog << ": unknown option '" << a << "'";
  else
    std::cerr << prog << ": unexpected argument '" << a << "'";
  std::cerr << " (see " << prog << " --help)\n";
  return kExitUsage;
}

}  // namespace tessera_cli
