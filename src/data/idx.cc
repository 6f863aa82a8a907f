// IDX reader and writer (the MNIST family's format, http://yann.lecun.com/exdb/mnist/):
//   bytes 0-1  zero
//   byte 2     element type: 0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64
//   byte 3     number of dims
//   then       one 32-bit big-endian size per dim, then the data, big-endian, row-major.
// Datasets ship gzip'd (Debian's dataset-fashion-mnist does); zlib reads both forms.
//
// Untrusted input: a raw file's data size must equal what the header says, exactly. A
// gzip'd file's decompressed size is unknown until it is read, so the header's claim is
// checked against the most its compressed size could expand to (deflate's ratio is at
// most 1032:1) before anything is allocated; then a short or overlong stream, a bad CRC or
// a corrupt block is an error naming the file.
//
// Error kinds: a missing or unreadable file is an IOError; bad content (magic, type code,
// sizes, a corrupt or short gzip stream) an InvalidArgumentError naming what was expected.
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <vector>

#include "core/files.h"
#include "tessera/data.h"

namespace tessera::data {

namespace files = ::tessera::detail;  // core/files.h
namespace {

#define IDX_CHECK(cond, path, ...) TESSERA_CHECK(cond, "read_idx: '", path, "': ", __VA_ARGS__)
#define IDX_CHECK_IO(cond, path, ...) \
  TESSERA_CHECK_IO(cond, "read_idx: '", path, "': ", __VA_ARGS__)

constexpr uint64_t kMaxDeflateRatio = 1032;

struct IdxType {
  unsigned char code;
  int file_size;  // bytes per element in the file
  DType dtype;    // what it is returned as
  const char* name;
};
constexpr IdxType kTypes[] = {
    {0x08, 1, DType::UInt8, "u8"},   {0x09, 1, DType::Int8, "i8"},
    {0x0B, 2, DType::Int32, "i16"},  {0x0C, 4, DType::Int32, "i32"},
    {0x0D, 4, DType::Float32, "f32"}, {0x0E, 8, DType::Float64, "f64"},
};

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzPtr = std::unique_ptr<gzFile_s, GzCloser>;

std::string zlib_error(gzFile f) {
  int code = Z_OK;
  const char* msg = gzerror(f, &code);
  if (code == Z_OK || msg == nullptr) return "";
  // zlib prefixes "<path>: "; the message already names the file.
  std::string text = msg;
  const size_t colon = text.rfind(": ");
  if (colon != std::string::npos) text = text.substr(colon + 2);
  return " (zlib: " + text + ")";
}

// Reads up to n bytes; returns how many arrived (fewer at the end of the stream), or
// throws on a zlib error.
uint64_t read_some(gzFile f, void* dst, uint64_t n, const std::string& path) {
  auto* p = static_cast<char*>(dst);
  uint64_t got = 0;
  while (got < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<uint64_t>(n - got, 1u << 30));
    const int r = gzread(f, p + got, chunk);
    IDX_CHECK(r >= 0, path, "the gzip stream is corrupt", zlib_error(f));
    if (r == 0) break;
    got += static_cast<uint64_t>(r);
  }
  return got;
}

void swap_in_place(void* data, int64_t n, int size) {
  if (size == 4) {
    auto* p = static_cast<uint32_t*>(data);
    for (int64_t i = 0; i < n; ++i) p[i] = __builtin_bswap32(p[i]);
  } else if (size == 8) {
    auto* p = static_cast<uint64_t*>(data);
    for (int64_t i = 0; i < n; ++i) p[i] = __builtin_bswap64(p[i]);
  }
}

}  // namespace

