// NPY reader and writer. The format: the magic "\x93NUMPY", a version (major, minor), the
// header length (2 bytes in 1.0, 4 bytes in 2.0/3.0, little-endian), then a Python dict
// literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces
// to a multiple of 64 bytes and ending in '\n', then the raw data.
//
// Everything read from the file is untrusted: the header parser accepts only the literal
// forms numpy writes, and every size is checked against the file's actual length before a
// buffer is allocated, so a hostile header cannot make us allocate or read unboundedly.
//
// Error kinds: a missing or unreadable file is an IOError; a malformed one an
// InvalidArgumentError; valid NPY that Tessera cannot hold (big-endian, complex,
// structured, a format version after 3.0) a NotImplementedError.
#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <string_view>

#include "core/files.h"
#include "tessera/io.h"

namespace tessera {
namespace {

static_assert(std::endian::native == std::endian::little,
              "npy.cc copies little-endian data as is; a big-endian host needs byte swaps");

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
// numpy caps ranks at 64 (NPY_MAXDIMS in numpy 2); more is surely corruption.
constexpr size_t kMaxRank = 64;
// Headers are a few hundred bytes in practice; this bound only stops absurd lengths.
constexpr uint64_t kMaxHeaderLen = 1u << 20;

#define NPY_CHECK(cond, path, ...) \
  TESSERA_CHECK(cond, "load_npy: '", path, "': ", __VA_ARGS__)
#define NPY_CHECK_IO(cond, path, ...) \
  TESSERA_CHECK_IO(cond, "load_npy: '", path, "': ", __VA_ARGS__)
#define NPY_CHECK_IMPLEMENTED(cond, path, ...) \
  TESSERA_CHECK_IMPLEMENTED(cond, "load_npy: '", path, "': ", __VA_ARGS__)

struct NpyDType {
  const char* descr;  // as written: byte order + kind + size
  DType dtype;
};
constexpr NpyDType kDTypes[] = {
    {"<f4", DType::Float32}, {"<f8", DType::Float64}, {"<i8", DType::Int64},
    {"<i4", DType::Int32},   {"|i1", DType::Int8},    {"|u1", DType::UInt8},
    {"|b1", DType::Bool},    {"<f2", DType::Float16},
};

// Whether `type` (a descr without its byte order) is a numpy type: a kind letter and a
// size, e.g. "c8", "U10", "M8[ns]". Those Tessera lacks are not implemented; anything else
// is not NPY at all.
bool is_numpy_type(const std::string& type) {
  if (type.size() < 2 || std::string_view("biufcmMOSUV").find(type[0]) == std::string_view::npos)
    return false;
  size_t i = 1;
  while (i < type.size() && type[i] >= '0' && type[i] <= '9') ++i;
  return i > 1 && (i == type.size() || type[i] == '[');
}

// Maps a descr to a dtype. '=' (native) is little-endian here; one-byte types carry no
// byte order, so numpy writes '|' but '<' and '=' mean the same.
DType parse_descr(const std::string& descr, const std::string& path) {
  NPY_CHECK(descr.size() >= 3, path, "unknown dtype '", descr, "'");
  char order = descr[0];
  std::string type = descr.substr(1);
  NPY_CHECK_IMPLEMENTED(order != '>', path, "big-endian data ('", descr,
                        "') is not supported; convert it with "
                        "arr.astype(arr.dtype.newbyteorder('<'))");
  NPY_CHECK(order == '<' || order == '|' || order == '=', path, "unknown dtype '", descr, "'");
  for (const NpyDType& d : kDTypes)
    if (type == d.descr + 1) {
      bool one_byte = itemsize(d.dtype) == 1;
      NPY_CHECK(one_byte || order != '|', path, "dtype '", descr, "' lacks a byte order");
      return d.dtype;
    }
  NPY_CHECK_IMPLEMENTED(!is_numpy_type(type), path, "dtype '", descr,
                        "' is not supported (supported: f2 f4 f8 i1 i4 i8 u1 b1)");
  NPY_CHECK(false, path, "unknown dtype '", descr, "' (supported: f2 f4 f8 i1 i4 i8 u1 b1)");
  __builtin_unreachable();
}

const char* descr_of(DType t) {
  for (const NpyDType& d : kDTypes)
    if (d.dtype == t) return d.descr;
  return nullptr;
}

// A recursive-descent parser for the header dict, accepting exactly the literal forms
// numpy's writers produce (and Python 2's "3L" integers, found in old files).
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  void parse(std::string& descr, bool& fortran, Shape& shape) {
    skip_ws();
    NPY_CHECK(peek() == '{', path_, "header is not a dict: ", excerpt());
    ++pos_;
    bool have_descr = false, have_order = false, have_shape = false;
    skip_ws();
    while (peek() != '}') {
      std::string key = parse_string("a dict key");
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        NPY_CHECK(!have_descr, path_, "header repeats the key 'descr'");
        NPY_CHECK_IMPLEMENTED(peek() != '[', path_,
                              "structured dtypes (a descr list) are not supported");
        descr = parse_string("the 'descr' string");
        have_descr = true;
      } else if (key == "fortran_order") {
        NPY_CHECK(!have_order, path_, "header repeats the key 'fortran_order'");
        fortran = parse_bool();
        have_order = true;
      } else if (key == "shape") {
        NPY_CHECK(!have_shape, path_, "header repeats the key 'shape'");
        parse_shape(shape);
        have_shape = true;
      } else {
        NPY_CHECK(false, path_, "header has an unexpected key '", key, "'");
      }
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        skip_ws();
      } else {
        NPY_CHECK(peek() == '}', path_, "header dict: expected ',' or '}' at byte ", pos_,
                  ": ", excerpt());
      }
    }
    ++pos_;
    skip_ws();
    NPY_CHECK(pos_ == s_.size(), path_, "header has trailing bytes after the dict: ",
              excerpt());
    NPY_CHECK(have_descr && have_order && have_shape, path_,
              "header lacks a key (needs 'descr', 'fortran_order' and 'shape'): ", s_);
  }

 private:
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool at_end() const { return pos_ >= s_.size(); }
  void skip_ws() {
    while (!at_end() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' ||
                         s_[pos_] == '\r'))
      ++pos_;
  }
  void expect(char c) {
    NPY_CHECK(!at_end() && s_[pos_] == c, path_, "header dict: expected '", c, "' at byte ",
              pos_, ": ", excerpt());
    ++pos_;
  }
  // Up to 40 printable characters from the current position, for error messages.
  std::string excerpt() const {
    if (at_end()) return "<end of header>";
    std::string out = "'";
    for (size_t i = pos_; i < s_.size() && i < pos_ + 40; ++i) {
      unsigned char c = static_cast<unsigned char>(s_[i]);
      if (c >= 0x20 && c < 0x7f) {
        out += static_cast<char>(c);
      } else {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\x%02x", c);
        out += buf;
      }
    }
    return out + "'";
  }
  std::string parse_string(const char* what) {
    char q = peek();
    NPY_CHECK(q == '\'' || q == '"', path_, "header: expected ", what, " at byte ", pos_, ": ",
              excerpt());
    size_t start = ++pos_;
    while (!at_end() && s_[pos_] != q) {
      // Keys and descrs never need escapes; refusing them keeps the parser trivial.
      NPY_CHECK(s_[pos_] != '\\', path_, "header: escapes in strings are not supported");
      ++pos_;
    }
    NPY_CHECK(!at_end(), path_, "header: unterminated string");
    return s_.substr(start, pos_++ - start);
  }
  bool parse_bool() {
    if (s_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (s_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    NPY_CHECK(false, path_, "header: 'fortran_order' must be True or False, got ", excerpt());
    __builtin_unreachable();
  }
  int64_t parse_int() {
    NPY_CHECK(peek() != '-', path_, "header: negative dimension in 'shape'");
    NPY_CHECK(peek() >= '0' && peek() <= '9', path_, "header: expected a dimension at byte ",
              pos_, ": ", excerpt());
    int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      int digit = peek() - '0';
      NPY_CHECK(v <= (std::numeric_limits<int64_t>::max() - digit) / 10, path_,
                "header: dimension does not fit in 64 bits");
      v = v * 10 + digit;
      ++pos_;
    }
    if (peek() == 'L') ++pos_;
    return v;
  }
  void parse_shape(Shape& shape) {
    expect('(');
    shape.clear();
    skip_ws();
    while (peek() != ')') {
      NPY_CHECK(shape.size() < kMaxRank, path_, "header: shape has more than ", kMaxRank,
                " dimensions");
      shape.push_back(parse_int());
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        skip_ws();
      } else {
        NPY_CHECK(peek() == ')', path_, "header: expected ',' or ')' in 'shape' at byte ",
                  pos_, ": ", excerpt());
      }
    }
    ++pos_;
  }

  const std::string& s_;
  const std::string& path_;
  size_t pos_ = 0;
};

