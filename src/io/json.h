#pragma once
// A small, strict JSON reader and a string quoter: enough for safetensors headers and other
// file headers, without a third-party dependency. Strict means RFC 8259 and nothing more:
// no comments, no trailing commas, no NaN, valid UTF-8 only, and (unlike the RFC, which
// leaves it open) duplicate keys in an object are an error, because a header whose meaning
// depends on which duplicate a reader keeps is a classic confusion attack.
//
// Inputs are untrusted: nesting depth is capped so a file of '[' cannot overflow the stack,
// and every error says at which byte it stopped.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::json {

struct Member;

struct Value {
  enum class Kind : uint8_t { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  std::string text;                                    // a String's value, a Number's literal
  std::vector<Value> items;                            // Array
  std::vector<Member> members;                          // Object, in file order

  bool is_object() const { return kind == Kind::Object; }
  bool is_array() const { return kind == Kind::Array; }
  bool is_string() const { return kind == Kind::String; }
  bool is_number() const { return kind == Kind::Number; }
  // The member named `key`, or nullptr.
  const Value* find(std::string_view key) const;
  // A Number that is a non-negative integer literal fitting in 64 bits, else false.
  bool to_uint64(uint64_t& out) const;
};

// One key/value pair of an Object. Not a std::pair: clang (with libstdc++) evaluates
// pair's default-constructibility traits while Value is still incomplete, and fails.
struct Member {
  std::string key;
  Value value;
};

// "string", "number", ... for error messages.
const char* kind_name(Value::Kind kind);

// Parses a complete document (surrounding whitespace allowed). Errors throw tessera::Error
// starting with `context` (for example "load_safetensors: 'x.safetensors': header").
Value parse(std::string_view text, const std::string& context, int max_depth = 64);

// `s` as a JSON string literal, quotes included. `s` must be valid UTF-8.
std::string quote(std::string_view s);

// Whether `s` is well-formed UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF).
bool valid_utf8(std::string_view s);

}  // namespace tessera::json
