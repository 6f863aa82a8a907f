// safetensors reader and writer (the format is summarised in tessera/serialize.h).
//
// The loader follows npy.cc's rule: everything read from the file is untrusted. The header
// length is capped and checked against the file size before the header is read; every
// tensor's offsets are checked against the data size, its byte count against dtype x
// shape, and the tensors must tile the data exactly (no overlap, no hole, nothing left
// over), as the format requires. Only then is memory allocated, and never more than the
// file holds.
//
// Error kinds: a missing or unreadable file is an IOError; content that is not valid
// safetensors an InvalidArgumentError naming what was expected and what came; a valid file
// using what Tessera lacks (an F8 or U16 tensor) a NotImplementedError.
#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <fstream>
#include <limits>
#include <set>

#include "core/files.h"
#include "io/json.h"
#include "tessera/serialize.h"

namespace tessera {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian and copied as is; a big-endian host needs swaps");

// The reference implementation refuses headers over 100 MB; so do we.
constexpr uint64_t kMaxHeaderLen = 100ull << 20;
constexpr size_t kMaxRank = 64;
constexpr const char* kMetadataKey = "__metadata__";

#define ST_CHECK(cond, path, ...) \
  TESSERA_CHECK(cond, "load_safetensors: '", path, "': ", __VA_ARGS__)
#define ST_CHECK_IO(cond, path, ...) \
  TESSERA_CHECK_IO(cond, "load_safetensors: '", path, "': ", __VA_ARGS__)
#define ST_SAVE_CHECK(cond, path, ...) \
  TESSERA_CHECK(cond, "save_safetensors: '", path, "': ", __VA_ARGS__)

struct DTypeName {
  const char* name;
  DType dtype;
};
constexpr DTypeName kDTypes[] = {
    {"F64", DType::Float64}, {"F32", DType::Float32}, {"F16", DType::Float16},
    {"BF16", DType::BFloat16}, {"I64", DType::Int64}, {"I32", DType::Int32},
    {"I8", DType::Int8},     {"U8", DType::UInt8},   {"BOOL", DType::Bool},
};
constexpr const char* kSupported = "F64 F32 F16 BF16 I64 I32 I8 U8 BOOL";
// The format's other dtypes: a file using them is valid, Tessera just cannot hold them.
constexpr const char* kKnownUnsupported[] = {"F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2",
                                             "F4", "I16", "U16", "U32", "U64", "C64"};

const char* name_of(DType t) {
  for (const DTypeName& d : kDTypes)
    if (d.dtype == t) return d.name;
  return nullptr;
}

// One tensor's header entry, validated.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

// "an array", "a number", ... for messages.
std::string a_kind(json::Value::Kind kind) {
  const std::string name = json::kind_name(kind);
  return (name[0] == 'a' || name[0] == 'o' ? "an " : "a ") + name;
}

std::string range_str(uint64_t begin, uint64_t end) {
  // Appended, not `"[" + ...`: GCC 12's -Wrestrict misfires on the latter (bug 105329).
  std::string s = "[";
  s.append(std::to_string(begin)).append(", ").append(std::to_string(end)).append(")");
  return s;
}

Entry parse_entry(const std::string& name, const json::Value& v, uint64_t data_size,
                  const std::string& path) {
  const std::string what = "tensor " + json::quote(name);
  ST_CHECK(v.is_object(), path, what, ": expected an object, got ", a_kind(v.kind));
  for (const auto& [key, unused] : v.members)
    ST_CHECK(key == "dtype" || key == "shape" || key == "data_offsets", path, what,
             ": unexpected key ", json::quote(key),
             " (expected \"dtype\", \"shape\", \"data_offsets\")");
  const json::Value* dt = v.find("dtype");
  const json::Value* shape = v.find("shape");
  const json::Value* offsets = v.find("data_offsets");
  ST_CHECK(dt != nullptr && shape != nullptr && offsets != nullptr, path, what,
           ": lacks ", dt == nullptr ? "\"dtype\"" : shape == nullptr ? "\"shape\"" : "\"data_offsets\"");

  Entry e;
  e.name = name;
  ST_CHECK(dt->is_string(), path, what, ": \"dtype\" must be a string");
  const DTypeName* found = nullptr;
  for (const DTypeName& d : kDTypes)
    if (dt->text == d.name) found = &d;
  if (found == nullptr) {
    const bool known = std::find_if(std::begin(kKnownUnsupported), std::end(kKnownUnsupported),
                                    [&](const char* n) { return dt->text == n; }) !=
                       std::end(kKnownUnsupported);
    TESSERA_CHECK_IMPLEMENTED(!known, "load_safetensors: '", path, "': ", what, ": dtype ",
                              json::quote(dt->text), " is not supported (supported: ", kSupported,
                              ")");
    ST_CHECK(false, path, what, ": dtype ", json::quote(dt->text),
             " is not a safetensors dtype (supported: ", kSupported, ")");
  }
  e.dtype = found->dtype;

  ST_CHECK(shape->is_array(), path, what, ": \"shape\" must be an array");
  ST_CHECK(shape->items.size() <= kMaxRank, path, what, ": shape has ", shape->items.size(),
           " dimensions (at most ", kMaxRank, " supported)");
  uint64_t numel = 1;
  for (const json::Value& d : shape->items) {
    uint64_t n = 0;
    ST_CHECK(d.to_uint64(n) && n <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
             path, what, ": shape entries must be non-negative integers, got ",
             d.is_number() ? d.text : json::kind_name(d.kind));
    ST_CHECK(!__builtin_mul_overflow(numel, n, &numel), path, what,
             ": shape has too many elements (overflow)");
    e.shape.push_back(static_cast<int64_t>(n));
  }
  uint64_t nbytes = 0;
  ST_CHECK(numel <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) &&
               !__builtin_mul_overflow(numel, static_cast<uint64_t>(itemsize(e.dtype)), &nbytes),
           path, what, ": shape ", shape_str(e.shape), " overflows the byte count");