uint64_t read_le(const unsigned char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::string shape_literal(IntArrayRef sizes) {
  std::string out = "(";
  for (size_t i = 0; i < sizes.size(); ++i) {
    out += std::to_string(sizes[i]);
    if (sizes.size() == 1 || i + 1 < sizes.size()) out += sizes.size() == 1 ? "," : ", ";
  }
  return out + ")";
}

}  // namespace

Tensor load_npy(const std::string& path) {
  detail::check_readable_file("load_npy", path);
  std::ifstream in(path, std::ios::binary);
  NPY_CHECK_IO(in.is_open(), path, "cannot open the file: ", detail::errno_text(errno));
  in.seekg(0, std::ios::end);
  std::streamoff end = in.tellg();
  NPY_CHECK_IO(end >= 0, path, "cannot determine the file size");
  in.seekg(0, std::ios::beg);
  const uint64_t file_size = static_cast<uint64_t>(end);

  unsigned char pre[12];
  NPY_CHECK(file_size >= 10, path, "file is too short to be NPY (", file_size, " bytes)");
  in.read(reinterpret_cast<char*>(pre), 8);
  NPY_CHECK_IO(in.good(), path, "read error in the preamble");
  NPY_CHECK(std::memcmp(pre, kMagic, kMagicLen) == 0, path,
            "bad magic (not an NPY file; expected \\x93NUMPY)");
  const int major = pre[6], minor = pre[7];
  NPY_CHECK_IMPLEMENTED((major == 1 || major == 2 || major == 3) && minor == 0, path,
                        "unsupported NPY format version ", major, ".", minor,
                        " (supported: 1.0, 2.0, 3.0)");
  const int len_bytes = major == 1 ? 2 : 4;
  NPY_CHECK(file_size >= 8u + len_bytes, path, "file is truncated in the header length");
  in.read(reinterpret_cast<char*>(pre + 8), len_bytes);
  NPY_CHECK_IO(in.good(), path, "read error in the header length");
  const uint64_t header_len = read_le(pre + 8, len_bytes);
  const uint64_t data_start = 8u + len_bytes + header_len;
  NPY_CHECK(header_len <= kMaxHeaderLen, path, "header length ", header_len,
            " is implausibly large");
  NPY_CHECK(data_start <= file_size, path, "file is truncated: the header claims ",
            header_len, " bytes but the file has ", file_size, " bytes in all");

  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  NPY_CHECK_IO(in.good() || header_len == 0, path, "read error in the header");
  // Versions 1 and 2 are latin-1; 3 is UTF-8. Keys and values we accept are plain ASCII,
  // so any other byte fails the parse with a message naming where.
  std::string descr;
  bool fortran = false;
  Shape shape;
  HeaderParser(header, path).parse(descr, fortran, shape);
  const DType dtype = parse_descr(descr, path);

  uint64_t numel = 1;
  for (int64_t d : shape)
    NPY_CHECK(!__builtin_mul_overflow(numel, static_cast<uint64_t>(d), &numel) &&
                  numel <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
              path, "shape ", shape_str(shape), " has too many elements (overflow)");
  uint64_t nbytes = 0;
  NPY_CHECK(!__builtin_mul_overflow(numel, static_cast<uint64_t>(itemsize(dtype)), &nbytes),
            path, "shape ", shape_str(shape), " of ", dtype_name(dtype),
            " overflows the byte count");
  const uint64_t available = file_size - data_start;
  NPY_CHECK(nbytes <= available, path, "file is truncated: shape ", shape_str(shape), " of ",
            dtype_name(dtype), " needs ", nbytes, " data bytes, the file has ", available);
  NPY_CHECK(nbytes == available, path, "file has ", available - nbytes,
            " unexpected bytes after the data (shape ", shape_str(shape), ", ",
            dtype_name(dtype), ")");

  // A Fortran-ordered array is the C-ordered array of the reversed shape, transposed.
  Shape stored = shape;
  if (fortran) std::reverse(stored.begin(), stored.end());
  Tensor t = make_tensor(stored, dtype);
  if (nbytes > 0) {
    in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(nbytes));
    NPY_CHECK_IO(in.good(), path, "read error in the data");
  }
  if (dtype == DType::Bool) {
    // A byte other than 0/1 read as bool is undefined behaviour; numpy treats any
    // nonzero byte as True, and so do we.
    auto* p = static_cast<unsigned char*>(t.data_ptr());
    for (uint64_t i = 0; i < nbytes; ++i) p[i] = p[i] != 0;
  }
  if (fortran && shape.size() > 1) {
    Shape perm(shape.size());
    for (size_t i = 0; i < perm.size(); ++i)
      perm[i] = static_cast<int64_t>(perm.size() - 1 - i);
    t = t.permute(perm).contiguous();
  }
  return t;
}

