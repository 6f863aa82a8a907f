// NPY reader/writer: round trips for every dtype, interchange with numpy itself (when
// /usr/bin/python3 has numpy), precise errors on malformed files, and a mutation fuzz that
// only accepts "loads" or "throws tessera::Error" as outcomes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tessera/io.h"
#include "tessera/tensor.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace tessera;

namespace {

std::string scratch_dir() {
  fs::path dir = fs::path(TESSERA_TEST_BINARY_DIR) / "npy_test";
  fs::create_directories(dir);
  return dir.string();
}

// A complete v1.0 file around a given header dict and data payload.
std::string npy_file(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  for (size_t i = 0; i < prefix - 8; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

// Fills a tensor's bytes with a deterministic pattern valid for its dtype.
Tensor patterned(IntArrayRef shape, DType dtype) {
  Tensor t = make_tensor(shape, dtype);
  auto* p = static_cast<unsigned char*>(t.data_ptr());
  for (int64_t i = 0; i < t.numel(); ++i) {
    switch (dtype) {
      case DType::Float32: reinterpret_cast<float*>(p)[i] = 0.25f * static_cast<float>(i) - 3; break;
      case DType::Float64: reinterpret_cast<double*>(p)[i] = 1e-3 * static_cast<double>(i) - 1; break;
      case DType::Int64: reinterpret_cast<int64_t*>(p)[i] = (i - 5) * 1'000'000'007LL; break;
      case DType::Int32: reinterpret_cast<int32_t*>(p)[i] = static_cast<int32_t>(i * 977 - 4000); break;
      case DType::Int8: reinterpret_cast<int8_t*>(p)[i] = static_cast<int8_t>(i * 37 - 100); break;
      case DType::UInt8: p[i] = static_cast<unsigned char>(i * 53); break;
      case DType::Bool: p[i] = (i % 3) == 0; break;
      case DType::Float16: reinterpret_cast<Half*>(p)[i] = Half(0.5f * static_cast<float>(i) - 2); break;
      default: ADD_FAILURE() << "no pattern for " << dtype_name(dtype);
    }
  }
  return t;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || !a.sizes().equals(b.sizes())) return false;
  Tensor ca = a.contiguous(), cb = b.contiguous();
  return ca.nbytes() == 0 || std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.nbytes()) == 0;
}

const DType kNpyDTypes[] = {DType::Float32, DType::Float64, DType::Int64, DType::Int32,
                            DType::Int8,    DType::UInt8,   DType::Bool,  DType::Float16};

bool have_numpy() {
  static const bool ok = fs::exists("/usr/bin/python3") &&
                         std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
  return ok;
}

// Expects load_npy(path) to throw a tessera::Error whose message contains `needle` and
// names the file.
void expect_load_error(const std::string& path, const std::string& needle) {
  try {
    load_npy(path);
    ADD_FAILURE() << path << ": loaded, expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << "message does not name the file: " << msg;
  }
}

}  // namespace

TEST(Npy, RoundTripEveryDTypeAndRank) {
  const std::string dir = scratch_dir();
  const std::vector<Shape> shapes = {{}, {0}, {7}, {2, 3, 4}, {0, 3}, {1, 1, 2, 1, 3}};
  for (DType dt : kNpyDTypes)
    for (const Shape& shape : shapes) {
      Tensor t = patterned(shape, dt);
      std::string path = dir + "/rt_" + dtype_name(dt) + "_" + std::to_string(t.dim()) + ".npy";
      save_npy(path, t);
      Tensor back = load_npy(path);
      EXPECT_TRUE(back.is_contiguous());
      EXPECT_TRUE(same_bytes(t, back)) << dtype_name(dt) << " " << shape_str(shape);
      // Data starts 64-byte aligned, as numpy writes it.
      EXPECT_EQ((read_bytes(path).size() - static_cast<size_t>(t.nbytes())) % 64, 0u);
    }
}

