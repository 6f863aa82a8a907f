// safetensors: round trips for every dtype, the exact byte layout of the format, atomic
// writes, checkpoints, interchange with Python (a reader/writer written from the spec with
// only json and struct, and the safetensors package itself when installed), and hostile
// files: every truncation of a small file, seeded random header mutations and hand-made
// attacks. The only acceptable outcomes for a bad file are "loads" or "throws
// tessera::Error naming the file".
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "tessera/serialize.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace tessera;

namespace {

std::string scratch_dir() {
  fs::path dir = fs::path(TESSERA_TEST_BINARY_DIR) / "safetensors_test";
  fs::create_directories(dir);
  return dir.string();
}

// A file from a header text and a data payload, with the 8-byte length in front.
std::string st_file(const std::string& header, const std::string& data) {
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

Tensor patterned(IntArrayRef shape, DType dtype) {
  Tensor t = make_tensor(shape, dtype);
  auto* p = static_cast<unsigned char*>(t.data_ptr());
  for (int64_t i = 0; i < t.numel(); ++i) {
    const float f = 0.25f * static_cast<float>(i) - 3;
    switch (dtype) {
      case DType::Float32: reinterpret_cast<float*>(p)[i] = f; break;
      case DType::Float64: reinterpret_cast<double*>(p)[i] = 1e-3 * static_cast<double>(i) - 1; break;
      case DType::Float16: reinterpret_cast<Half*>(p)[i] = Half(f); break;
      case DType::BFloat16: reinterpret_cast<BFloat16*>(p)[i] = BFloat16(f); break;
      case DType::Int64: reinterpret_cast<int64_t*>(p)[i] = (i - 5) * 1'000'000'007LL; break;
      case DType::Int32: reinterpret_cast<int32_t*>(p)[i] = static_cast<int32_t>(i * 977 - 4000); break;
      case DType::Int8: reinterpret_cast<int8_t*>(p)[i] = static_cast<int8_t>(i * 37 - 100); break;
      case DType::UInt8: p[i] = static_cast<unsigned char>(i * 53); break;
      case DType::Bool: p[i] = (i % 3) == 0; break;
    }
  }
  return t;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || !a.sizes().equals(b.sizes())) return false;
  Tensor ca = a.contiguous(), cb = b.contiguous();
  return ca.nbytes() == 0 || std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.nbytes()) == 0;
}

const DType kAllDTypes[] = {DType::Float64, DType::Float32, DType::Float16,
                            DType::BFloat16, DType::Int64,  DType::Int32,
                            DType::Int8,    DType::UInt8,   DType::Bool};

// Expects load_safetensors(path) to throw a tessera::Error containing `needle` and the
// path, and prints the message (the acceptance criteria ask to see the texts).
void expect_load_error(const std::string& path, const std::string& needle, bool print = true) {
  try {
    load_safetensors(path);
    ADD_FAILURE() << path << ": loaded, expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << "message: " << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << "message does not name the file: " << msg;
    if (print) std::cout << "  [error text] " << msg << "\n";
  }
}

bool have_python() { return fs::exists("/usr/bin/python3"); }
// The Python with numpy and the safetensors package (PyPI's, which Debian 12 does not
// package): build/venv's (scripts/venv installs it from scripts/venv-requirements.txt),
// else /usr/bin/python3; "" when neither imports them. `tried` lists where it looked.
std::string python_with_safetensors(std::string& tried) {
  for (const std::string& p : {std::string(TESSERA_TEST_DIR) + "/../build/venv/bin/python", std::string("/usr/bin/python3")}) {
    tried += (tried.empty() ? "" : ", ") + p;
    if (fs::exists(p) &&
        std::system((p + " -c 'import numpy, safetensors.numpy' >/dev/null 2>&1").c_str()) == 0)
      return p;
  }
  return "";
}

}  // namespace

