// Bad inputs to the API and to the command lines fail with the error kind they deserve
// (include/tessera/error.h), never as an internal error and never as an exception that is
// no tessera::Error. Each case also names a piece of its expected message, so a case that
// fails for another reason than the one it tests (a regression hidden behind a similar
// error) is caught too.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <typeinfo>
#include <vector>

#include "ops/op.h"
#include "tessera/allocator.h"
#include "tessera/tessera.h"
#include "test_util.h"

using namespace tessera;
namespace fs = std::filesystem;

namespace {

// One folder per test: ctest runs the API and the CLI tests at the same time, and the CLI
// test checks that its folder holds no temporary.
std::string scratch_dir(const char* test) {
  fs::path dir = fs::path(TESSERA_TEST_BINARY_DIR) / "error_kinds_test" / test;
  fs::create_directories(dir);
  return dir.string();
}

const char* kind_name(ErrorKind k) { return error_kind_name(k); }

// Whether the dynamic class agrees with kind(): a caller catching IOError must get every
// error whose kind() is IO.
bool class_matches(const Error& e) {
  switch (e.kind()) {
    case ErrorKind::InvalidArgument:
      return dynamic_cast<const InvalidArgumentError*>(&e) != nullptr;
    case ErrorKind::IO:
      return dynamic_cast<const IOError*>(&e) != nullptr;
    case ErrorKind::OutOfMemory:
      return dynamic_cast<const OutOfMemoryError*>(&e) != nullptr;
    case ErrorKind::NotImplemented:
      return dynamic_cast<const NotImplementedError*>(&e) != nullptr;
    case ErrorKind::Internal:
      return dynamic_cast<const InternalError*>(&e) != nullptr;
  }
  return false;
}

struct ApiCase {
  std::string name;
  ErrorKind kind;
  std::string needle;  // part of the expected message
  std::function<void()> run;
};

// ---- files for the loaders ----

std::string write_file(const std::string& name, const std::string& bytes) {
  const std::string path = scratch_dir("api") + "/" + name;
  write_bytes(path, bytes);
  return path;
}

std::string safetensors_bytes(const std::string& header, const std::string& data) {
  std::string out;
  for (int i = 0; i < 8; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(major);
  out += '\0';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

// A tiny op whose CPU kernel exists for float64 only and which has no backward rule: the
// dispatcher's "no kernel for this dtype" and autograd's "no backward" are both
// NotImplemented, and no public op reaches them today (the shape rules refuse first).
// Registered on first use, in this test binary's registry only (a harness that walks
// ops::all_ops() will see it after these tests ran in the same process).
ops::InferResult infer_same(const std::vector<ops::InputMeta>& in, const ops::Attrs&) {
  return {{{Shape(in[0].sizes()), in[0].dtype()}}, std::nullopt};
}
void copy_kernel(const ops::KernelCall& c) { c.outputs[0].copy_(c.inputs[0]); }
ops::OpDef kF64Only{"error_kinds_test_f64_only", 1, ops::kDifferentiable, {}, infer_same};
const ops::OpDef& f64_only_op() {
  static const bool registered = [] {
    ops::ensure_registered();
    ops::register_op(kF64Only);
    ops::register_kernel(kF64Only, Device::CPU, copy_kernel, ops::dtype_bit(DType::Float64));
    return true;
  }();
  (void)registered;
  return kF64Only;
}

// A dataset whose files vanished: get() fails with an I/O error on a loader worker.
struct VanishedDataset : data::Dataset {
  int64_t size() const override { return 4; }
  data::Example get(int64_t) const override {
    throw IOError("VanishedDataset: '/data/shard-3.npy': cannot open the file: No such file");
  }
};

std::vector<ApiCase> api_cases() {
  const std::string dir = scratch_dir("api");
  std::vector<ApiCase> cases;
  auto add_case = [&](std::string name, ErrorKind kind, std::string needle,
                      std::function<void()> fn) {
    cases.push_back({std::move(name), kind, std::move(needle), std::move(fn)});
  };
  constexpr ErrorKind IA = ErrorKind::InvalidArgument, IO = ErrorKind::IO,
                      OOM = ErrorKind::OutOfMemory, NI = ErrorKind::NotImplemented;

  // ---- ops: shapes, attributes, dtypes ----
  const Tensor a23 = ones({2, 3}), a45 = ones({4, 5});
  add_case("matmul inner dims", IA, "inner dimensions differ", [=] { (void)matmul(a23, a45); });
  add_case("add not broadcastable", IA, "not broadcastable", [=] { (void)add(a23, ones({4})); });
  add_case("view vs strides", IA, "use reshape",
           [] { (void)arange(12).reshape({3, 4}).t().view({12}); });
  add_case("select out of range", IA, "select", [=] { (void)a23.select(0, 5); });
  add_case("reshape numel", IA, "reshape", [=] { (void)a23.reshape({4, 2}); });
  add_case("permute repeated dim", IA, "permute", [=] { (void)a23.permute({0, 0}); });
  add_case("sum dim out of range", IA, "sum", [=] { (void)sum(a23, {5}); });
  add_case("cat mismatched", IA, "cat", [=] { (void)cat({a23, a45}, 0); });
  add_case("expand bad size", IA, "expand", [=] { (void)a23.expand({4, 4}); });
  add_case("undefined input", IA, "undefined", [=] { (void)add(a23, Tensor()); });
  add_case("softmax of int", IA, "floating point", [] { (void)softmax(arange(3), 0); });
  add_case("mean of int", IA, "floating point", [] { (void)mean(arange(3)); });
  add_case("neg of bool", IA, "logical_not", [] { (void)neg(ones({3}, kBool)); });
  add_case("one_hot of i32", IA, "int64", [] { (void)one_hot(arange(3).to(kInt32), 4); });
  add_case("rand of int64", IA, "floating dtype", [] { (void)rand({3}, kInt64); });
  add_case("randperm as bool", IA, "bool", [] { (void)randperm(5, kBool); });
  add_case("in-place float into int", IA, "can't be cast", [] {
    Tensor i = arange(3);
    add_(i, ones({3}));
  });
  add_case("integer division by zero", IA, "division by zero",
      [] { (void)floor_divide(arange(3), zeros({3}, kInt64)); });
  add_case("conv2d channels", IA, "conv2d", [] {
    (void)nn::functional::conv2d(zeros({1, 3, 8, 8}), zeros({4, 2, 3, 3}));
  });
  add_case("cross_entropy target shape", IA, "cross_entropy",
      [] { (void)nn::functional::cross_entropy(zeros({4, 10}), zeros({3}, kInt64)); });
  add_case("kernel lacks the dtype", NI, "no CPU kernel for dtype f32",
      [] { (void)ops::call1(f64_only_op(), {ones({2})}); });
  add_case("backward not implemented", NI, "backward is not implemented", [] {
    Tensor x = ones({2}, kFloat64).requires_grad_();
    ops::call1(f64_only_op(), {x}).sum().backward();
  });
  add_case("backward twice", IA, "second time", [] {
    Tensor x = ones({2}).requires_grad_();
    Tensor y = (x * x).sum();
    y.backward();
    y.backward();
  });

  // ---- modules, optimizers, callbacks: bad attributes ----
  add_case("Linear negative features", IA, "Linear", [] { nn::Linear(-1, 3); });
  add_case("Linear wrong input", IA, "[2, 5]", [] {
    nn::Linear l(4, 3);
    (void)l.forward(ones({2, 5}));
  });
  add_case("Dropout p > 1", IA, "Dropout", [] { nn::Dropout(1.5); });
  add_case("Adam negative lr", IA, "lr", [] {
    Tensor p = zeros({2}).requires_grad_();
    optim::Adam opt({p}, {.lr = -1});
  });
  add_case("StepLR step_size 0", IA, "step_size", [] {
    Tensor p = zeros({2}).requires_grad_();
    optim::SGD opt({p}, {.lr = 0.1});
    optim::StepLR s(opt, 0);
  });
  // Was an internal assert: a param group added after the scheduler is the user's doing.
  add_case("scheduler before add_param_group", IA, "param groups", [] {
    Tensor p = zeros({2}).requires_grad_(), q = zeros({2}).requires_grad_();
    optim::SGD opt({p}, {.lr = 0.1});
    optim::StepLR s(opt, 2);
    opt.add_param_group(optim::ParamGroup({q}));
    s.step();
  });
  add_case("EarlyStopping patience", IA, "patience", [] { train::EarlyStopping("val_loss", -1); });
  add_case("TensorDataset sizes", IA, "TensorDataset",
      [] { data::TensorDataset(zeros({4, 2}), zeros({3})); });
  add_case("Normalize of u8", IA, "Normalize", [] {
    Generator g(0);
    (void)data::Normalize({0.5}, {0.5})(zeros({1, 2, 2}, kUInt8), g);
  });
  add_case("loader keeps the worker's kind", IO, "DataLoader: epoch 0, batch 0", [] {
    data::DataLoader loader(std::make_shared<VanishedDataset>(),
                            {.batch_size = 2, .num_workers = 2});
    for (auto&& b : loader) (void)b;
  });

  // ---- memory ----
  add_case("absurd allocation", OOM, "exceeds the addressable limit",
      [] { detail::cpu_allocate(~size_t{0} - 10); });
#if !defined(__SANITIZE_ADDRESS__)
  // 4 PiB: more than any address space, so malloc fails on every machine. (AddressSanitizer
  // aborts on such a request instead of returning null, hence not there.)
  add_case("tensor too big for memory", OOM, "out of memory",
      [] { (void)empty({int64_t{1} << 50}, kFloat32); });
#endif

  // ---- safetensors ----
  const std::string ok_header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  add_case("safetensors missing", IO, "No such file",
           [=] { load_safetensors(dir + "/missing.safetensors"); });
  add_case("safetensors is a folder", IO, "is a folder", [=] { load_safetensors(dir); });
  const std::string st_trunc =
      write_file("trunc.safetensors", safetensors_bytes(ok_header, "1234"));
  add_case("safetensors truncated", IA, "run past the end", [=] { load_safetensors(st_trunc); });
  const std::string st_empty = write_file("empty.safetensors", "");
  add_case("safetensors empty", IA, "too short", [=] { load_safetensors(st_empty); });
  const std::string st_json = write_file("json.safetensors", safetensors_bytes("{\"a\":[1,}", ""));
  add_case("safetensors bad JSON", IA, "invalid JSON", [=] { load_safetensors(st_json); });
  const std::string st_f8 = write_file(
      "f8.safetensors",
      safetensors_bytes(R"({"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", "xy"));
  add_case("safetensors F8 dtype", NI, "F8_E4M3", [=] { load_safetensors(st_f8); });
  const std::string st_xyz = write_file(
      "xyz.safetensors",
      safetensors_bytes(R"({"a":{"dtype":"XYZ","shape":[2],"data_offsets":[0,2]}})", "xy"));
  add_case("safetensors garbage dtype", IA, "not a safetensors dtype",
           [=] { load_safetensors(st_xyz); });
  add_case("safetensors save to missing folder", IO, "does not exist",
      [=] { save_safetensors(dir + "/no/such/dir/x.safetensors", {{"a", ones({2})}}); });
  fs::create_directories(dir + "/a_folder.safetensors");
  add_case("safetensors save over a folder", IO, "is a folder",
      [=] { save_safetensors(dir + "/a_folder.safetensors", {{"a", ones({2})}}); });
  // Refused by the StateDict the tensors are passed in, before the save looks at them.
  add_case("safetensors duplicate names", IA, "duplicate key 'a'",
      [=] { save_safetensors(dir + "/dup.safetensors", {{"a", ones({2})}, {"a", ones({2})}}); });

  // ---- checkpoints ----
  const std::string plain = dir + "/plain.safetensors";
  save_safetensors(plain, {{"weight", ones({2})}});
  add_case("checkpoint from plain safetensors", IA, "prefix", [=] { load_checkpoint(plain); });
  const std::string v2 = dir + "/v2.safetensors";
  save_safetensors(v2, {{"model.w", ones({2})}}, {{"tessera.checkpoint", "2"}});
  add_case("checkpoint version 2", NI, "version '2'", [=] { load_checkpoint(v2); });
  add_case("checkpoint reserved key", IA, "reserved",
      [=] { save_checkpoint(dir + "/ck.safetensors", {}, {}, {{"tessera.checkpoint", "x"}}); });

  // ---- NPY ----
  add_case("npy missing", IO, "No such file", [=] { load_npy(dir + "/missing.npy"); });
  const std::string npy_magic = write_file("magic.npy", "NOTNUMPY-at-all");
  add_case("npy bad magic", IA, "bad magic", [=] { load_npy(npy_magic); });
  const std::string npy_trunc = write_file(
      "trunc.npy",
      npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", "12345678"));
  add_case("npy truncated", IA, "truncated", [=] { load_npy(npy_trunc); });
  const std::string npy_be = write_file(
      "be.npy", npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", "1234"));
  add_case("npy big-endian", NI, "big-endian", [=] { load_npy(npy_be); });
  const std::string npy_c8 = write_file(
      "c8.npy", npy_bytes("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", "12345678"));
  add_case("npy complex", NI, "'<c8' is not supported", [=] { load_npy(npy_c8); });
  const std::string npy_zz = write_file(
      "zz.npy", npy_bytes("{'descr': '<zz', 'fortran_order': False, 'shape': (1,), }", "1234"));
  add_case("npy garbage dtype", IA, "unknown dtype '<zz'", [=] { load_npy(npy_zz); });
  const std::string npy_struct = write_file(
      "struct.npy",
      npy_bytes("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (1,), }", "1234"));
  add_case("npy structured", NI, "structured", [=] { load_npy(npy_struct); });
  const std::string npy_v4 = write_file(
      "v4.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", "1234", 4));
  add_case("npy version 4", NI, "version 4.0", [=] { load_npy(npy_v4); });
  add_case("npy save bf16", IA, "no NPY type",
           [=] { save_npy(dir + "/bf.npy", ones({2}, kBFloat16)); });
  add_case("npy save to missing folder", IO, "does not exist",
      [=] { save_npy(dir + "/no/such/dir/x.npy", ones({2})); });

  // ---- IDX ----
  add_case("idx missing", IO, "No such file", [=] { data::read_idx(dir + "/missing-idx1-ubyte"); });
  const std::string idx_magic = write_file("magic-idx", std::string("\x01\x02\x08\x01", 4));
  add_case("idx bad magic", IA, "bad magic", [=] { data::read_idx(idx_magic); });
  const std::string idx_code =
      write_file("code-idx", std::string("\x00\x00\x07\x01\x00\x00\x00\x01x", 9));
  add_case("idx unknown type code", IA, "0x07", [=] { data::read_idx(idx_code); });
  const std::string idx_trunc =
      write_file("trunc-idx", std::string("\x00\x00\x08\x01\x00\x00\x00\x10" "abc", 11));
  add_case("idx truncated", IA, "truncated", [=] { data::read_idx(idx_trunc); });
  const std::string idx_gz = dir + "/valid-idx.gz";
  data::write_idx(idx_gz, arange(4096).to(kUInt8));
  const std::string gz_bytes = read_bytes(idx_gz);
  const std::string idx_gz_trunc =
      write_file("trunc-idx.gz", gz_bytes.substr(0, gz_bytes.size() / 2));
  add_case("idx gzip truncated", IA, "truncated", [=] { data::read_idx(idx_gz_trunc); });
  std::string bad_crc = gz_bytes;
  bad_crc[bad_crc.size() - 6] ^= 0x55;  // the CRC32 in the gzip trailer
  const std::string idx_gz_crc = write_file("crc-idx.gz", bad_crc);
  add_case("idx gzip bad CRC", IA, "read_idx", [=] { data::read_idx(idx_gz_crc); });
  add_case("idx write rank 0", IA, "rank 0", [=] { data::write_idx(dir + "/r0-idx", ones({})); });
  add_case("idx write to missing folder", IO, "does not exist",
      [=] { data::write_idx(dir + "/no/such/dir/x-idx", arange(3).to(kUInt8)); });
  add_case("FashionMNIST missing", IO, "cannot find the training files",
      [=] { data::FashionMNIST(dir + "/no-such-dataset", true); });

  // ---- CSV ----
  add_case("csv missing", IO, "No such file", [=] { data::read_csv(dir + "/missing.csv"); });
  add_case("csv is a folder", IO, "is a folder", [=] { data::read_csv(dir); });
  const std::string csv_nan = write_file("word.csv", "1,2\n3,four\n");
  add_case("csv not a number", IA, "'four' is not a number", [=] { data::read_csv(csv_nan); });
  const std::string csv_ragged = write_file("ragged.csv", "1,2,3\n4,5\n");
  add_case("csv ragged", IA, "has 2 fields, expected 3", [=] { data::read_csv(csv_ragged); });

  // ---- output paths ----
  add_case("check_writable: parent is a file", IO, "is not a folder",
      [=] { check_writable(csv_nan + "/x.safetensors"); });
  add_case("check_writable: name too long", IO, "File name too long",
      [=] { check_writable(dir + "/" + std::string(300, 'n')); });
  add_case("ModelCheckpoint into a missing folder", IO, "does not exist", [=] {
    train::ModelCheckpoint ck(dir + "/no/such/dir/{epoch}.safetensors");
    nn::Linear m(2, 2);
    const train::History history;
    train::TrainContext ctx{m, nullptr, 1, 1, history};
    ck.on_train_begin(ctx);
  });
  add_case("CSVLogger into a missing folder", IO, "does not exist", [=] {
    train::CSVLogger log(dir + "/no/such/dir/log.csv");
    nn::Linear m(2, 2);
    const train::History history;
    train::TrainContext ctx{m, nullptr, 1, 1, history};
    log.on_train_begin(ctx);
  });
  return cases;
}

}  // namespace

TEST(ErrorKinds, ClassesAgreeWithTheirKind) {
  const std::vector<ErrorKind> kinds = {ErrorKind::InvalidArgument, ErrorKind::IO,
                                        ErrorKind::OutOfMemory, ErrorKind::NotImplemented,
                                        ErrorKind::Internal};
  for (ErrorKind k : kinds) {
    try {
      throw_error(k, "message");
    } catch (const Error& e) {  // every kind is still a tessera::Error ...
      EXPECT_EQ(e.kind(), k);
      EXPECT_TRUE(class_matches(e)) << kind_name(k) << " thrown as " << typeid(e).name();
      EXPECT_STREQ(e.what(), "message");
    }
  }
  // ... and a std::runtime_error, as before.
  EXPECT_THROW(throw_error(ErrorKind::IO, "x"), std::runtime_error);
  EXPECT_THROW(TESSERA_CHECK_IO(false, "x"), IOError);
  EXPECT_THROW(TESSERA_CHECK_ALLOC(false, "x"), OutOfMemoryError);
  EXPECT_THROW(TESSERA_CHECK_IMPLEMENTED(false, "x"), NotImplementedError);
  EXPECT_THROW(TESSERA_NOT_IMPLEMENTED("x"), NotImplementedError);
  EXPECT_THROW(TESSERA_CHECK(false, "x"), InvalidArgumentError);
  try {
    TESSERA_INTERNAL_ASSERT(1 + 1 == 3, "arithmetic");
    FAIL() << "no error";
  } catch (const InternalError& e) {
    EXPECT_NE(std::string(e.what()).find("a bug in Tessera"), std::string::npos) << e.what();
  }
  EXPECT_STREQ(error_kind_name(ErrorKind::IO), "I/O error");
  EXPECT_STREQ(error_kind_name(ErrorKind::NotImplemented), "not implemented");
}

// The op dispatcher adds the op and its inputs to the message, keeping the kind.
TEST(ErrorKinds, ContextKeepsTheKind) {
  try {
    (void)ops::call1(f64_only_op(), {ones({2, 3})});
    FAIL() << "no error";
  } catch (const NotImplementedError& e) {
    EXPECT_NE(std::string(e.what()).find("error_kinds_test_f64_only: [2, 3] f32"),
              std::string::npos)
        << e.what();
  }
}

TEST(ErrorKinds, ApiBadInputsFailWithTheirKind) {
  const std::vector<ApiCase> cases = api_cases();
  std::map<ErrorKind, int> by_kind;
  for (const ApiCase& c : cases) {
    SCOPED_TRACE(c.name);
    try {
      c.run();
      ADD_FAILURE() << c.name << ": no error";
    } catch (const Error& e) {
      ++by_kind[e.kind()];
      EXPECT_EQ(e.kind(), c.kind) << c.name << ": got " << kind_name(e.kind()) << ", expected "
                                  << kind_name(c.kind) << ": " << e.what();
      EXPECT_NE(e.kind(), ErrorKind::Internal) << c.name << ": " << e.what();
      EXPECT_TRUE(class_matches(e)) << c.name;
      EXPECT_NE(std::string(e.what()).find(c.needle), std::string::npos)
          << c.name << ": message lacks '" << c.needle << "': " << e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << c.name << ": escaped as " << typeid(e).name() << ", not a tessera::Error: "
                    << e.what();
    }
  }
  std::printf("[ error kinds ] %zu API bad inputs: %d invalid argument, %d I/O, %d out of memory, "
              "%d not implemented, %d internal\n",
              cases.size(), by_kind[ErrorKind::InvalidArgument], by_kind[ErrorKind::IO],
              by_kind[ErrorKind::OutOfMemory], by_kind[ErrorKind::NotImplemented],
              by_kind[ErrorKind::Internal]);
  EXPECT_GE(cases.size(), 50u);
}

// ---------------------------------------------------------------- the command lines

#if defined(TESSERA_CLI_PATH)
namespace {

struct CliResult {
  int status = -1;  // exit status; -1 when killed by a signal or the timeout
  std::string output;  // stdout and stderr together
  double seconds = 0;
};

// Runs `binary args...` with its output captured, killing it after `timeout_s` so a case
// that starts a training by mistake fails instead of hanging the suite.
CliResult run(const std::string& binary, const std::vector<std::string>& args,
              double timeout_s = 60) {
  // One file per process: ctest runs the CLI tests in parallel, each in its own process.
  const std::string out_path = scratch_dir("cli") + "/cli_output." + std::to_string(::getpid()) + ".txt";
  std::vector<std::string> argv_s = {binary};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {  // only async-signal-safe calls until exec
    const int fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  CliResult r;
  int st = 0;
  for (;;) {
    const pid_t w = ::waitpid(pid, &st, WNOHANG);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (w == pid) break;
    if (r.seconds > timeout_s) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &st, 0);
      r.output = "(killed after " + std::to_string(timeout_s) + " s) ";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFEXITED(st)) r.status = WEXITSTATUS(st);
  r.output += read_bytes(out_path);
  std::remove(out_path.c_str());
  return r;
}

struct CliCase {
  std::string name;
  std::string binary;
  std::vector<std::string> args;
  int status;          // the expected exit status
  std::string needle;  // part of the expected output
  double max_seconds = 20;
};

// A folder no file can be created in, for this user: a read-only folder for anyone but
// root; root writes anywhere permissions say no, so /sys, where even root cannot create
// files. Empty when neither works here.
std::string unwritable_dir() {
  if (::geteuid() != 0) {
    const std::string d = scratch_dir("cli") + "/read_only";
    fs::create_directories(d);
    ::chmod(d.c_str(), 0555);
    return d;
  }
  const std::string probe = "/sys/tessera-probe";
  const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  if (fd >= 0) {
    ::close(fd);
    ::unlink(probe.c_str());
    return "";
  }
  return "/sys";
}

// Fashion-MNIST's four files in `dir`, from the given images and labels (train = test).
void write_dataset(const std::string& dir, const Tensor& images, const Tensor& labels) {
  fs::create_directories(dir);
  for (const char* split : {"train", "t10k"}) {
    data::write_idx(dir + "/" + split + "-images-idx3-ubyte", images);
    data::write_idx(dir + "/" + split + "-labels-idx1-ubyte", labels);
  }
}

}  // namespace

TEST(ErrorKinds, CliBadInputsFailWithTheirStatus) {
  const std::string cli = TESSERA_CLI_PATH, bench = TESSERA_BENCH_PATH;
  const std::string dir = scratch_dir("cli");
  const std::string out = dir + "/cli_out.safetensors";
  // Datasets: a tiny valid one (two images), and broken ones.
  const std::string tiny = dir + "/data_tiny", bad_labels = dir + "/data_bad_labels",
                    bad_shape = dir + "/data_bad_shape", corrupt = dir + "/data_corrupt",
                    gz_cut = dir + "/data_truncated_gz", empty = dir + "/data_empty";
  write_dataset(tiny, zeros({2, 28, 28}, kUInt8), tensor<uint8_t>({0, 1}));
  write_dataset(bad_labels, zeros({2, 28, 28}, kUInt8), tensor<uint8_t>({3, 12}));
  write_dataset(bad_shape, zeros({2, 5, 5}, kUInt8), tensor<uint8_t>({0, 1}));
  fs::create_directories(corrupt);
  for (const char* f : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"})
    write_bytes(corrupt + "/" + f, "this is no IDX file");
  fs::create_directories(gz_cut);
  data::write_idx(gz_cut + "/train-images-idx3-ubyte.gz", zeros({64, 28, 28}, kUInt8));
  data::write_idx(gz_cut + "/train-labels-idx1-ubyte.gz", zeros({64}, kUInt8));
  const std::string gz = read_bytes(gz_cut + "/train-images-idx3-ubyte.gz");
  write_bytes(gz_cut + "/train-images-idx3-ubyte.gz", gz.substr(0, gz.size() / 2));
  fs::create_directories(empty);
  const std::string a_file = dir + "/a_file.txt";
  write_bytes(a_file, "x");

  // Control: a valid run on the tiny set works, so the failures below are the inputs'.
  const CliResult ok = run(cli, {"train", "--epochs", "1", "--batch-size", "2", "--data", tiny,
                                 "--out", out, "--no-validate"});
  ASSERT_EQ(ok.status, 0) << ok.output;
  ASSERT_TRUE(fs::exists(out)) << ok.output;
  const Checkpoint ck = load_checkpoint(out);
  EXPECT_EQ(ck.metadata.at("epochs"), "1");

  constexpr int kUsage = 2, kInvalid = 3, kIO = 4;
  std::vector<CliCase> cases = {
      {"--epochs abc", cli, {"train", "--epochs", "abc"}, kUsage,
       "--epochs: expected a positive integer, got 'abc'"},
      {"--epochs 0", cli, {"train", "--epochs", "0"}, kUsage, "--epochs"},
      {"--epochs=-1", cli, {"train", "--epochs=-1"}, kUsage, "--epochs"},
      {"--epochs without value", cli, {"train", "--epochs"}, kUsage, "needs a value"},
      {"--lr abc", cli, {"train", "--lr", "abc"}, kUsage, "--lr"},
      {"--lr 0", cli, {"train", "--lr", "0"}, kUsage, "--lr"},
      {"--batch-size 1.5", cli, {"train", "--batch-size", "1.5"}, kUsage, "--batch-size"},
      {"--seed -3", cli, {"train", "--seed", "-3"}, kUsage, "--seed"},
      {"--workers x", cli, {"train", "--workers", "x"}, kUsage, "--workers"},
      {"train --threads 0", cli, {"train", "--threads", "0"}, kUsage, "--threads"},
      {"train --precision fp8", cli, {"train", "--precision", "fp8"}, kUsage, "--precision"},
      {"empty --out", cli, {"train", "--out", ""}, kUsage, "--out"},
      {"unknown train flag", cli, {"train", "--frobnicate"}, kUsage,
       "unknown option '--frobnicate'"},
      {"unknown command", cli, {"frob"}, kUsage, "unknown command 'frob'"},
      {"unknown global flag", cli, {"--bogus"}, kUsage, "unknown option '--bogus'"},
      {"--threads abc", cli, {"--threads", "abc", "train"}, kUsage, "--threads"},
      {"--threads without value", cli, {"--threads"}, kUsage, "--threads"},
      {"no command", cli, {}, kUsage, "no command given"},
      {"demo with arguments", cli, {"demo", "extra"}, kUsage, "unexpected argument 'extra'"},
      {"--seed 1e3", cli, {"train", "--seed", "1e3"}, kUsage, "--seed: expected an integer"},
      {"--lr nan", cli, {"train", "--lr", "nan"}, kUsage, "--lr: expected a number > 0, got 'nan'"},
      {"empty --logdir", cli, {"train", "--logdir", ""}, kUsage, "--logdir: expected a non-empty value"},
      {"--limit 0", cli, {"train", "--limit", "0"}, kUsage, "--limit: expected a positive integer"},
      {"train positional", cli, {"train", "extra"}, kUsage, "unexpected argument 'extra'"},
      {"board --port abc", cli, {"board", "--logdir", dir, "--port", "abc"}, kUsage,
       "--port: expected a port number in 0..65535, got 'abc'"},
      {"board without --logdir", cli, {"board"}, kUsage, "--logdir is required"},
      {"tessera bench --iters abc", cli, {"bench", "--iters", "abc"}, kUsage,
       "--iters: expected a positive integer, got 'abc'"},
      // Output paths fail before anything is loaded or trained: in well under 2 s.
      {"--out in a missing folder", cli,
       {"train", "--data", tiny, "--out", "/no/such/dir/x.safetensors"}, kIO,
       "tessera train --out: '/no/such/dir/x.safetensors': "
       "the folder '/no/such/dir' does not exist",
       2.0},
      {"--out under a file", cli, {"train", "--data", tiny, "--out", a_file + "/x.safetensors"},
       kIO, "is not a folder", 2.0},
      {"--out is a folder", cli, {"train", "--data", tiny, "--out", dir}, kIO, "is a folder", 2.0},
      {"--out name too long", cli,
       {"train", "--data", tiny, "--out", dir + "/" + std::string(300, 'n')}, kIO,
       "File name too long", 2.0},
      // Data: missing is I/O, broken content is an invalid argument.
      {"--data missing", cli, {"train", "--data", dir + "/no-such-data", "--out", out}, kIO,
       "cannot find the training files"},
      {"--data without files", cli, {"train", "--data", empty, "--out", out}, kIO,
       "cannot find the training files"},
      {"--data corrupt IDX", cli, {"train", "--data", corrupt, "--out", out}, kInvalid,
       "bad magic"},
      {"--data truncated gzip", cli, {"train", "--data", gz_cut, "--out", out}, kInvalid,
       "truncated"},
      {"--data labels out of range", cli, {"train", "--data", bad_labels, "--out", out}, kInvalid,
       "label 1 is 12"},
      {"--data images of the wrong shape", cli, {"train", "--data", bad_shape, "--out", out},
       kInvalid, "expected u8 [N, 28, 28]"},
      // inspect / convert (tools/onnx_tools.cc)
      {"inspect without a file", cli, {"inspect"}, kUsage, "file is required"},
      {"inspect a missing file", cli, {"inspect", dir + "/no-such.onnx"}, kIO, "no-such.onnx"},
      {"inspect a file that is no model", cli, {"inspect", a_file}, kInvalid, "do not parse as a ModelProto"},
      {"convert between unknown formats", cli, {"convert", a_file, dir + "/x.onnx"}, kUsage,
       "converts .onnx to .safetensors or .safetensors to .onnx"},
      {"convert --opset 3", cli, {"convert", a_file, dir + "/x.onnx", "--opset", "3"}, kUsage,
       "--opset: expected an opset from 11 to 21, got '3'"},
      {"convert a missing ONNX file", cli, {"convert", dir + "/no-such.onnx", dir + "/x.safetensors"}, kIO,
       "no-such.onnx"},
      {"tessera-bench --iters abc", bench, {"--iters", "abc"}, kUsage, "--iters"},
      {"tessera-bench unknown workload", bench, {"--workload", "nope"}, kUsage,
       "unknown workload 'nope'"},
      {"tessera-bench unknown flag", bench, {"--bogus"}, kUsage, "unknown option '--bogus'"},
      {"tessera-bench --minutes 0", bench, {"--minutes", "0"}, kUsage, "--minutes: expected a number > 0"},
      {"tessera-bench --threads 0", bench, {"--threads", "0"}, kUsage, "--threads"},
      {"tessera-bench --precision f16", bench, {"--precision", "f16"}, kUsage, "--precision"},
      {"tessera-bench --mode onnx without --onnx-dir", bench, {"--mode", "onnx"}, kUsage, "--onnx-dir"},
  };
  const std::string ro = unwritable_dir();
  if (!ro.empty())
    cases.push_back({"--out in an unwritable folder", cli,
                     {"train", "--data", tiny, "--out", ro + "/x.safetensors"}, kIO,
                     "is not writable", 2.0});
  else
    std::printf("[ error kinds ] no unwritable folder here (root, writable /sys): "
                "that case skipped\n");

  double slowest_out_check = 0;
  for (const CliCase& c : cases) {
    SCOPED_TRACE(c.name);
    const CliResult r = run(c.binary, c.args);
    EXPECT_EQ(r.status, c.status) << c.name << " (" << r.seconds << " s): " << r.output;
    EXPECT_NE(r.status, 70) << c.name << ": reported as an internal error: " << r.output;
    EXPECT_EQ(r.output.find("internal error (a bug"), std::string::npos) << c.name << ": "
                                                                       << r.output;
    EXPECT_NE(r.output.find(c.needle), std::string::npos)
        << c.name << ": output lacks '" << c.needle << "': " << r.output;
    EXPECT_LT(r.seconds, c.max_seconds) << c.name << ": " << r.output;
    if (c.max_seconds <= 2.0) slowest_out_check = std::max(slowest_out_check, r.seconds);
  }
  // The failed runs never wrote the checkpoint of the control run over (nor a temporary).
  EXPECT_EQ(load_checkpoint(out).metadata.at("epochs"), "1");
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".tessera-tmp."), std::string::npos) << e.path();
  std::printf("[ error kinds ] %zu command-line bad inputs, each with its exit status; "
              "slowest --out check %.3f s\n",
              cases.size(), slowest_out_check);
  EXPECT_GE(cases.size(), 30u);
}

// `--help` for the program and every command: exit 0, the usage and the command's own
// options on stdout. A command added to tessera_main.cc belongs in this list.
TEST(ErrorKinds, CliHelpForEveryCommand) {
  const std::string cli = TESSERA_CLI_PATH, bench = TESSERA_BENCH_PATH;
  struct HelpCase {
    std::string binary;
    std::vector<std::string> args;
    std::vector<std::string> needles;
  };
  const std::vector<HelpCase> cases = {
      {cli, {"--help"}, {"Usage: tessera", "demo", "train", "bench", "board", "--threads", "exit status"}},
      {cli, {"-h"}, {"Usage: tessera"}},
      {cli, {"demo", "--help"}, {"Usage: tessera demo"}},
      {cli, {"train", "--help"}, {"Usage: tessera train", "--epochs N=5", "--logdir DIR",
                                  "TESSERA_FASHION_MNIST", "--no-validate"}},
      {cli, {"train", "--epochs", "3", "-h"}, {"Usage: tessera train"}},
      {cli, {"bench", "--help"}, {"Usage: tessera-bench", "--workload NAME", "workloads: gemm_1024"}},
      {cli, {"board", "--help"}, {"Usage: tessera board", "--logdir DIR", "--port N=6006",
                                  "--host ADDR=127.0.0.1"}},
      {bench, {"--help"}, {"Usage: tessera-bench", "--minutes M"}},
      {cli, {"onnx-conformance", "--help"}, {"Usage: tessera onnx-conformance", "--filter REGEX"}},
      {cli, {"inspect", "--help"}, {"Usage: tessera inspect", "FILE", "FLOPs"}},
      {cli, {"convert", "--help"}, {"Usage: tessera convert", "--opset N", "--dynamic-batch", "--no-optimize"}},
  };
  for (const HelpCase& c : cases) {
    const CliResult r = run(c.binary, c.args);
    std::string line;
    for (const auto& a : c.args) line += " " + a;
    EXPECT_EQ(r.status, 0) << line << ": " << r.output;
    for (const auto& n : c.needles)
      EXPECT_NE(r.output.find(n), std::string::npos) << line << ": lacks '" << n << "': " << r.output;
  }
}
#else
TEST(ErrorKinds, CliBadInputsFailWithTheirStatus) {
  GTEST_SKIP() << "built without TESSERA_BUILD_TOOLS (the asan preset): no tessera binary to run";
}
#endif