TEST(Npy, SavesNonContiguousViewsInLogicalOrder) {
  Tensor t = patterned({3, 5}, DType::Float32);
  Tensor view = t.t();  // [5, 3], strides (1, 5)
  ASSERT_FALSE(view.is_contiguous());
  std::string path = scratch_dir() + "/view.npy";
  save_npy(path, view);
  Tensor back = load_npy(path);
  ASSERT_EQ(shape_str(back.sizes()), "[5, 3]");
  for (int64_t i = 0; i < 15; ++i) EXPECT_EQ(read_as_double(back, i), read_as_double(view, i));
}

TEST(Npy, SaveRejectsBFloat16) {
  Tensor t = make_tensor({2}, DType::BFloat16);
  EXPECT_THROW(save_npy(scratch_dir() + "/bf16.npy", t), Error);
}

TEST(Npy, LoadsVersionsTwoAndThree) {
  const std::string dir = scratch_dir();
  std::string data(6 * 4, '\0');
  for (int i = 0; i < 6; ++i) {
    float v = static_cast<float>(i) + 0.5f;
    std::memcpy(&data[static_cast<size_t>(i) * 4], &v, 4);
  }
  for (int major : {2, 3}) {
    std::string path = dir + "/v" + std::to_string(major) + ".npy";
    write_bytes(path, npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                               data, major));
    Tensor t = load_npy(path);
    ASSERT_EQ(shape_str(t.sizes()), "[2, 3]");
    EXPECT_EQ(read_as_double(t, 5), 5.5);
  }
}

TEST(Npy, FortranOrderBecomesCContiguous) {
  // Memory holds column-major [2, 3]: logical element (r, c) is at c * 2 + r.
  std::string data(6 * 8, '\0');
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t r = 0; r < 2; ++r) {
      int64_t v = r * 10 + c;
      std::memcpy(&data[static_cast<size_t>(c * 2 + r) * 8], &v, 8);
    }
  std::string path = scratch_dir() + "/fortran.npy";
  write_bytes(path, npy_file("{'descr': '<i8', 'fortran_order': True, 'shape': (2, 3), }", data));
  Tensor t = load_npy(path);
  ASSERT_EQ(shape_str(t.sizes()), "[2, 3]");
  EXPECT_TRUE(t.is_contiguous());
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t c = 0; c < 3; ++c) EXPECT_EQ(read_as_double(t, r * 3 + c), r * 10 + c);
}

TEST(Npy, BoolBytesOtherThanOneReadAsTrue) {
  std::string path = scratch_dir() + "/bool.npy";
  write_bytes(path, npy_file("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }",
                             std::string("\x00\x07\x01", 3)));
  Tensor t = load_npy(path);
  EXPECT_EQ(read_as_double(t, 0), 0.0);
  EXPECT_EQ(read_as_double(t, 1), 1.0);
  EXPECT_EQ(read_as_double(t, 2), 1.0);
}