Tensor read_idx(const std::string& path) {
  static_assert(std::endian::native == std::endian::little, "read_idx swaps big-endian to little");
  files::check_readable_file("read_idx", path);
  std::error_code ec;
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  IDX_CHECK_IO(!ec, path, "cannot open the file: ", ec.message());
  unsigned char sniff[2] = {0, 0};
  {
    std::ifstream in(path, std::ios::binary);
    IDX_CHECK_IO(in.is_open(), path, "cannot open the file: ", files::errno_text(errno));
    in.read(reinterpret_cast<char*>(sniff), 2);
  }
  const bool gzipped = file_size >= 2 && sniff[0] == 0x1f && sniff[1] == 0x8b;
  // zlib reads a file without the gzip magic transparently, so one code path serves both.
  GzPtr f(gzopen(path.c_str(), "rb"));
  IDX_CHECK_IO(f != nullptr, path, "cannot open the file: ", files::errno_text(errno));
  gzbuffer(f.get(), 1 << 17);

  unsigned char magic[4];
  IDX_CHECK(read_some(f.get(), magic, 4, path) == 4, path,
            "file is truncated: too short for the 4-byte IDX magic", zlib_error(f.get()));
  IDX_CHECK(magic[0] == 0 && magic[1] == 0, path,
            "bad magic (not an IDX file: it must start with two zero bytes)");
  const IdxType* type = nullptr;
  for (const IdxType& t : kTypes)
    if (t.code == magic[2]) type = &t;
  char code_hex[8];
  std::snprintf(code_hex, sizeof code_hex, "0x%02x", magic[2]);
  IDX_CHECK(type != nullptr, path, "unknown element type code ", code_hex,
            " (IDX knows 0x08 u8, 0x09 i8, 0x0b i16, 0x0c i32, 0x0d f32, 0x0e f64)");
  const int rank = magic[3];
  IDX_CHECK(rank >= 1, path, "header declares 0 dimensions");

  unsigned char dims_be[4 * 255];
  IDX_CHECK(read_some(f.get(), dims_be, 4u * rank, path) == 4u * rank, path,
            "file is truncated in the header (", rank, " dimension sizes expected)",
            zlib_error(f.get()));
  Shape shape;
  uint64_t numel = 1;
  for (int i = 0; i < rank; ++i) {
    const unsigned char* b = dims_be + 4 * i;
    const uint32_t d = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
    IDX_CHECK(d <= static_cast<uint32_t>(std::numeric_limits<int32_t>::max()), path,
              "dimension ", i, " has size ", d, ", beyond IDX's signed 32-bit sizes");
    shape.push_back(d);
    IDX_CHECK(!__builtin_mul_overflow(numel, uint64_t{d}, &numel), path, "shape ",
              shape_str(shape), "... has too many elements (overflow)");
  }
  uint64_t nbytes = 0;
  IDX_CHECK(!__builtin_mul_overflow(numel, static_cast<uint64_t>(type->file_size), &nbytes) &&
                numel <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max() / 8),
            path, "shape ", shape_str(shape), " overflows the byte count");
  const uint64_t header = 4 + 4u * static_cast<uint64_t>(rank);
  if (gzipped) {
    const uint64_t most = file_size * kMaxDeflateRatio;
    IDX_CHECK(nbytes <= most, path, "header claims ", type->name, " ", shape_str(shape), " (",
              nbytes, " bytes), more than a gzip file of ", file_size,
              " bytes can hold (corrupt or hostile header)");
  } else {
    const uint64_t available = file_size - header;
    IDX_CHECK(nbytes <= available, path, "file is truncated: ", type->name, " ",
              shape_str(shape), " needs ", nbytes, " data bytes, the file has ", available);
    IDX_CHECK(nbytes == available, path, "file has ", available - nbytes,
              " unexpected bytes after the data (", type->name, " ", shape_str(shape), ")");
  }

  // A gzip'd payload is decompressed into geometrically growing chunks first, so memory
  // follows the bytes that actually arrive, not what the header claims (a hostile header
  // within the 1032:1 bound could still ask for gigabytes); a raw file's size is known.
  std::vector<std::vector<unsigned char>> chunks;
  uint64_t got = 0;
  if (gzipped) {
    while (got < nbytes) {
      const uint64_t want = std::min<uint64_t>(nbytes - got, std::max<uint64_t>(got, 1u << 20));
      chunks.emplace_back(want);
      const uint64_t r = read_some(f.get(), chunks.back().data(), want, path);
      got += r;
      if (r < want) break;
    }
    IDX_CHECK(got == nbytes, path, "file is truncated: ", type->name, " ", shape_str(shape),
              " needs ", nbytes, " data bytes, only ", got, " present", zlib_error(f.get()));
    // Reading past the data checks the gzip trailer (CRC and length) and finds extra bytes.
    unsigned char extra;
    const uint64_t more = read_some(f.get(), &extra, 1, path);
    IDX_CHECK(more == 0, path, "unexpected bytes after the data (", type->name, " ",
              shape_str(shape), ")");
    IDX_CHECK(zlib_error(f.get()).empty(), path, "the compressed stream is incomplete",
              zlib_error(f.get()));
  }

  Tensor out = make_tensor(shape, type->dtype);
  std::vector<unsigned char> staging;
  void* dst = out.data_ptr();
  if (type->file_size == 2) {  // i16 widens to i32: gather the bytes in a side buffer first
    staging.resize(nbytes);
    dst = staging.data();
  }
  if (gzipped) {
    auto* p = static_cast<unsigned char*>(dst);
    for (const auto& c : chunks) {
      std::memcpy(p, c.data(), c.size());
      p += c.size();
    }
    chunks.clear();
  } else {
    got = read_some(f.get(), dst, nbytes, path);
    IDX_CHECK(got == nbytes, path, "file is truncated: ", type->name, " ", shape_str(shape),
              " needs ", nbytes, " data bytes, only ", got, " present", zlib_error(f.get()));
  }

  const int64_t n = static_cast<int64_t>(numel);
  if (type->file_size == 2) {
    auto* o = out.data<int32_t>();
    for (int64_t i = 0; i < n; ++i)
      o[i] = static_cast<int16_t>((staging[2 * i] << 8) | staging[2 * i + 1]);
  } else {
    swap_in_place(dst, n, type->file_size);
  }
  return out;
}