void save_npy(const std::string& path, const Tensor& t) {
  TESSERA_CHECK(t.defined(), "save_npy: '", path, "': the tensor is undefined");
  const char* descr = descr_of(t.dtype());
  TESSERA_CHECK(descr != nullptr, "save_npy: '", path, "': ", dtype_name(t.dtype()),
                " has no NPY type; convert with to(kFloat32) first");
  std::string header = std::string("{'descr': '") + descr +
                       "', 'fortran_order': False, 'shape': " + shape_literal(t.sizes()) + ", }";
  // Pad so the data starts 64-byte aligned, as numpy does; 1.0 holds up to 65535 bytes.
  size_t prefix = 10;
  size_t total = prefix + header.size() + 1;
  size_t padded = (total + 63) / 64 * 64;
  int major = 1;
  if (padded - prefix > 65535) {
    major = 2;
    prefix = 12;
    padded = (prefix + header.size() + 1 + 63) / 64 * 64;
  }
  header.append(padded - prefix - header.size() - 1, ' ');
  header += '\n';

  std::string pre(kMagic, kMagicLen);
  pre += static_cast<char>(major);
  pre += '\0';
  const uint64_t hlen = header.size();
  for (size_t i = 0; i < prefix - 8; ++i) pre += static_cast<char>((hlen >> (8 * i)) & 0xff);

  Tensor c = t.contiguous();
  // Atomic, as every Tessera writer (core/files.h): never a torn .npy after a crash.
  detail::AtomicFile out("save_npy", path);
  out.write(pre);
  out.write(header);
  if (c.numel() > 0) out.write(c.data_ptr(), c.nbytes());
  out.commit();
}

}  // namespace tessera
