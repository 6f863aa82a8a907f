// TensorProto -> Tensor: initializers, Constant values, the test data's .pb files.
// Hostile files declare sizes they do not have: every product of dims is checked for
// overflow and against the limit, and the data actually present must match it exactly,
// before a tensor is allocated, so memory stays bounded by the file's own size.
#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/files.h"
#include "onnx/importer.h"
#include "tessera/error.h"

namespace tessera::onnx::detail {

using tessera::detail::concat;
using P = onnxpb::TensorProto;

const char* onnx_type_name(int32_t t) {
  switch (t) {
    case P::FLOAT: return "float";
    case P::UINT8: return "uint8";
    case P::INT8: return "int8";
    case P::UINT16: return "uint16";
    case P::INT16: return "int16";
    case P::INT32: return "int32";
    case P::INT64: return "int64";
    case P::STRING: return "string";
    case P::BOOL: return "bool";
    case P::FLOAT16: return "float16";
    case P::DOUBLE: return "double";
    case P::UINT32: return "uint32";
    case P::UINT64: return "uint64";
    case P::COMPLEX64: return "complex64";
    case P::COMPLEX128: return "complex128";
    case P::BFLOAT16: return "bfloat16";
    default: return "an unknown type";
  }
}

DType dtype_from_onnx(int32_t t, const std::string& what) {
  switch (t) {
    case P::FLOAT: return DType::Float32;
    case P::UINT8: return DType::UInt8;
    case P::INT8: return DType::Int8;
    case P::INT32: return DType::Int32;
    case P::INT64: return DType::Int64;
    case P::BOOL: return DType::Bool;
    case P::FLOAT16: return DType::Float16;
    case P::DOUBLE: return DType::Float64;
    case P::BFLOAT16: return DType::BFloat16;
    case P::STRING: case P::UINT16: case P::INT16: case P::UINT32: case P::UINT64:
    case P::COMPLEX64: case P::COMPLEX128:
      throw_error(ErrorKind::NotImplemented,
                  concat(what, ": element type ", onnx_type_name(t), " (", t,
                         ") has no Tessera dtype (supported: float, double, float16, bfloat16, "
                         "int8, uint8, int32, int64, bool)"));
    default:
      throw_error(ErrorKind::InvalidArgument,
                  concat(what, ": element type ", t, " is not an ONNX TensorProto.DataType (1 to 16)"));
  }
}

namespace {

// Reads `length` bytes at `offset` of an external data file, which must lie inside
// base_dir: no absolute paths, no "..", and after resolving symlinks still under it.
std::string read_external(const P& p, const TensorLimits& limits, const std::string& what,
                          int64_t expected_bytes) {
  std::string location;
  int64_t offset = 0, length = -1;
  for (const auto& kv : p.external_data()) {
    auto as_int = [&](const std::string& v) {
      TESSERA_CHECK(!v.empty() && v.size() < 19 && v.find_first_not_of("0123456789") == std::string::npos,
                    what, ": external data '", kv.key(), "' must be a non-negative integer, got '", v, "'");
      return static_cast<int64_t>(std::stoll(v));
    };
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset") offset = as_int(kv.value());
    else if (kv.key() == "length") length = as_int(kv.value());
  }
  TESSERA_CHECK(!location.empty(), what, ": external data without a 'location'");
  TESSERA_CHECK(!limits.base_dir.empty(), what, ": external data '", location,
                "' needs the model's folder (import the model from a file, or give base_dir)");
  namespace fs = std::filesystem;
  const fs::path rel(location);
  TESSERA_CHECK(!rel.is_absolute(), what, ": external data location '", location,
                "' is an absolute path; expected a path relative to the model's folder");
  for (const auto& part : rel)
    TESSERA_CHECK(part != "..", what, ": external data location '", location,
                  "' leaves the model's folder ('..'); expected a path inside it");
  std::error_code ec;
  const fs::path base = fs::weakly_canonical(fs::path(limits.base_dir), ec);
  const fs::path full = fs::weakly_canonical(fs::path(limits.base_dir) / rel, ec);
  const std::string b = base.string(), f = full.string();
  TESSERA_CHECK(f.size() > b.size() && f.compare(0, b.size(), b) == 0 &&
                    (b.back() == '/' || f[b.size()] == '/'),
                what, ": external data location '", location, "' resolves to '", f,
                "', outside the model's folder '", b, "'");
  tessera::detail::check_readable_file(what + " external data", f);
  struct stat st {};
  TESSERA_CHECK(::stat(f.c_str(), &st) == 0, what, ": cannot stat '", f, "'");
  const int64_t file_size = static_cast<int64_t>(st.st_size);
  if (length < 0) length = file_size - offset;
  TESSERA_CHECK(length == expected_bytes, what, ": external data holds ", length,
                " bytes; the tensor's dims and type need ", expected_bytes);
  TESSERA_CHECK(offset <= file_size && length <= file_size - offset, what, ": external data '",
                location, "' offset ", offset, " + length ", length, " exceeds the file's ",
                file_size, " bytes");
  std::ifstream in(f, std::ios::binary);
  TESSERA_CHECK_IO(in.good(), what, ": cannot open external data '", f, "'");
  in.seekg(offset);
  std::string bytes(static_cast<size_t>(length), '\0');
  in.read(bytes.data(), length);
  TESSERA_CHECK_IO(in.gcount() == length, what, ": short read of external data '", f, "'");
  return bytes;
}

template <typename Src, typename Dst>
void copy_convert(const Src& src, Dst* dst) {
  for (int i = 0; i < src.size(); ++i) dst[i] = static_cast<Dst>(src.Get(i));
}

}  // namespace

Tensor tensor_from_proto(const P& p, const TensorLimits& limits, const std::string& what) {
  TESSERA_CHECK(p.has_data_type(), what, ": the tensor has no data_type");
  const DType dtype = dtype_from_onnx(p.data_type(), what);
  Shape sizes;
  int64_t numel = 1;
  std::vector<int64_t> declared(p.dims().begin(), p.dims().end());
  int64_t span = 1;  // the product of the non-zero dims: strides must fit int64 even when empty
  for (int64_t d : p.dims()) {
    TESSERA_CHECK(d >= 0, what, ": dims must be >= 0, got ", d, " in ", shape_str(declared));
    TESSERA_CHECK(d == 0 || span <= INT64_MAX / d, what, ": the dims' product overflows int64");
    numel *= d;
    span *= std::max<int64_t>(d, 1);
    sizes.push_back(d);
  }
  TESSERA_CHECK(p.dims_size() <= 64, what, ": ", p.dims_size(), " dims; at most 64 are supported");
  const int64_t isz = static_cast<int64_t>(itemsize(dtype));
  TESSERA_CHECK(numel <= limits.max_bytes / isz, what, ": declares ", numel, " elements of ",
                onnx_type_name(p.data_type()), " (", shape_str(sizes), "), over the limit of ",
                limits.max_bytes, " bytes");
  const int64_t nbytes = numel * isz;

  const bool external = p.data_location() == P::EXTERNAL;
  std::string ext;
  const std::string* raw = nullptr;
  if (external) {
    ext = read_external(p, limits, what, nbytes);
    raw = &ext;
  } else if (p.has_raw_data()) {
    raw = &p.raw_data();
  }
  // Everything the data must hold is checked before the tensor is allocated.
  auto need = [&](int have, const char* field) {
    TESSERA_CHECK(have == numel, what, ": ", field, " holds ", have, " values; dims ", shape_str(sizes),
                  " need ", numel);
  };
  if (raw != nullptr) {
    TESSERA_CHECK(static_cast<int64_t>(raw->size()) == nbytes, what, ": raw_data holds ", raw->size(),
                  " bytes; dims ", shape_str(sizes), " of ", onnx_type_name(p.data_type()), " need ", nbytes);
    Tensor t = make_tensor(sizes, dtype);
    if (nbytes > 0) std::memcpy(t.data_ptr(), raw->data(), static_cast<size_t>(nbytes));
    if (dtype == DType::Bool) {  // any non-zero byte is true; Tessera's bools are 0 or 1
      auto* b = static_cast<uint8_t*>(t.data_ptr());
      for (int64_t i = 0; i < numel; ++i) b[i] = b[i] != 0;
    }
    return t;
  }
  // Typed fields: which one holds the values depends on the type (the IR spec).
  switch (p.data_type()) {
    case P::FLOAT: need(p.float_data_size(), "float_data"); break;
    case P::DOUBLE: need(p.double_data_size(), "double_data"); break;
    case P::INT64: need(p.int64_data_size(), "int64_data"); break;
    default: need(p.int32_data_size(), "int32_data"); break;
  }
  Tensor t = make_tensor(sizes, dtype);
  void* out = t.data_ptr();
  switch (p.data_type()) {
    case P::FLOAT: copy_convert(p.float_data(), static_cast<float*>(out)); break;
    case P::DOUBLE: copy_convert(p.double_data(), static_cast<double*>(out)); break;
    case P::INT64: copy_convert(p.int64_data(), static_cast<int64_t*>(out)); break;
    case P::INT32: copy_convert(p.int32_data(), static_cast<int32_t*>(out)); break;
    case P::INT8: copy_convert(p.int32_data(), static_cast<int8_t*>(out)); break;
    case P::UINT8: copy_convert(p.int32_data(), static_cast<uint8_t*>(out)); break;
    case P::BOOL: {
      auto* b = static_cast<uint8_t*>(out);
      for (int i = 0; i < p.int32_data_size(); ++i) b[i] = p.int32_data(i) != 0;
      break;
    }
    case P::FLOAT16: case P::BFLOAT16:  // the 16 bits of each value, in int32_data
      copy_convert(p.int32_data(), static_cast<uint16_t*>(out));
      break;
    default: TESSERA_INTERNAL_ASSERT(false, "unhandled ONNX type ", p.data_type());
  }
  return t;
}

}  // namespace tessera::onnx::detail

namespace tessera::onnx {

Tensor parse_tensor(std::string_view bytes) {
  onnxpb::TensorProto p;
  TESSERA_CHECK(bytes.size() < static_cast<size_t>(INT_MAX) && p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())),
                "onnx: not a TensorProto (", bytes.size(), " bytes: truncated or another format)");
  detail::TensorLimits limits;
  return detail::tensor_from_proto(p, limits, p.name().empty() ? std::string("tensor") : "tensor '" + p.name() + "'");
}

Tensor load_tensor(const std::string& path) {
  tessera::detail::check_readable_file("onnx::load_tensor", path);
  std::ifstream in(path, std::ios::binary);
  TESSERA_CHECK_IO(in.good(), "onnx::load_tensor: cannot open '", path, "'");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    return parse_tensor(bytes);
  } catch (const Error& e) {
    throw_error(e.kind(), tessera::detail::concat("'", path, "': ", e.what()));
  }
}

}  // namespace tessera::onnx
