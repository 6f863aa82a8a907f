#pragma once
// TFRecord framing, the container of TensorBoard event files:
//
//   uint64  length of the data, little-endian
//   uint32  masked CRC32C of those 8 length bytes
//   bytes   the data (one serialized Event)
//   uint32  masked CRC32C of the data
//
// CRC32C is the Castagnoli polynomial (iSCSI, SSE4.2's crc32 instruction); "masked" rotates
// it right by 15 bits and adds a constant, so a CRC stored inside checksummed data does
// not checksum to something trivial.
#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::summary::detail {

uint32_t crc32c(const void* data, size_t n);
inline uint32_t mask_crc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
inline uint32_t masked_crc32c(std::string_view s) { return mask_crc(crc32c(s.data(), s.size())); }

// Appends one framed record holding `data` to `out`.
void append_record(std::string& out, std::string_view data);

inline constexpr size_t kRecordOverhead = 8 + 4 + 4;

// One step of reading framed records from `buf` at `pos`.
enum class FrameStatus { Ok, Incomplete, BadLengthCrc, BadDataCrc };
struct Frame {
  FrameStatus status;
  std::string_view data;  // Ok: the record's data
  uint64_t length = 0;    // the length the header announces (when its CRC held)
  size_t next = 0;        // Ok: where the next record starts
  uint32_t stored = 0, computed = 0;  // the CRCs compared, for BadLengthCrc / BadDataCrc
};
Frame read_frame(std::string_view buf, size_t pos);

}  // namespace tessera::summary::detail
