// TFRecord framing and CRC32C (see record.h).
#include "summary/record.h"

#include <array>
#include <cstring>

namespace tessera::summary::detail {

namespace {

// Table-driven CRC32C, one byte at a time (reflected polynomial 0x82F63B78). Event files
// are small next to training: a plain table is fast enough and needs no CPU check.
constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kTable = make_table();

void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_le(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

}  // namespace

uint32_t crc32c(const void* data, size_t n) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; ++i) c = kTable[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

void append_record(std::string& out, std::string_view data) {
  std::string header;
  put_le(header, data.size(), 8);
  out += header;
  put_le(out, masked_crc32c(header), 4);
  out.append(data.data(), data.size());
  put_le(out, masked_crc32c(data), 4);
}

Frame read_frame(std::string_view buf, size_t pos) {
  Frame f{FrameStatus::Incomplete, {}};
  if (buf.size() - pos < 12) return f;
  const char* p = buf.data() + pos;
  f.stored = static_cast<uint32_t>(get_le(p + 8, 4));
  f.computed = masked_crc32c(std::string_view(p, 8));
  if (f.stored != f.computed) {
    f.status = FrameStatus::BadLengthCrc;
    return f;
  }
  f.length = get_le(p, 8);
  // Compared without adding to the length, which could overflow for a hostile value.
  if (buf.size() - pos - 12 < 4 || f.length > buf.size() - pos - 12 - 4) return f;  // Incomplete
  f.data = std::string_view(p + 12, f.length);
  f.stored = static_cast<uint32_t>(get_le(p + 12 + f.length, 4));
  f.computed = masked_crc32c(f.data);
  if (f.stored != f.computed) {
    f.status = FrameStatus::BadDataCrc;
    return f;
  }
  f.status = FrameStatus::Ok;
  f.next = pos + kRecordOverhead + f.length;
  return f;
}

}  // namespace tessera::summary::detail