void write_idx(const std::string& path, const Tensor& t) {
  TESSERA_CHECK(t.defined(), "write_idx: '", path, "': the tensor is undefined");
  unsigned char code = 0;
  for (const IdxType& ty : kTypes)
    if (ty.dtype == t.dtype() && ty.file_size == static_cast<int>(t.itemsize())) code = ty.code;
  TESSERA_CHECK(code != 0, "write_idx: '", path, "': ", dtype_name(t.dtype()),
                " has no IDX type (u8, i8, i32, f32, f64)");
  TESSERA_CHECK(t.dim() >= 1 && t.dim() <= 255, "write_idx: '", path, "': rank ", t.dim(),
                " is outside IDX's 1 to 255");
  std::string bytes = {0, 0, static_cast<char>(code), static_cast<char>(t.dim())};
  for (int64_t d : t.sizes()) {
    TESSERA_CHECK(d <= std::numeric_limits<int32_t>::max(), "write_idx: '", path,
                  "': dimension size ", d, " exceeds IDX's 32-bit sizes");
    for (int s = 24; s >= 0; s -= 8) bytes += static_cast<char>((d >> s) & 0xff);
  }
  const Tensor c = t.contiguous();
  const size_t head = bytes.size();
  bytes.resize(head + c.nbytes());
  if (c.nbytes() > 0) std::memcpy(&bytes[head], c.data_ptr(), c.nbytes());
  swap_in_place(&bytes[head], c.numel(), static_cast<int>(c.itemsize()));

  // Atomic, as every Tessera writer (core/files.h). A gzip'd file is compressed through
  // zlib on a duplicate of the temporary's descriptor: gzclose closes the duplicate, and
  // the temporary stays open (and locked) for the fsync and rename of commit().
  files::AtomicFile out("write_idx", path);
  const bool gz = path.size() >= 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  if (gz) {
    const int dup_fd = ::dup(out.fd());
    TESSERA_CHECK_IO(dup_fd >= 0, "write_idx: '", path, "': dup failed: ",
                     files::errno_text(errno));
    gzFile f = gzdopen(dup_fd, "wb");
    if (f == nullptr) ::close(dup_fd);
    TESSERA_CHECK_ALLOC(f != nullptr, "write_idx: '", path, "': zlib could not set up a stream");
    size_t done = 0;
    int err = 0;  // the first failure's errno (0: zlib's own error)
    bool ok = true;
    while (ok && done < bytes.size()) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(bytes.size() - done, 1u << 30));
      errno = 0;
      const int w = gzwrite(f, bytes.data() + done, chunk);
      ok = w > 0;
      if (!ok) err = errno;
      done += static_cast<size_t>(std::max(w, 0));
    }
    errno = 0;
    const int rc = gzclose(f);  // flushes the last block: a full disk may show only here
    if (ok && rc != Z_OK) err = errno;
    TESSERA_CHECK_IO(ok && rc == Z_OK, "write_idx: '", path, "': writing '", out.temp_path(),
                     "' failed: ", err != 0 ? files::errno_text(err) : "zlib error");
  } else {
    out.write(bytes);
  }
  out.commit();
}

}  // namespace tessera::data