TEST(Safetensors, RoundTripEveryDTypeAndRank) {
  const std::string path = scratch_dir() + "/all.safetensors";
  NamedTensors tensors;
  const std::vector<Shape> shapes = {{}, {0}, {7}, {2, 3, 4}};
  for (DType dt : kAllDTypes)
    for (const Shape& s : shapes)
      tensors.emplace_back(std::string(dtype_name(dt)) + "/r" + std::to_string(s.size()) +
                               (s.size() == 1 && s[0] == 0 ? "e" : ""),
                           patterned(s, dt));
  const Metadata meta = {{"format", "pt"}, {"note", "quote \" backslash \\ newline \n \xc3\xa9"}};
  save_safetensors(path, tensors, meta);

  SafetensorsContents back = load_safetensors(path);
  ASSERT_EQ(back.tensors.size(), tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(back.tensors[i].first, tensors[i].first) << "order is the saved order";
    EXPECT_TRUE(same_bytes(back.tensors[i].second, tensors[i].second)) << tensors[i].first;
  }
  EXPECT_EQ(back.metadata, meta);

  // The layout the format prescribes: little-endian length, '{', data 8-byte aligned.
  const std::string bytes = read_bytes(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  EXPECT_EQ(bytes[8], '{');
  EXPECT_EQ((8 + n) % 8, 0u);
  EXPECT_LE(8 + n, bytes.size());
}

TEST(Safetensors, SavesViewsInLogicalOrderAndEmptyFiles) {
  const std::string dir = scratch_dir();
  Tensor t = patterned({3, 5}, DType::Float32);
  save_safetensors(dir + "/view.safetensors", {{"t", t.t()}});
  Tensor back = load_safetensors(dir + "/view.safetensors").tensors[0].second;
  ASSERT_EQ(shape_str(back.sizes()), "[5, 3]");
  for (int64_t i = 0; i < 15; ++i) EXPECT_EQ(read_as_double(back, i), read_as_double(t.t(), i));

  save_safetensors(dir + "/empty.safetensors", {});
  SafetensorsContents empty = load_safetensors(dir + "/empty.safetensors");
  EXPECT_TRUE(empty.tensors.empty());
  EXPECT_TRUE(empty.metadata.empty());
}

TEST(Safetensors, SaveRejectsBadNames) {
  const std::string path = scratch_dir() + "/bad.safetensors";
  Tensor t = patterned({2}, DType::Float32);
  // A repeated or empty name is refused already when the StateDict is built.
  EXPECT_ERROR_HAS(save_safetensors(path, {{"a", t}, {"a", t}}), "StateDict: duplicate key 'a'");
  EXPECT_ERROR_HAS(save_safetensors(path, {{"", t}}), "StateDict: empty key");
  EXPECT_ERROR_HAS(save_safetensors(path, {{"__metadata__", t}}), "reserved");
  EXPECT_ERROR_HAS(save_safetensors(path, {{"u", Tensor()}}), "undefined");
  EXPECT_ERROR_HAS(save_safetensors(path, {{"bad\xff", t}}), "UTF-8");
  EXPECT_FALSE(fs::exists(path));
}

TEST(Safetensors, WritesAreAtomic) {
  const std::string dir = scratch_dir() + "/atomic";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = dir + "/w.safetensors";
  save_safetensors(path, {{"a", patterned({4}, DType::Float32)}});
  save_safetensors(path, {{"b", patterned({2}, DType::Int64)}});  // replaces it whole
  SafetensorsContents c = load_safetensors(path);
  ASSERT_EQ(c.tensors.size(), 1u);
  EXPECT_EQ(c.tensors[0].first, "b");
  // No temporary file is left behind.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    ++files;
    EXPECT_EQ(e.path().filename(), "w.safetensors");
  }
  EXPECT_EQ(files, 1);
  // A failing write names the folder and the reason, and leaves nothing.
  EXPECT_ERROR_HAS(save_safetensors(dir + "/no/such/dir/x.safetensors", {}),
                   "the folder '" + dir + "/no/such/dir' does not exist");
}