  ST_CHECK(offsets->is_array() && offsets->items.size() == 2, path, what,
           ": \"data_offsets\" must be an array of two integers");
  ST_CHECK(offsets->items[0].to_uint64(e.begin) && offsets->items[1].to_uint64(e.end), path,
           what, ": \"data_offsets\" must be non-negative integers");
  ST_CHECK(e.begin <= e.end, path, what, ": data_offsets ", range_str(e.begin, e.end),
           " end before they begin");
  ST_CHECK(e.end <= data_size, path, what, ": data_offsets ", range_str(e.begin, e.end),
           " run past the end of the data (", data_size, " bytes; the file is truncated or corrupt)");
  ST_CHECK(e.end - e.begin == nbytes, path, what, ": data_offsets ", range_str(e.begin, e.end),
           " hold ", e.end - e.begin, " bytes, but ", dt->text, " ", shape_str(e.shape),
           " needs ", nbytes);
  return e;
}

}  // namespace

SafetensorsContents load_safetensors(const std::string& path) {
  detail::check_readable_file("load_safetensors", path);
  std::ifstream in(path, std::ios::binary);
  ST_CHECK_IO(in.is_open(), path, "cannot open the file: ", detail::errno_text(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff end = in.tellg();
  ST_CHECK_IO(end >= 0, path, "cannot determine the file size");
  in.seekg(0, std::ios::beg);
  const uint64_t file_size = static_cast<uint64_t>(end);

  ST_CHECK(file_size >= 8, path, "file is too short to be safetensors (", file_size,
           " bytes; the header length alone takes 8)");
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  ST_CHECK_IO(in.good(), path, "read error in the header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  ST_CHECK(header_len <= kMaxHeaderLen, path, "header length ", header_len,
           " exceeds the limit of ", kMaxHeaderLen, " bytes (corrupt or not safetensors)");
  ST_CHECK(header_len <= file_size - 8, path, "file is truncated: the header claims ",
           header_len, " bytes but only ", file_size - 8, " follow the length");
  ST_CHECK(header_len >= 2, path, "header of ", header_len,
           " bytes is too short to hold a JSON object");

  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  ST_CHECK_IO(in.good(), path, "read error in the header");
  ST_CHECK(header[0] == '{', path, "header does not start with '{' (not safetensors?)");
  const json::Value root = json::parse(header, "load_safetensors: '" + path + "': header");
  ST_CHECK(root.is_object(), path, "header is not a JSON object");

  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = file_size - data_start;
  SafetensorsContents out;
  std::vector<Entry> entries;
  entries.reserve(root.members.size());
  for (const auto& [name, value] : root.members) {
    if (name == kMetadataKey) {
      ST_CHECK(value.is_object(), path, "\"__metadata__\" must be an object of strings, got ",
               a_kind(value.kind));
      for (const auto& [key, v] : value.members) {
        ST_CHECK(v.is_string(), path, "metadata ", json::quote(key),
                 ": values must be strings, got ", a_kind(v.kind));
        out.metadata[key] = v.text;
      }
      continue;
    }
    ST_CHECK(!name.empty(), path, "a tensor has an empty name");
    entries.push_back(parse_entry(name, value, data_size, path));
  }

  // The tensors must tile the data buffer: sorted by offset, each begins where the one
  // before ends, and the last ends at the end of the file.
  std::vector<size_t> order(entries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return entries[a].begin != entries[b].begin ? entries[a].begin < entries[b].begin
                                                : entries[a].end < entries[b].end;
  });
  uint64_t cursor = 0;
  const Entry* prev = nullptr;
  for (size_t i : order) {
    const Entry& e = entries[i];
    ST_CHECK(e.begin >= cursor, path, "tensors ", json::quote(prev != nullptr ? prev->name : ""),
             " ", range_str(prev != nullptr ? prev->begin : 0, cursor), " and ",
             json::quote(e.name), " ", range_str(e.begin, e.end), " overlap");
    ST_CHECK(e.begin == cursor, path, "data bytes ", range_str(cursor, e.begin),
             " belong to no tensor (the format allows no holes)");
    cursor = e.end;
    prev = &e;
  }
  ST_CHECK(cursor == data_size, path, "file has ", data_size - cursor,
           " bytes after the last tensor's data (corrupt, or a header from another file)");

  // Everything checks out; read the data in file order.
  std::vector<Tensor> tensors(entries.size());
  for (size_t i : order) {
    const Entry& e = entries[i];
    Tensor t = make_tensor(e.shape, e.dtype);
    const uint64_t n = e.end - e.begin;
    if (n > 0) {
      in.seekg(static_cast<std::streamoff>(data_start + e.begin), std::ios::beg);
      in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(n));
      ST_CHECK_IO(in.good(), path, "read error in the data of ", json::quote(e.name));
    }
    if (e.dtype == DType::Bool) {
      // Any byte but 0/1 read as bool would be undefined behaviour; nonzero means true.
      auto* p = static_cast<unsigned char*>(t.data_ptr());
      for (uint64_t k = 0; k < n; ++k) p[k] = p[k] != 0;
    }
    tensors[i] = std::move(t);
  }
  out.tensors.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i)
    out.tensors.emplace_back(std::move(entries[i].name), std::move(tensors[i]));
  return out;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const Metadata& metadata) {
  std::set<std::string> names;
  std::vector<Tensor> data(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, t] = tensors.entry(i);
    ST_SAVE_CHECK(!name.empty(), path, "tensor ", i, " has an empty name");
    ST_SAVE_CHECK(name != kMetadataKey, path, "\"__metadata__\" is reserved, not a tensor name");
    ST_SAVE_CHECK(json::valid_utf8(name), path, "tensor name ", i, " is not valid UTF-8");
    ST_SAVE_CHECK(names.insert(name).second, path, "two tensors are named ", json::quote(name));
    ST_SAVE_CHECK(t.defined(), path, "tensor ", json::quote(name), " is undefined");
    ST_SAVE_CHECK(name_of(t.dtype()) != nullptr, path, "tensor ", json::quote(name), ": ",
                  dtype_name(t.dtype()), " has no safetensors dtype");
    data[i] = t.detach().contiguous();
  }
  for (const auto& [k, v] : metadata)
    ST_SAVE_CHECK(json::valid_utf8(k) && json::valid_utf8(v), path, "metadata ",
                  json::quote(json::valid_utf8(k) ? k : "?"), " is not valid UTF-8");

  // Data in order of decreasing element size, so with the data start 8-byte aligned every
  // tensor is aligned to its element (what the reference writer does, for mmap readers);
  // the header keeps the caller's order.
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return data[a].itemsize() > data[b].itemsize();
  });
  std::vector<uint64_t> begin(tensors.size());
  uint64_t cursor = 0;
  for (size_t i : order) {
    begin[i] = cursor;
    cursor += data[i].nbytes();
  }

  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!first) header += ',';
      first = false;
      header += json::quote(k) + ":" + json::quote(v);
    }
    header += "}";
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (header.size() > 1) header += ',';
    header += json::quote(tensors.entry(i).first) + ":{\"dtype\":\"" + name_of(data[i].dtype()) +
              "\",\"shape\":[";
    for (int64_t d = 0; d < data[i].dim(); ++d) {
      if (d > 0) header += ',';
      header += std::to_string(data[i].size(d));
    }
    header += "],\"data_offsets\":[" + std::to_string(begin[i]) + "," +
              std::to_string(begin[i] + data[i].nbytes()) + "]}";
  }
  header += "}";
  while ((8 + header.size()) % 8 != 0) header += ' ';

  unsigned char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(header.size() >> (8 * i));

  // Atomic replacement (core/files.h): a save killed midway leaves the old file, and its
  // temporary is removed by the next save of the same path.
  detail::AtomicFile out("save_safetensors", path);
  out.write(len_bytes, 8);
  out.write(header);
  for (size_t i : order)
    if (data[i].nbytes() > 0) out.write(data[i].data_ptr(), data[i].nbytes());
  out.commit();
}

}  // namespace tessera