TEST(Npy, MalformedFilesGivePreciseErrors) {
  const std::string dir = scratch_dir();
  const std::string f4x2(8, '\0');
  struct Case {
    const char* name;
    std::string bytes;
    const char* needle;
  };
  const std::string ok_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  std::string bad_version = npy_file(ok_dict, f4x2);
  bad_version[6] = 9;
  std::string huge_header_len = npy_file(ok_dict, f4x2, 2);
  huge_header_len[8] = huge_header_len[9] = huge_header_len[10] = huge_header_len[11] = '\x7f';
  const std::vector<Case> cases = {
      {"empty", "", "too short"},
      {"magic", "PK\x03\x04 this is a zip file, not npy", "bad magic"},
      {"version", bad_version, "version 9.0"},
      {"header_len", huge_header_len, "implausibly large"},
      {"not_dict", npy_file("['descr', '<f4']", f4x2), "not a dict"},
      {"big_endian", npy_file("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", f4x2),
       "big-endian"},
      {"unknown_dtype",
       npy_file("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", f4x2), "'<c8'"},
      {"structured",
       npy_file("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", f4x2),
       "structured"},
      {"negative_dim",
       npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", f4x2), "negative"},
      {"too_large",
       npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000), }", f4x2),
       "truncated"},
      {"overflow",
       npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
                f4x2),
       "overflow"},
      {"byte_overflow",
       npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }",
                f4x2),
       "overflow"},
      {"dim_digits",
       npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
                f4x2),
       "64 bits"},
      {"trailing", npy_file(ok_dict, f4x2 + "xx"), "unexpected bytes"},
      {"short_data", npy_file(ok_dict, f4x2.substr(0, 5)), "truncated"},
      {"missing_key", npy_file("{'descr': '<f4', 'shape': (2,), }", f4x2), "lacks a key"},
      {"extra_key",
       npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", f4x2),
       "unexpected key"},
      {"bad_bool", npy_file("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", f4x2),
       "True or False"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::string path = dir + "/bad_" + c.name + ".npy";
    write_bytes(path, c.bytes);
    expect_load_error(path, c.needle);
  }
  expect_load_error(dir + "/does_not_exist.npy", "cannot open");
}

// Every prefix of a valid file and a few hundred random header mutations: each load must
// either succeed or throw tessera::Error (never crash, hang or allocate unboundedly; the
// sanitizer build checks the memory side).
TEST(Npy, FuzzTruncationsAndMutations) {
  const std::string dir = scratch_dir();
  const std::string seed_path = dir + "/fuzz_seed.npy";
  save_npy(seed_path, patterned({3, 4}, DType::Float32));
  // Two seeds: numpy's usual layout, and a Fortran-ordered bool file (another code path).
  const std::vector<std::string> seeds = {
      read_bytes(seed_path),
      npy_file("{'descr': '|b1', 'fortran_order': True, 'shape': (2, 3, 1), }",
               std::string("\x01\x00\x01\x01\x00\x00", 6))};
  const std::string path = dir + "/fuzz_case.npy";
  int loaded = 0, rejected = 0;
  auto try_load = [&](const std::string& bytes, const std::string& what) {
    write_bytes(path, bytes);
    try {
      Tensor t = load_npy(path);
      ++loaded;
      // Whatever loaded must be self-consistent.
      EXPECT_LE(static_cast<size_t>(t.nbytes()), bytes.size()) << what;
    } catch (const Error&) {
      ++rejected;
    } catch (const std::exception& e) {
      ADD_FAILURE() << what << ": threw a non-tessera exception: " << e.what();
    }
  };
  std::mt19937 rng(20240611);
  const char interesting[] = "0123456789(),-'\"{}: LTrue\x00\xff\n";
  for (const std::string& valid : seeds) {
    for (size_t n = 0; n < valid.size(); ++n)
      try_load(valid.substr(0, n), "truncated at " + std::to_string(n));
    for (int m = 0; m < 300; ++m) {
      std::string bytes = valid;
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) {
        size_t pos = rng() % 64;  // the preamble and header
        bytes[pos] = (rng() % 2) ? static_cast<char>(rng() & 0xff)
                                 : interesting[rng() % (sizeof(interesting) - 1)];
      }
      try_load(bytes, "mutation " + std::to_string(m));
    }
  }
  EXPECT_GT(rejected, 0);
  EXPECT_GT(loaded, 0);  // some mutations (inside padding) leave the file valid
}