TEST(Safetensors, HostileFilesGivePreciseErrors) {
  const std::string dir = scratch_dir();
  const std::string f32x2(8, '\0');
  struct Case {
    const char* name;
    std::string bytes;
    const char* needle;
  };
  const std::string ok = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string huge_len = st_file(ok, f32x2);
  for (int i = 0; i < 8; ++i) huge_len[static_cast<size_t>(i)] = '\xff';
  std::string long_len = st_file(ok, f32x2);
  long_len[0] = static_cast<char>(ok.size() + 9);
  std::string deep = "{\"a\":";
  for (int i = 0; i < 100000; ++i) deep += '[';
  const std::vector<Case> cases = {
      {"empty", "", "too short"},
      {"short", "\x05\0\0", "too short"},
      {"huge_header_len", huge_len, "exceeds the limit"},
      {"header_past_end", long_len, "truncated"},
      {"not_json", st_file("{nope}", ""), "invalid JSON"},
      {"not_object", st_file("[1,2]   ", ""), "does not start with '{'"},
      {"trailing_comma", st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},})", f32x2),
       "invalid JSON"},
      {"deep_nesting", st_file(deep, ""), "nesting deeper"},
      {"duplicate", st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f32x2),
       "duplicate key \"a\""},
      {"bad_utf8", st_file("{\"\xc3\x28\":{}}", ""), "UTF-8"},
      {"unknown_dtype", st_file(R"({"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})", f32x2),
       "dtype \"C64\" is not supported"},
      {"negative_dim", st_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", f32x2),
       "non-negative integers"},
      {"float_dim", st_file(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", f32x2),
       "non-negative integers"},
      {"overflow_shape", st_file(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", f32x2),
       "overflow"},
      {"size_mismatch", st_file(R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", f32x2),
       "needs 16"},
      {"past_end", st_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", f32x2),
       "run past the end"},
      {"huge_offset", st_file(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[18446744073709551614,18446744073709551616]}})", f32x2),
       "non-negative integers"},
      {"reversed", st_file(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}})", f32x2),
       "end before they begin"},
      {"overlap", st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f32x2),
       "overlap"},
      {"hole", st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", f32x2),
       "belong to no tensor"},
      {"trailing", st_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", f32x2),
       "bytes after the last tensor"},
      {"missing_key", st_file(R"({"a":{"dtype":"F32","shape":[2]}})", f32x2), "lacks \"data_offsets\""},
      {"extra_key", st_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", f32x2),
       "unexpected key \"x\""},
      {"entry_not_object", st_file(R"({"a":[1]})", ""), "expected an object"},
      {"metadata_not_strings", st_file(R"({"__metadata__":{"epoch":3}})", ""), "values must be strings"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir + "/hostile_" + c.name + ".safetensors";
    write_bytes(path, c.bytes);
    expect_load_error(path, c.needle);
  }
}