TEST(Npy, ReadsFilesWrittenByNumpy) {
  if (!have_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  const std::string dir = scratch_dir() + "/from_numpy";
  fs::create_directories(dir);
  const std::string script = dir + "/write.py";
  write_bytes(script, R"PY(
import sys, numpy as np
from numpy.lib import format as fmt
out = sys.argv[1]
def values(dt, n):
    i = np.arange(n)
    if dt == '|b1': return (i % 3 == 0)
    return ((i % 11) - 5) * (0.5 if dt[1] == 'f' else 1)
for dt in ['<f4', '<f8', '<i8', '<i4', '|i1', '|u1', '|b1', '<f2']:
    name = dt[1:]
    a = values(dt, 24).astype(np.dtype(dt)).reshape(2, 3, 4)
    np.save(f'{out}/{name}.npy', a)
    np.save(f'{out}/{name}_fortran.npy', np.asfortranarray(a))
    np.save(f'{out}/{name}_scalar.npy', a.reshape(-1)[7].reshape(()))
    np.save(f'{out}/{name}_empty.npy', a.reshape(-1)[:0].reshape(0, 3))
    for v in [(2, 0), (3, 0)]:
        with open(f'{out}/{name}_v{v[0]}.npy', 'wb') as f:
            fmt.write_array(f, a, version=v)
)PY");
  const std::string cmd = "/usr/bin/python3 " + script + " " + dir;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  for (DType dt : kNpyDTypes) {
    std::string name;
    switch (dt) {
      case DType::Bool: name = "b1"; break;
      case DType::Float32: name = "f4"; break;
      case DType::Float64: name = "f8"; break;
      case DType::Int64: name = "i8"; break;
      case DType::Int32: name = "i4"; break;
      case DType::Int8: name = "i1"; break;
      case DType::UInt8: name = "u1"; break;
      case DType::Float16: name = "f2"; break;
      default: break;
    }
    auto expected = [&](int64_t i) -> double {
      if (dt == DType::Bool) return i % 3 == 0;
      double v = static_cast<double>((i % 11) - 5) * (is_floating(dt) ? 0.5 : 1.0);
      if (dt == DType::UInt8) v = static_cast<double>(static_cast<uint8_t>(static_cast<int64_t>(v)));
      return v;
    };
    for (const char* variant : {"", "_fortran", "_v2", "_v3"}) {
      std::string path = dir + "/" + name + variant + ".npy";
      SCOPED_TRACE(path);
      Tensor t = load_npy(path);
      EXPECT_EQ(t.dtype(), dt);
      ASSERT_EQ(shape_str(t.sizes()), "[2, 3, 4]");
      EXPECT_TRUE(t.is_contiguous());
      for (int64_t i = 0; i < 24; ++i) EXPECT_EQ(read_as_double(t, i), expected(i)) << i;
    }
    Tensor s = load_npy(dir + "/" + name + "_scalar.npy");
    EXPECT_EQ(s.dim(), 0);
    EXPECT_EQ(read_as_double(s, 0), expected(7));
    Tensor e = load_npy(dir + "/" + name + "_empty.npy");
    EXPECT_EQ(shape_str(e.sizes()), "[0, 3]");
  }
}

TEST(Npy, NumpyReadsOurFiles) {
  if (!have_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy not available";
  const std::string dir = scratch_dir() + "/to_numpy";
  fs::create_directories(dir);
  for (DType dt : kNpyDTypes) {
    save_npy(dir + "/" + dtype_name(dt) + ".npy", patterned({2, 3, 4}, dt));
    save_npy(dir + "/" + dtype_name(dt) + "_scalar.npy", patterned({}, dt));
  }
  // numpy re-saves each array; identical bytes would be too strict (header spacing may
  // differ), so compare dtype, shape and data bytes instead.
  const std::string script = dir + "/check.py";
  write_bytes(script, R"PY(
import sys, glob, numpy as np
for path in sorted(glob.glob(sys.argv[1] + '/*.npy')):
    a = np.load(path)
    raw = open(path, 'rb').read()
    assert raw[-a.nbytes:] == a.tobytes() if a.nbytes else True, path
    assert a.dtype.itemsize * a.size == a.nbytes
    assert a.ndim == (0 if path.endswith('_scalar.npy') else 3), (path, a.shape)
    print(path, a.dtype, a.shape)
)PY");
  const std::string cmd = "/usr/bin/python3 " + script + " " + dir + " >/dev/null";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}