TEST(Safetensors, EveryTruncationOfASmallFileIsAnError) {
  const std::string dir = scratch_dir();
  const std::string good = dir + "/small.safetensors";
  save_safetensors(good, {{"w", patterned({2, 3}, DType::Float32)}, {"i", patterned({3}, DType::Int64)}},
                   {{"epoch", "1"}});
  const std::string bytes = read_bytes(good);
  ASSERT_GT(bytes.size(), 100u);
  for (size_t len = 0; len < bytes.size(); ++len) {
    const std::string path = dir + "/truncated_" + std::to_string(len) + ".safetensors";
    write_bytes(path, bytes.substr(0, len));
    RemoveOnExit cleanup{path};
    try {
      load_safetensors(path);
      ADD_FAILURE() << "a file truncated to " << len << " of " << bytes.size() << " bytes loaded";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

TEST(Safetensors, RandomHeaderMutationsLoadOrThrowError) {
  const std::string dir = scratch_dir();
  const std::string good = dir + "/mutate_src.safetensors";
  save_safetensors(good, {{"weight", patterned({4, 4}, DType::Float32)},
                          {"bias", patterned({4}, DType::Float16)},
                          {"steps", patterned({1}, DType::Int64)}},
                   {{"epoch", "12"}});
  const std::string bytes = read_bytes(good);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  std::mt19937 rng(20240601);
  int loaded = 0, rejected = 0;
  const char interesting[] = "{}[]\",:0123456789-e. \\\x00\xff";
  for (int iter = 0; iter < 3000; ++iter) {
    std::string m = bytes;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < edits; ++k) {
      // Mostly the header (the length included), sometimes anywhere.
      const size_t limit = (rng() % 8 == 0) ? m.size() : static_cast<size_t>(8 + n);
      const size_t pos = rng() % limit;
      if (rng() % 2 == 0)
        m[pos] = interesting[rng() % (sizeof interesting - 1)];
      else
        m[pos] = static_cast<char>(rng() & 0xff);
    }
    const std::string path = dir + "/mutated_" + std::to_string(iter) + ".safetensors";
    write_bytes(path, m);
    RemoveOnExit cleanup{path};
    try {
      load_safetensors(path);
      ++loaded;
    } catch (const Error& e) {
      ++rejected;
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  EXPECT_GT(rejected, 2000);
  std::cout << "  mutations: " << loaded << " loaded, " << rejected << " rejected with an error\n";
}

TEST(Checkpoint, RoundTripWithPrefixesAndMetadata) {
  const std::string path = scratch_dir() + "/ckpt.safetensors";
  NamedTensors model = {{"conv1.weight", patterned({4, 1, 3, 3}, DType::Float32)},
                        {"fc.bias", patterned({10}, DType::Float32)}};
  NamedTensors optim = {{"state.0.exp_avg", patterned({4, 1, 3, 3}, DType::Float32)},
                        {"state.0.step", patterned({}, DType::Int64)}};
  save_checkpoint(path, model, optim, {{"epoch", "3"}, {"step", "2814"}});

  // The file is plain safetensors with prefixed names.
  SafetensorsContents raw = load_safetensors(path);
  ASSERT_EQ(raw.tensors.size(), 4u);
  EXPECT_EQ(raw.tensors[0].first, "model.conv1.weight");
  EXPECT_EQ(raw.tensors[2].first, "optim.state.0.exp_avg");
  EXPECT_EQ(raw.metadata.at("tessera.checkpoint"), "1");

  Checkpoint c = load_checkpoint(path);
  ASSERT_EQ(c.model.size(), 2u);
  ASSERT_EQ(c.optimizer.size(), 2u);
  EXPECT_EQ(c.model[1].first, "fc.bias");
  EXPECT_EQ(c.optimizer[1].first, "state.0.step");
  EXPECT_TRUE(same_bytes(c.model[0].second, model[0].second));
  EXPECT_TRUE(same_bytes(c.optimizer[1].second, optim[1].second));
  EXPECT_EQ(c.metadata, (Metadata{{"epoch", "3"}, {"step", "2814"}}));

  EXPECT_ERROR_HAS(save_checkpoint(path, model, optim, {{"tessera.checkpoint", "2"}}), "reserved");
  const std::string plain = scratch_dir() + "/plain.safetensors";
  save_safetensors(plain, {{"weight", patterned({2}, DType::Float32)}});
  EXPECT_ERROR_HAS(load_checkpoint(plain), "none of the prefixes 'model.', 'optim.', 'sched.'");
  save_safetensors(plain, {}, {{"tessera.checkpoint", "99"}});
  EXPECT_ERROR_HAS(load_checkpoint(plain), "version '99' is not supported");
}

// A reader and writer written from the spec in Python with only json and struct: an
// independent implementation to check that files are interchangeable.
TEST(Safetensors, InterchangeWithPythonSpecImplementation) {
  if (!have_python()) GTEST_SKIP() << "no /usr/bin/python3";
  const std::string dir = scratch_dir();
  const std::string from_py = dir + "/from_python.safetensors";
  const std::string script = dir + "/st.py";
  write_bytes(script, R"PY(
import json, struct, sys
mode, path = sys.argv[1], sys.argv[2]
if mode == "write":
    # Data deliberately not in header order, header unpadded, metadata last.
    tensors = [("b.int", "I64", [3], struct.pack("<3q", -1, 2**40, 7)),
               ("a.float", "F32", [2, 2], struct.pack("<4f", 0.5, -1.25, 3.0, 1e-3)),
               ("c.bf16", "BF16", [2], struct.pack("<2H", 0x3f80, 0xc000)),
               ("d.bool", "BOOL", [3], bytes([1, 0, 1])),
               ("e.u8", "U8", [0], b"")]
    header, data = {}, b""
    for name, dt, shape, raw in tensors:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header["__metadata__"] = {"source": "python"}
    h = json.dumps(header).encode()
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)
else:
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert header.pop("__metadata__") == {"who": "tessera"}, "metadata"
    data = raw[8 + n:]
    spans = sorted((v["data_offsets"][0], v["data_offsets"][1]) for v in header.values())
    pos = 0
    for b, e in spans:
        assert b == pos, "hole or overlap"
        pos = e
    assert pos == len(data), "trailing bytes"
    w = header["w"]
    assert w["dtype"] == "F32" and w["shape"] == [2, 3], w
    vals = struct.unpack("<6f", data[w["data_offsets"][0]:w["data_offsets"][1]])
    assert vals == (0.0, 1.0, 2.0, 3.0, 4.0, 5.5), vals
    s = header["step"]
    assert s["dtype"] == "I64" and s["shape"] == [], s
    assert struct.unpack("<q", data[s["data_offsets"][0]:s["data_offsets"][1]]) == (-42,)
    h = header["h"]
    assert h["dtype"] == "F16" and h["shape"] == [1], h
    assert struct.unpack("<e", data[h["data_offsets"][0]:h["data_offsets"][1]]) == (1.5,)
    print("python read OK")
)PY");
  ASSERT_EQ(std::system(("/usr/bin/python3 " + script + " write " + from_py).c_str()), 0);
  SafetensorsContents c = load_safetensors(from_py);
  ASSERT_EQ(c.tensors.size(), 5u);
  EXPECT_EQ(c.metadata.at("source"), "python");
  EXPECT_EQ(c.tensors[0].first, "b.int");
  EXPECT_EQ(c.tensors[0].second.to_vector<int64_t>(), (std::vector<int64_t>{-1, int64_t{1} << 40, 7}));
  EXPECT_EQ(c.tensors[1].second.to_vector<float>(), (std::vector<float>{0.5f, -1.25f, 3.0f, 1e-3f}));
  EXPECT_EQ(c.tensors[2].second.dtype(), DType::BFloat16);
  EXPECT_EQ(c.tensors[2].second.to_vector<float>(), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(c.tensors[3].second.to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(c.tensors[4].second.numel(), 0);

  const std::string to_py = dir + "/to_python.safetensors";
  Tensor w = make_tensor({2, 3}, DType::Float32);
  float* p = w.data<float>();
  for (int i = 0; i < 6; ++i) p[i] = static_cast<float>(i);
  p[5] = 5.5f;
  Tensor step = make_tensor({}, DType::Int64);
  *step.data<int64_t>() = -42;
  Tensor h = make_tensor({1}, DType::Float16);
  *h.data<Half>() = Half(1.5f);
  save_safetensors(to_py, {{"h", h}, {"w", w}, {"step", step}}, {{"who", "tessera"}});
  EXPECT_EQ(std::system(("/usr/bin/python3 " + script + " read " + to_py).c_str()), 0);
}

// Python's safetensors package, when installed, reads our files and writes files we read.
TEST(Safetensors, InterchangeWithPythonSafetensorsPackage) {
  std::string tried;
  const std::string python = python_with_safetensors(tried);
  if (python.empty())
    GTEST_SKIP() << "no Python with numpy and safetensors (tried " << tried << "; scripts/venv installs it)";
  const std::string dir = scratch_dir();
  const std::string ours = dir + "/ours.safetensors", theirs = dir + "/theirs.safetensors";
  save_safetensors(ours, {{"x", patterned({2, 3}, DType::Float32)}, {"y", patterned({4}, DType::Int64)}});
  const std::string cmd =
      python + " -c \"import numpy as np; from safetensors.numpy import load_file, save_file; "
      "d = load_file('" + ours + "'); "
      "assert d['x'].shape == (2, 3) and d['x'][1, 2] == 0.25 * 5 - 3, d; "
      "assert d['y'][4 - 1] == (3 - 5) * 1000000007; "
      "save_file({'z': np.arange(6, dtype=np.float64).reshape(3, 2)}, '" + theirs + "')\"";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  SafetensorsContents c = load_safetensors(theirs);
  ASSERT_EQ(c.tensors.size(), 1u);
  EXPECT_EQ(shape_str(c.tensors[0].second.sizes()), "[3, 2]");
  EXPECT_EQ(read_as_double(c.tensors[0].second, 5), 5.0);
}
