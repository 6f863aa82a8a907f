// Distributed training: several real processes on this host. The test binary starts copies
// of itself (posix_spawn, never fork: the parent's OpenMP threads do not survive a fork)
// with RANK/WORLD_SIZE/... in the environment and --gtest_filter=DistributedWorker.Main;
// that test runs the scenario named by TESSERA_DIST_SCENARIO and is skipped otherwise.
// Every wait has a deadline; a stuck child is killed and the test fails.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "distributed/socket.h"
#include "test_util.h"
#include "tessera/autograd.h"
#include "tessera/graph.h"
#include "tessera/distributed.h"
#include "tessera/nn.h"
#include "tessera/ops.h"
#include "tessera/optim.h"
#include "tessera/random.h"
#include "tessera/serialize.h"
#include "tessera/train.h"

extern char** environ;

namespace tessera {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
namespace dist = distributed;

std::string env_or(const char* name, const std::string& fallback = "") {
  const char* v = std::getenv(name);
  return v ? std::string(v) : fallback;
}

// ---------------------------------------------------------------- spawning ranks

struct Child {
  pid_t pid = -1;
  std::string log;  // stdout and stderr
  int status = -1;  // waitpid status once reaped
};

Child spawn(std::vector<std::string> args, std::map<std::string, std::string> vars,
            const std::string& log) {
  // Under the asan preset the ranks are sanitized too, but not leak-checked: they end
  // holding Gloo's objects (Gloo is not built with the sanitizer), and a report there
  // would fail these tests for a reason that is not theirs. The parent's tests still are.
  if (const char* asan = std::getenv("ASAN_OPTIONS"); asan != nullptr && !vars.count("ASAN_OPTIONS"))
    vars["ASAN_OPTIONS"] = std::string(asan) + ":detect_leaks=0";
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    if (!vars.count(kv.substr(0, kv.find('=')))) env.push_back(kv);
  }
  for (const auto& [k, v] : vars) env.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (std::string& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  Child c;
  c.log = log;
  int rc = posix_spawn(&c.pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) c.pid = -1;
  return c;
}

// This test binary, running only the worker test.
std::vector<std::string> worker_command() {
  return {fs::read_symlink("/proc/self/exe").string(), "--gtest_filter=DistributedWorker.Main",
          "--gtest_brief=1"};
}

Child spawn_worker(const std::map<std::string, std::string>& vars, const std::string& log) {
  return spawn(worker_command(), vars, log);
}

// Reaps `c` before the deadline; kills it (and says so) when it is still running then.
bool wait_child(Child& c, Clock::time_point deadline) {
  while (true) {
    int status = 0;
    pid_t r = waitpid(c.pid, &status, WNOHANG);
    if (r == c.pid) {
      c.status = status;
      return true;
    }
    if (Clock::now() >= deadline) {
      kill(c.pid, SIGKILL);
      waitpid(c.pid, &status, 0);
      c.status = status;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool exited_ok(const Child& c) { return WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0; }

// A fresh folder per test for logs, outputs and the file store; removed when the test
// passes (kept for reading when it fails).
struct TestDir {
  fs::path path;
  explicit TestDir(const std::string& name)
      : path(fs::temp_directory_path() / ("tessera_dist_" + name + "_" + std::to_string(getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TestDir() {
    if (!::testing::Test::HasFailure()) fs::remove_all(path);
  }
};

// A port nobody listens on right now (the kernel's pick, released again).
int free_port() {
  dist::net::Socket s = dist::net::listen_tcp("127.0.0.1", 0);
  return dist::net::local_port(s);
}

// Shows the lines of rank 0's log that start with `prefix` (the figures a worker prints).
void show_rank0_lines(const fs::path& dir, const std::string& prefix) {
  const std::string log = read_bytes((dir / "rank0.log").string());
  for (size_t at = log.find(prefix); at != std::string::npos; at = log.find(prefix, at + 1))
    if (at == 0 || log[at - 1] == '\n') std::printf("%s\n", log.substr(at, log.find('\n', at) - at).c_str());
}

// Runs `world` ranks of `scenario`; every rank must exit 0 within `limit`.
void run_ranks(const std::string& scenario, int world, const fs::path& dir, const std::string& init,
               std::chrono::seconds limit = std::chrono::seconds(60),
               std::map<std::string, std::string> extra = {}) {
  std::vector<Child> children;
  for (int r = 0; r < world; ++r) {
    std::map<std::string, std::string> vars = extra;
    vars["TESSERA_DIST_SCENARIO"] = scenario;
    vars["TESSERA_DIST_OUT"] = dir.string();
    vars["TESSERA_DIST_INIT"] = init;
    vars["RANK"] = std::to_string(r);
    vars["LOCAL_RANK"] = std::to_string(r);
    vars["WORLD_SIZE"] = std::to_string(world);
    vars["TESSERA_NUM_THREADS"] = "1";
    vars["OMP_NUM_THREADS"] = "1";
    children.push_back(spawn_worker(vars, (dir / ("rank" + std::to_string(r) + ".log")).string()));
    ASSERT_GT(children.back().pid, 0) << "posix_spawn failed";
  }
  const auto deadline = Clock::now() + limit;
  for (size_t r = 0; r < children.size(); ++r) {
    bool in_time = wait_child(children[r], deadline);
    EXPECT_TRUE(in_time) << "rank " << r << " of " << scenario << " did not finish in time";
    EXPECT_TRUE(exited_ok(children[r])) << "rank " << r << " of " << scenario << " failed:\n"
                                        << read_bytes(children[r].log);
  }
}

// ---------------------------------------------------------------- the model of acceptance 1

// A small MLP initialised from `seed`, in `dtype`.
std::shared_ptr<nn::Sequential> make_mlp(uint64_t seed, DType dtype) {
  Generator gen(seed);
  GeneratorGuard guard(gen);
  auto m = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(6, 16), std::make_shared<nn::Tanh>(),
                                            std::make_shared<nn::Linear>(16, 8), std::make_shared<nn::Tanh>(),
                                            std::make_shared<nn::Linear>(8, 3));
  m->to(dtype);
  return m;
}

constexpr int kSteps = 20;
constexpr int64_t kGlobalBatch = 16;

// Step `step`'s global batch: the same on every process.
std::pair<Tensor, Tensor> global_batch(int step, DType dtype) {
  Generator gen(1000 + static_cast<uint64_t>(step));
  Tensor x = randn({kGlobalBatch, 6}, TensorOptions(dtype), &gen);
  Tensor y = randn({kGlobalBatch, 3}, TensorOptions(dtype), &gen);
  return {x, y};
}

// Trains for kSteps SGD steps on rows [begin, begin + rows) of every global batch. With
// `ddp`, gradients are averaged across ranks. `accumulate`: two half batches per step,
// the first under no_sync.
void train(nn::Module& model, dist::DistributedDataParallel* ddp, int64_t begin, int64_t rows,
           DType dtype, bool accumulate) {
  optim::SGD opt(model.parameters(), {.lr = 0.1, .momentum = 0.9});
  for (int step = 0; step < kSteps; ++step) {
    auto [x, y] = global_batch(step, dtype);
    x = x.narrow(0, begin, rows);
    y = y.narrow(0, begin, rows);
    model.zero_grad();
    if (!accumulate) {
      nn::functional::mse_loss(model(x), y).backward();
    } else {
      const int64_t half = rows / 2;
      {
        std::optional<dist::DistributedDataParallel::NoSync> no_sync;
        if (ddp) no_sync.emplace(*ddp);
        mul(nn::functional::mse_loss(model(x.narrow(0, 0, half)), y.narrow(0, 0, half)), 0.5).backward();
      }
      mul(nn::functional::mse_loss(model(x.narrow(0, half, half)), y.narrow(0, half, half)), 0.5).backward();
    }
    opt.step();
  }
}

// train() as one compiled step per iteration (tessera::compile): forward, backward (with
// DDP's all-reduces as graph nodes) and SGD's update traced once, replayed after. Returns
// the compiled function (for its stats and graph).
CompiledFunction train_compiled(dist::DistributedDataParallel& ddp, int64_t begin, int64_t rows, DType dtype,
                                bool accumulate) {
  auto opt = std::make_shared<optim::SGD>(ddp.parameters(), optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  CompiledFunction step = compile([&ddp, opt, rows, accumulate](const std::vector<Tensor>& in) {
    ddp.zero_grad();
    Tensor loss;
    if (!accumulate) {
      loss = nn::functional::mse_loss(ddp(in[0]), in[1]);
      loss.backward();
    } else {
      const int64_t half = rows / 2;
      Tensor first;
      {
        auto no_sync = ddp.no_sync();  // inside the compiled function: part of its graph
        first = mul(nn::functional::mse_loss(ddp(in[0].narrow(0, 0, half)), in[1].narrow(0, 0, half)), 0.5);
        first.backward();
      }
      Tensor second = mul(nn::functional::mse_loss(ddp(in[0].narrow(0, half, half)), in[1].narrow(0, half, half)), 0.5);
      second.backward();
      loss = add(first, second);
    }
    opt->step();
    return std::vector<Tensor>{loss.detach()};
  });
  for (int s = 0; s < kSteps; ++s) {
    auto [x, y] = global_batch(s, dtype);
    step({x.narrow(0, begin, rows).contiguous(), y.narrow(0, begin, rows).contiguous()});
  }
  return step;
}

// The op names of a graph's nodes, in order, from its dump ("  %7 = addmm(...").
std::vector<std::string> node_ops(const std::string& dump) {
  std::vector<std::string> ops;
  size_t at = 0;
  while ((at = dump.find(" = ", at)) != std::string::npos) {
    at += 3;
    const size_t paren = dump.find('(', at), eol = dump.find('\n', at);
    if (paren < eol) {
      const std::string name = dump.substr(at, paren - at);
      if (name != "captured" && name != "constant") ops.push_back(name);
    }
  }
  return ops;
}

// ---------------------------------------------------------------- the worker side

void worker_collectives(dist::ProcessGroup& g) {
  const int r = g.rank(), n = g.size();
  for (DType dt : {DType::Float32, DType::Float64}) {
    Tensor t = full({2, 3}, r + 1.0, TensorOptions(dt));
    g.all_reduce(t);
    EXPECT_EQ(t.to_vector<double>(), std::vector<double>(6, n * (n + 1) / 2.0));
    Tensor a = full({4}, 2.0 * r, TensorOptions(dt));
    g.all_reduce(a, dist::ReduceOp::Avg);
    EXPECT_EQ(a.to_vector<double>(), std::vector<double>(4, n - 1.0));
    Tensor m = full({3}, static_cast<double>(r), TensorOptions(dt));
    g.all_reduce(m, dist::ReduceOp::Max);
    EXPECT_EQ(m.to_vector<double>(), std::vector<double>(3, n - 1.0));
    // A non-contiguous view is reduced through a copy and written back in place.
    Tensor base = full({3, 4}, 1.0 + r, TensorOptions(dt));
    Tensor col = base.select(1, 2);
    g.all_reduce(col);
    EXPECT_EQ(base.select(1, 2).to_vector<double>(), std::vector<double>(3, n * (n + 1) / 2.0));
    EXPECT_EQ(base.select(1, 0).to_vector<double>(), std::vector<double>(3, 1.0 + r));
    Tensor b = full({5}, 10.0 * r, TensorOptions(dt));
    g.broadcast(b, n - 1);
    EXPECT_EQ(b.to_vector<double>(), std::vector<double>(5, 10.0 * (n - 1)));
    Tensor gathered = g.all_gather(full({2}, static_cast<double>(r), TensorOptions(dt)));
    ASSERT_EQ(gathered.sizes().vec(), (std::vector<int64_t>{n, 2}));
    for (int k = 0; k < n; ++k) EXPECT_EQ(gathered[k].to_vector<double>(), std::vector<double>(2, k));
  }
  g.barrier();
  Tensor ints = zeros({2}, kInt64);
  EXPECT_ERROR_HAS(g.all_reduce(ints), "float32 and float64");
  // The group is still usable after a local argument error.
  Tensor t = ones({1});
  g.all_reduce(t);
  EXPECT_EQ(t.item<double>(), n);
}

void worker_ddp(dist::ProcessGroup& g, const fs::path& out) {
  const int r = g.rank(), n = g.size();
  const int64_t rows = kGlobalBatch / n;
  for (DType dt : {DType::Float64, DType::Float32})
    for (bool accumulate : {false, true}) {
      // Each rank initialises differently: DDP must broadcast rank 0's weights.
      auto model = make_mlp(7 + static_cast<uint64_t>(r), dt);
      // Tiny buckets: several all-reduces per backward, started while backward runs.
      dist::DistributedDataParallel ddp(model, {.group = nullptr, .bucket_cap_mb = 0.0005});
      EXPECT_GT(ddp.bucket_assignment().size(), 2u);
      train(ddp, &ddp, r * rows, rows, dt, accumulate);
      // Every bucket started from a gradient hook, inside backward, none at its end.
      const auto st = ddp.last_sync_stats();
      EXPECT_EQ(st.buckets, static_cast<int64_t>(ddp.bucket_assignment().size()));
      EXPECT_EQ(st.started_during_backward, st.buckets);
      if (r == 0 && dt == DType::Float32 && !accumulate)
        std::printf("[ DDP ] %lld buckets, %lld started during backward; backward %.3f ms, then "
                    "waiting %.3f ms\n", static_cast<long long>(st.buckets),
                    static_cast<long long>(st.started_during_backward), st.backward_ms, st.wait_ms);
      save_safetensors((out / detail::concat("rank", r, "_", dtype_name(dt), accumulate ? "_acc" : "", ".safetensors")).string(),
                       model->state_dict());
    }
}

// Compiled train steps under DDP: the same 20 SGD steps as worker_ddp, compiled; the
// parent compares them with one process and with the eager ranks (worker_ddp's files).
void worker_compiled(dist::ProcessGroup& g, const fs::path& out) {
  const int r = g.rank(), n = g.size();
  const int64_t rows = kGlobalBatch / n;
  for (DType dt : {DType::Float64, DType::Float32})
    for (bool accumulate : {false, true}) {
      auto model = make_mlp(7 + static_cast<uint64_t>(r), dt);
      dist::DistributedDataParallel ddp(model, {.group = nullptr, .bucket_cap_mb = 0.0005});
      const size_t buckets = ddp.bucket_assignment().size();
      EXPECT_GT(buckets, 2u);
      CompiledFunction step = train_compiled(ddp, r * rows, rows, dt, accumulate);
      // Traced once, replayed 19 times: the no_sync scope inside the function does not
      // make its guard fail on every call.
      EXPECT_EQ(step.stats().traces, 1);
      EXPECT_EQ(step.stats().graph_runs, kSteps - 1);
      // One start and one wait per bucket (the no_sync backward adds none), and the first
      // start comes while backward still has compute to do: a bucket's communication can
      // overlap the layers below it.
      const std::vector<std::string> ops = node_ops(step.last_graph());
      const auto count = [&](const std::string& op) { return std::count(ops.begin(), ops.end(), op); };
      EXPECT_EQ(count("all_reduce_start_"), static_cast<long>(buckets)) << step.last_graph();
      EXPECT_EQ(count("all_reduce_wait_"), static_cast<long>(buckets)) << step.last_graph();
      const auto first_start = std::find(ops.begin(), ops.end(), "all_reduce_start_");
      const auto first_wait = std::find(ops.begin(), ops.end(), "all_reduce_wait_");
      const std::set<std::string> not_compute = {"copy_", "fill_", "slice", "view", "as_strided", "reshape",
                                                 "all_reduce_start_", "all_reduce_wait_"};
      int64_t compute_between = 0;
      for (auto it = first_start; it < first_wait; ++it) compute_between += !not_compute.count(*it);
      EXPECT_GT(compute_between, 0) << "the first bucket starts only after backward:\n" << step.last_graph();
      if (r == 0 && dt == DType::Float32 && !accumulate)
        std::printf("[ DDP compiled ] %zu buckets: %ld all_reduce_start_ / all_reduce_wait_ nodes in a graph of %zu "
                    "nodes; %lld compute nodes run between the first start and the first wait\n",
                    buckets, count("all_reduce_start_"), ops.size(), static_cast<long long>(compute_between));
      save_safetensors((out / detail::concat("compiled_rank", r, "_", dtype_name(dt), accumulate ? "_acc" : "",
                                             ".safetensors")).string(),
                       model->state_dict());
    }
  // The eager ranks of the same runs, for the parent's compiled-vs-eager comparison.
  worker_ddp(g, out);
}

// no_sync around a compiled step: another graph, without collectives, cached beside the
// synchronizing one; each rank then steps on its own gradients, as eagerly.
void worker_compiled_no_sync(dist::ProcessGroup& g) {
  const int r = g.rank(), n = g.size();
  const int64_t rows = kGlobalBatch / n;
  auto model = make_mlp(7 + static_cast<uint64_t>(r), DType::Float64);
  auto twin = make_mlp(7, DType::Float64);  // the same steps, eagerly
  dist::DistributedDataParallel ddp(model);
  dist::DistributedDataParallel ddp_twin(twin);
  optim::SGD opt(ddp.parameters(), {.lr = 0.1});
  optim::SGD opt_twin(ddp_twin.parameters(), {.lr = 0.1});
  CompiledFunction step = compile([&](const std::vector<Tensor>& in) {
    ddp.zero_grad();
    Tensor loss = nn::functional::mse_loss(ddp(in[0]), in[1]);
    loss.backward();
    opt.step();
    return std::vector<Tensor>{loss.detach()};
  });
  auto eager_step = [&](const Tensor& x, const Tensor& y) {
    ddp_twin.zero_grad();
    nn::functional::mse_loss(ddp_twin(x), y).backward();
    opt_twin.step();
  };
  auto batch = [&](int s) {
    auto [x, y] = global_batch(s, DType::Float64);
    return std::make_pair(x.narrow(0, r * rows, rows).contiguous(), y.narrow(0, r * rows, rows).contiguous());
  };
  auto expect_equal_params = [](nn::Module& a, nn::Module& b, const char* when) {
    auto pa = a.parameters(), pb = b.parameters();
    for (size_t i = 0; i < pa.size(); ++i)
      EXPECT_LE(max(abs(sub(pa[i], pb[i]))).item<double>(), 1e-12) << when << ", parameter " << i;
  };
  int with_collectives = 0, without = 0;
  for (int s = 0; s < 6; ++s) {
    auto [x, y] = batch(s);
    const bool local = s % 2 == 1;  // every other step under no_sync
    {
      std::optional<dist::DistributedDataParallel::NoSync> guard, guard_twin;
      if (local) {
        guard.emplace(ddp);
        guard_twin.emplace(ddp_twin);
      }
      step({x, y});
      eager_step(x, y);
    }
    const std::vector<std::string> ops = node_ops(step.last_graph());
    const long starts = std::count(ops.begin(), ops.end(), "all_reduce_start_");
    if (local) {
      EXPECT_EQ(starts, 0) << "step " << s << " under no_sync all-reduced:\n" << step.last_graph();
      ++without;
    } else {
      EXPECT_EQ(starts, static_cast<long>(ddp.bucket_assignment().size())) << "step " << s;
      ++with_collectives;
    }
    expect_equal_params(*model, *twin, local ? "after a no_sync step" : "after a synchronized step");
  }
  // Two graphs, each traced once: the guard picks the right one on every call.
  EXPECT_EQ(step.stats().traces, 2);
  EXPECT_EQ(step.stats().graph_runs, 4);
  EXPECT_EQ(with_collectives, 3);
  EXPECT_EQ(without, 3);
  // The no_sync steps did not reduce: the ranks' weights now differ (different data).
  Tensor w = model->parameters()[0].detach().clone();
  Tensor w0 = w.clone();
  g.broadcast(w0, 0);
  if (r != 0) {
    EXPECT_GT(max(abs(sub(w, w0))).item<double>(), 1e-6);
  }
}

// A model with buffers (BatchNorm's running statistics): DDP broadcasts rank 0's before
// every training forward, and in a compiled step that broadcast is a broadcast_ node. The
// compiled steps keep the eager ones' parameters and running statistics on every rank.
void worker_compiled_batchnorm(dist::ProcessGroup& g) {
  const int r = g.rank(), n = g.size();
  const int64_t rows = kGlobalBatch / n;
  auto build = [&] {
    Generator gen(5 + static_cast<uint64_t>(r));
    GeneratorGuard guard(gen);
    auto m = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(6, 8), std::make_shared<nn::BatchNorm1d>(8),
                                              std::make_shared<nn::Tanh>(), std::make_shared<nn::Linear>(8, 3));
    m->to(DType::Float64);
    return m;
  };
  auto compiled_model = build(), eager_model = build();
  dist::DistributedDataParallel dc(compiled_model), de(eager_model);
  optim::SGD oc(dc.parameters(), {.lr = 0.1}), oe(de.parameters(), {.lr = 0.1});
  CompiledFunction step = compile([&](const std::vector<Tensor>& in) {
    dc.zero_grad();
    Tensor loss = nn::functional::mse_loss(dc(in[0]), in[1]);
    loss.backward();
    oc.step();
    return std::vector<Tensor>{loss.detach()};
  });
  for (int s = 0; s < 6; ++s) {
    auto [x, y] = global_batch(s, DType::Float64);
    x = x.narrow(0, r * rows, rows).contiguous();
    y = y.narrow(0, r * rows, rows).contiguous();
    step({x, y});
    de.zero_grad();
    nn::functional::mse_loss(de(x), y).backward();
    oe.step();
  }
  EXPECT_EQ(step.stats().graph_runs, 5);
  const std::vector<std::string> ops = node_ops(step.last_graph());
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "broadcast_"), 1) << step.last_graph();  // one dtype: one broadcast
  const auto c = compiled_model->state_dict(), e = eager_model->state_dict();
  ASSERT_EQ(c.size(), e.size());
  for (size_t i = 0; i < c.size(); ++i)
    EXPECT_LE(max(abs(sub(c[i].second.to(kFloat64), e[i].second.to(kFloat64)))).item<double>(), 1e-12) << c[i].first;
}

// BackupAndRestore under DDP: rank 0 writes the backup (with both ranks' generators);
// a job where only some ranks see it stops on every rank with an error saying so.
void worker_backup(dist::ProcessGroup& g, const fs::path& out) {
  const int r = g.rank();
  auto model = make_mlp(3, DType::Float32);
  dist::DistributedDataParallel ddp(model);
  optim::SGD opt(ddp.parameters(), {.lr = 0.1});
  Generator gen(8);
  data::DataLoader loader(data::TensorDataset(randn({16, 6}, {}, &gen), randn({16, 3}, {}, &gen)),
                          {.batch_size = 4, .sampler = dist::distributed_sampler({})});
  train::FitOptions o;
  o.epochs = 2;
  o.optimizer = &opt;
  o.loss = [](const Tensor& a, const Tensor& b) { return nn::functional::mse_loss(a, b); };
  o.verbose = 0;
  const std::string shared = (out / "backup.safetensors").string();
  o.callbacks = {std::make_shared<train::BackupAndRestore>(shared)};
  train::fit(ddp, loader, o);
  g.barrier();  // rank 0 has written it
  const Checkpoint c = load_checkpoint(shared);
  EXPECT_EQ(c.metadata.at("world_size"), "2");
  EXPECT_EQ(c.metadata.at("epochs_done"), "2");
  EXPECT_TRUE(c.metadata.count("generator_seed.rank1"));
  // Rank 1 looks for it elsewhere.
  const std::string mine = r == 0 ? shared : (out / "elsewhere.safetensors").string();
  o.callbacks = {std::make_shared<train::BackupAndRestore>(mine)};
  o.epochs = 3;
  EXPECT_ERROR_HAS(train::fit(ddp, loader, o), "rank 1 does not see the backup, rank 0 does");
}

// fit(compile = true) on a DDP model: the compiled steps carry the all-reduce, so the run
// matches fit's eager one (same data, same initial weights) and the ranks agree.
void worker_fit_compiled(dist::ProcessGroup& g) {
  Generator gen(5);
  Tensor x = randn({64, 4}, {}, &gen);
  Tensor y = argmax(matmul(x, randn({4, 3}, {}, &gen)), -1);
  std::vector<std::vector<double>> losses;
  std::vector<Tensor> weights;
  for (bool compiled : {false, true}) {
    data::DataLoader loader(data::TensorDataset(x, y),
                            {.batch_size = 8, .sampler = dist::distributed_sampler({.seed = 3})});
    Generator init(12);  // the same first layer in both runs
    std::shared_ptr<nn::Linear> first;
    {
      GeneratorGuard guard(init);
      first = std::make_shared<nn::Linear>(4, 6);
    }
    auto net = std::make_shared<nn::Sequential>(first, make_mlp(11, DType::Float32));
    auto ddp = std::make_shared<dist::DistributedDataParallel>(net);
    optim::SGD opt(ddp->parameters(), {.lr = 0.2, .momentum = 0.9});
    train::FitOptions o;
    o.epochs = 3;
    o.optimizer = &opt;
    o.loss = [](const Tensor& out, const Tensor& t) { return nn::functional::cross_entropy(out, t); };
    o.verbose = 0;
    o.compile = compiled;
    losses.push_back(train::fit(*ddp, loader, o).get("loss"));
    weights.push_back(net->parameters()[0].detach().clone());
  }
  for (size_t e = 0; e < losses[0].size(); ++e)
    EXPECT_NEAR(losses[1][e], losses[0][e], 1e-5 * std::fabs(losses[0][e])) << "epoch " << e + 1;
  EXPECT_LE(max(abs(sub(weights[1], weights[0]))).item<double>(), 1e-5);
  Tensor w0 = weights[1].clone();
  g.broadcast(w0, 0);
  EXPECT_EQ(weights[1].to_vector<float>(), w0.to_vector<float>());  // the ranks agree
  if (g.rank() == 0)
    std::printf("[ DDP compiled ] fit, 3 epochs: eager losses %.6f %.6f %.6f, compiled %.6f %.6f %.6f\n",
                losses[0][0], losses[0][1], losses[0][2], losses[1][0], losses[1][1], losses[1][2]);
}

void worker_unused(dist::ProcessGroup& g) {
  // The second layer takes part only on rank 0, and the third on no rank.
  auto a = std::make_shared<nn::Linear>(4, 4);
  auto b = std::make_shared<nn::Linear>(4, 4);
  auto c = std::make_shared<nn::Linear>(4, 4);
  auto model = std::make_shared<nn::Sequential>(a, b, c);
  Tensor x = ones({2, 4});
  {
    dist::DistributedDataParallel ddp(model, {.find_unused_parameters = true});
    Tensor y = (*a)(x);
    if (g.rank() == 0) y = (*b)(y);
    y.sum().backward();
    ASSERT_TRUE(a->weight.grad().defined());
    ASSERT_TRUE(b->weight.grad().defined());  // averaged with rank 0's
    EXPECT_FALSE(c->weight.grad().defined()); // used nowhere: no gradient, as in one process
    // Rank 0's gradient for b, halved (the other rank contributed zero).
    Tensor expected = mul(b->weight.grad(), g.size());
    g.broadcast(expected, 0);
    EXPECT_LT(max(abs(sub(mul(b->weight.grad(), g.size()), expected))).item<double>(), 1e-6);
  }
  model->zero_grad();
  {
    dist::DistributedDataParallel ddp(model);
    Tensor y = (*b)((*a)(x));
    EXPECT_ERROR_HAS(y.sum().backward(), "received no gradient in this backward: 2.weight, 2.bias");
  }
  model->zero_grad();
  {
    // Which parameters get a gradient would be decided by one step's values: refused
    // while tracing, naming the option.
    dist::DistributedDataParallel ddp(model, {.find_unused_parameters = true});
    CompiledFunction step = compile([&](const std::vector<Tensor>& in) {
      Tensor loss = ddp.forward(in[0]).sum();
      loss.backward();
      return std::vector<Tensor>{loss};
    });
    EXPECT_ERROR_HAS(step({x}), "a compiled train step (tessera::compile) with find_unused_parameters = true");
  }
}

// Trains until killed (or until the group fails, which is what the test wants to see).
void worker_train_forever(dist::ProcessGroup& g, const fs::path& out) {
  auto model = make_mlp(3, DType::Float32);
  dist::DistributedDataParallel ddp(model);
  optim::SGD opt(ddp.parameters(), {.lr = 0.01});
  for (int step = 0;; ++step) {
    auto [x, y] = global_batch(step % 5, DType::Float32);
    ddp.zero_grad();
    nn::functional::mse_loss(ddp(x), y).backward();
    opt.step();
    if (step == 2) std::ofstream(out / detail::concat("running", g.rank()));
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// fit under DDP: rank 0 alone prints and writes; every rank ends with the same logs.
void worker_fit(dist::ProcessGroup& g, const fs::path& out) {
  Generator gen(5);
  Tensor x = randn({60, 4}, {}, &gen);
  Tensor y = argmax(matmul(x, randn({4, 3}, {}, &gen)), -1);  // a learnable labelling
  data::DataLoader loader(data::TensorDataset(x, y),
                          {.batch_size = 8, .sampler = dist::distributed_sampler({.seed = 3})});
  data::DataLoader val(data::TensorDataset(x, y),
                       {.batch_size = 16, .sampler = dist::distributed_sampler({.shuffle = false})});
  auto model = make_mlp(11 + static_cast<uint64_t>(g.rank()), DType::Float32);
  // make_mlp has 6 inputs; this data has 4: put a Linear in front.
  auto net = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(4, 6), model);
  auto ddp = std::make_shared<dist::DistributedDataParallel>(net);
  optim::SGD opt(ddp->parameters(), {.lr = 0.2, .momentum = 0.9});
  train::FitOptions o;
  o.epochs = 3;
  o.optimizer = &opt;
  o.loss = [](const Tensor& out, const Tensor& t) { return nn::functional::cross_entropy(out, t); };
  o.metrics = {std::make_shared<train::Accuracy>()};
  o.validation = &val;
  auto ckpt = std::make_shared<train::ModelCheckpoint>((out / "best.safetensors").string(), "val_loss");
  auto csv = std::make_shared<train::CSVLogger>((out / "log.csv").string());
  o.callbacks = {ckpt, csv};
  o.verbose = 2;
  train::History h = train::fit(*ddp, loader, o);
  EXPECT_EQ(ckpt->saved().empty(), g.rank() != 0);
  // The same logs on every rank: rank 0's, broadcast, equal this rank's.
  std::vector<double> mine;
  for (const char* k : {"loss", "accuracy", "val_loss", "val_accuracy"})
    for (double v : h.get(k)) mine.push_back(v);
  Tensor t = tensor<double>(mine);
  Tensor r0 = t.clone();
  g.broadcast(r0, 0);
  EXPECT_EQ(t.to_vector<double>(), r0.to_vector<double>());
  // val_accuracy counts all 60 examples (30 per rank), not this rank's alone.
  Tensor correct = full({1}, h.get("val_accuracy").back() * 60, kFloat64);
  EXPECT_NEAR(correct.item<double>(), std::round(correct.item<double>()), 1e-9);
  EXPECT_LT(h.get("loss").back(), h.get("loss").front());
}

// Rank 1 fails after a few steps; rank 0 would train on.
void worker_die(dist::ProcessGroup& g, const fs::path& out) {
  if (g.rank() == 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::fflush(nullptr);
    std::_Exit(7);
  }
  worker_train_forever(g, out);
}

// Rank 1 is alive but never joins: rank 0's collective times out, and says so. Rank 1
// stays until the test kills it: had it left on a timer, a loaded machine could delay rank
// 0's timeout past it, and rank 0 would rightly report a lost rank instead.
void worker_stuck(dist::ProcessGroup& g) {
  if (g.rank() == 1) {
    std::this_thread::sleep_for(std::chrono::seconds(60));
    std::fflush(nullptr);
    std::_Exit(0);
  }
  Tensor t = ones({4});
  g.all_reduce(t);
}

TEST(DistributedWorker, Main) {
  const std::string scenario = env_or("TESSERA_DIST_SCENARIO");
  if (scenario.empty()) GTEST_SKIP() << "runs only as a rank spawned by the Distributed tests";
  const fs::path out = env_or("TESSERA_DIST_OUT");
  dist::InitOptions opts;
  opts.init_method = env_or("TESSERA_DIST_INIT", "env://");
  dist::init_process_group(opts);
  dist::ProcessGroup& g = *dist::default_group();
  if (scenario == "collectives") worker_collectives(g);
  else if (scenario == "ddp") worker_ddp(g, out);
  else if (scenario == "unused") worker_unused(g);
  else if (scenario == "compiled") worker_compiled(g, out);
  else if (scenario == "compiled_no_sync") worker_compiled_no_sync(g);
  else if (scenario == "fit_compiled") worker_fit_compiled(g);
  else if (scenario == "compiled_batchnorm") worker_compiled_batchnorm(g);
  else if (scenario == "backup") worker_backup(g, out);
  else if (scenario == "forever") worker_train_forever(g, out);
  else if (scenario == "fit") worker_fit(g, out);
  else if (scenario == "die") worker_die(g, out);
  else if (scenario == "stuck") worker_stuck(g);
  else FAIL() << "unknown scenario " << scenario;
  if (!::testing::Test::HasFailure()) g.barrier();  // nobody leaves while others still talk
  dist::destroy_process_group();
}

// ---------------------------------------------------------------- the tests

TEST(Distributed, CollectivesOverFileStore) {
  TestDir tmp("coll_file");
  const fs::path& dir = tmp.path;
  run_ranks("collectives", 3, dir, "file://" + (dir / "store").string());
}

TEST(Distributed, CollectivesOverTcpStore) {
  TestDir tmp("coll_tcp");
  const fs::path& dir = tmp.path;
  run_ranks("collectives", 2, dir, "env://", std::chrono::seconds(60),
            {{"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", std::to_string(free_port())}});
}

TEST(Distributed, SingleProcessGroupIsLocal) {
  auto g = dist::ProcessGroup::create({.init_method = "env://", .rank = 0, .world_size = 1});
  Tensor t = full({3}, 2.0);
  g->all_reduce(t, dist::ReduceOp::Avg);
  EXPECT_EQ(t.to_vector<double>(), std::vector<double>(3, 2.0));
  EXPECT_EQ(g->all_gather(t).sizes().vec(), (std::vector<int64_t>{1, 3}));
  g->barrier();
}

TEST(Distributed, DDPAloneIsThePlainModule) {
  auto g = dist::ProcessGroup::create({.init_method = "env://", .rank = 0, .world_size = 1});
  auto model = make_mlp(2, DType::Float64);
  auto twin = make_mlp(2, DType::Float64);
  auto ddp = std::make_shared<dist::DistributedDataParallel>(model, dist::DDPOptions{.group = g});
  EXPECT_EQ(ddp->state_dict()[0].first, "module.0.weight");  // as PyTorch names it
  auto [x, y] = global_batch(0, DType::Float64);
  nn::functional::mse_loss((*ddp)(x), y).backward();
  nn::functional::mse_loss((*twin)(x), y).backward();
  auto a = model->parameters(), b = twin->parameters();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].grad().to_vector<double>(), b[i].grad().to_vector<double>());
  // Without a group, DDP says what to do first.
  EXPECT_ERROR_HAS(dist::DistributedDataParallel(make_mlp(2, DType::Float32)), "init_process_group() first");
  auto half = make_mlp(2, DType::Float32);
  half->to(DType::Float16);
  EXPECT_ERROR_HAS(dist::DistributedDataParallel(half, {.group = g}), "reduced in float32 or float64 only");
}

TEST(Distributed, BadOptionsAreClearErrors) {
  EXPECT_ERROR_HAS(dist::ProcessGroup::create({.init_method = "env://", .rank = 2, .world_size = 2}),
                   "rank must be in [0, 2)");
  EXPECT_ERROR_HAS(dist::ProcessGroup::create({.init_method = "nccl://x", .rank = 0, .world_size = 2}),
                   "init_method must be env://, tcp://HOST:PORT or file:///DIR");
  EXPECT_ERROR_HAS(dist::ProcessGroup::create({.init_method = "tcp://nohostport", .rank = 1, .world_size = 2}),
                   "expected HOST:PORT");
  // Rank 1 waits for a store that never comes: an error after the timeout, not a hang.
  const int port = free_port();
  const auto t0 = Clock::now();
  EXPECT_ERROR_HAS(dist::ProcessGroup::create({.init_method = "tcp://127.0.0.1:" + std::to_string(port),
                                               .rank = 1, .world_size = 2,
                                               .timeout = std::chrono::milliseconds(300)}),
                   "no TCP store answered");
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(5));
  // The same with a file store (Gloo's own waits 30 s unless told otherwise).
  TestDir tmp("missing_rank");
  const auto t1 = Clock::now();
  EXPECT_ERROR_HAS(dist::ProcessGroup::create({.init_method = "file://" + (tmp.path / "store").string(),
                                               .rank = 1, .world_size = 2,
                                               .timeout = std::chrono::milliseconds(300)}),
                   "rendezvous failed within 300 ms");
  EXPECT_LT(Clock::now() - t1, std::chrono::seconds(5));
  EXPECT_ERROR_HAS(dist::default_group(), "init_process_group() first");
  EXPECT_EQ(dist::get_world_size(), 1);
}

// Compares the "ddp" scenario's outputs in `dir` (files `prefix`0_..., `prefix`1_...) with
// one process trained on whole batches.
void expect_ranks_match_one_process(const fs::path& dir, const std::string& prefix = "rank") {
  for (DType dt : {DType::Float64, DType::Float32})
    for (bool accumulate : {false, true}) {
      auto ref = make_mlp(7, dt);  // rank 0's initialisation
      train(*ref, nullptr, 0, kGlobalBatch, dt, accumulate);
      const std::string suffix = detail::concat("_", dtype_name(dt), accumulate ? "_acc" : "", ".safetensors");
      auto r0 = load_safetensors((dir / (prefix + "0" + suffix)).string()).tensors;
      auto r1 = load_safetensors((dir / (prefix + "1" + suffix)).string()).tensors;
      auto expected = ref->state_dict();
      ASSERT_EQ(r0.size(), expected.size());
      double worst_abs = 0, diff2 = 0, ref2 = 0;
      for (size_t i = 0; i < expected.size(); ++i) {
        Tensor e = expected[i].second.to(DType::Float64), a = r0[i].second.to(DType::Float64);
        Tensor b = r1[i].second.to(DType::Float64);
        // The ranks agree exactly: they apply the same averaged gradients.
        EXPECT_EQ(a.to_vector<double>(), b.to_vector<double>()) << expected[i].first;
        worst_abs = std::max(worst_abs, max(abs(sub(a, e))).item<double>());
        diff2 += sum(square(sub(a, e))).item<double>();
        ref2 += sum(square(e)).item<double>();
      }
      const double rel_l2 = std::sqrt(diff2 / ref2);
      std::printf("[ DDP%s ] %s%s: max |2 ranks - 1 process| = %.3g, relative l2 = %.3g\n",
                  prefix == "rank" ? "" : (" " + prefix).c_str(), dtype_name(dt),
                  accumulate ? " (no_sync accumulation)" : "", worst_abs, rel_l2);
      if (dt == DType::Float64) EXPECT_LE(worst_abs, 1e-10);
      else EXPECT_LE(rel_l2, 1e-6);
      // The run moved the weights: the comparison is not between two untouched copies.
      auto init = make_mlp(7, dt)->state_dict();
      EXPECT_GT(max(abs(sub(init[0].second, expected[0].second))).item<double>(), 1e-3);
    }
}

// Acceptance 1: two processes, each with half of every global batch, end 20 SGD steps
// with the parameters one process reaches with the whole batch.
TEST(Distributed, TwoRanksMatchOneProcess) {
  TestDir tmp("ddp");
  const fs::path& dir = tmp.path;
  run_ranks("ddp", 2, dir, "file://" + (dir / "store").string());
  if (::testing::Test::HasFailure()) return;
  expect_ranks_match_one_process(dir);
}

// Issue 13: compiled train steps under DDP, the all-reduce a node of the graph. The same 20
// steps as above, compiled: they end where one process ends and where the eager ranks end.
TEST(Distributed, CompiledStepsMatchEagerAndOneProcess) {
  TestDir tmp("compiled");
  const fs::path& dir = tmp.path;
  run_ranks("compiled", 2, dir, "file://" + (dir / "store").string(), std::chrono::seconds(120));
  if (::testing::Test::HasFailure()) return;
  show_rank0_lines(dir, "[ DDP compiled ]");
  expect_ranks_match_one_process(dir, "compiled_rank");
  for (DType dt : {DType::Float64, DType::Float32})
    for (bool accumulate : {false, true}) {
      const std::string suffix = detail::concat("_", dtype_name(dt), accumulate ? "_acc" : "", ".safetensors");
      auto c = load_safetensors((dir / ("compiled_rank0" + suffix)).string()).tensors;
      auto e = load_safetensors((dir / ("rank0" + suffix)).string()).tensors;
      ASSERT_EQ(c.size(), e.size());
      double worst_abs = 0, diff2 = 0, ref2 = 0;
      for (size_t i = 0; i < c.size(); ++i) {
        Tensor a = c[i].second.to(DType::Float64), b = e[i].second.to(DType::Float64);
        worst_abs = std::max(worst_abs, max(abs(sub(a, b))).item<double>());
        diff2 += sum(square(sub(a, b))).item<double>();
        ref2 += sum(square(b)).item<double>();
      }
      const double rel_l2 = std::sqrt(diff2 / ref2);
      std::printf("[ DDP compiled ] %s%s: max |compiled - eager DDP| = %.3g, relative l2 = %.3g\n", dtype_name(dt),
                  accumulate ? " (no_sync accumulation)" : "", worst_abs, rel_l2);
      if (dt == DType::Float64) EXPECT_LE(worst_abs, 1e-10);
      else EXPECT_LE(rel_l2, 1e-6);
    }
}

TEST(Distributed, CompiledStepUnderNoSyncIsAnotherGraph) {
  TestDir tmp("compiled_no_sync");
  const fs::path& dir = tmp.path;
  run_ranks("compiled_no_sync", 2, dir, "file://" + (dir / "store").string());
}

TEST(Distributed, CompiledStepBroadcastsBuffers) {
  TestDir tmp("compiled_bn");
  const fs::path& dir = tmp.path;
  run_ranks("compiled_batchnorm", 2, dir, "file://" + (dir / "store").string());
}

TEST(Distributed, BackupAndRestoreUnderDDP) {
  TestDir tmp("backup");
  const fs::path& dir = tmp.path;
  run_ranks("backup", 2, dir, "file://" + (dir / "store").string());
}

TEST(Distributed, FitCompiledUnderDDP) {
  TestDir tmp("fit_compiled");
  const fs::path& dir = tmp.path;
  run_ranks("fit_compiled", 2, dir, "file://" + (dir / "store").string());
  show_rank0_lines(dir, "[ DDP compiled ]");
}

TEST(Distributed, UnusedParameters) {
  TestDir tmp("unused");
  const fs::path& dir = tmp.path;
  run_ranks("unused", 2, dir, "file://" + (dir / "store").string());
}

TEST(Distributed, FitUnderDDP) {
  TestDir tmp("fit");
  const fs::path& dir = tmp.path;
  run_ranks("fit", 2, dir, "file://" + (dir / "store").string());
  const std::string log0 = read_bytes((dir / "rank0.log").string());
  const std::string log1 = read_bytes((dir / "rank1.log").string());
  EXPECT_NE(log0.find("Epoch 3/3"), std::string::npos) << log0;
  EXPECT_EQ(log1.find("Epoch"), std::string::npos) << "rank 1 printed progress:\n" << log1;
  EXPECT_TRUE(fs::exists(dir / "best.safetensors"));
  // Header and three rows, written once (by rank 0).
  const std::string csv = read_bytes((dir / "log.csv").string());
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4) << csv;
}

TEST(DistributedSampler, ShardsAreDisjointEqualAndReshuffledPerEpoch) {
  for (bool drop_last : {false, true})
    for (int64_t n : {10, 11, 3}) {
      const int world = 4;
      std::vector<std::vector<int64_t>> shards;
      for (int r = 0; r < world; ++r)
        shards.push_back(dist::distributed_sampler({.num_replicas = world, .rank = r, .seed = 9,
                                                    .drop_last = drop_last})(n, 0));
      const size_t per = static_cast<size_t>(drop_last ? n / world : (n + world - 1) / world);
      std::vector<int> hits(static_cast<size_t>(n), 0);
      for (const auto& s : shards) {
        EXPECT_EQ(s.size(), per) << "n " << n << " drop_last " << drop_last;
        for (int64_t i : s) ++hits[static_cast<size_t>(i)];
      }
      int64_t covered = 0, repeated = 0;
      for (int h : hits) {
        covered += h > 0;
        repeated += h > 1 ? h - 1 : 0;
      }
      // Dropping loses the tail (at most world - 1); padding repeats at most world - 1.
      if (drop_last) {
        EXPECT_EQ(covered, static_cast<int64_t>(per) * world);
        EXPECT_EQ(repeated, 0);
      } else {
        EXPECT_EQ(covered, n);
        EXPECT_EQ(repeated, static_cast<int64_t>(per) * world - n);
      }
    }
  auto s = dist::distributed_sampler({.num_replicas = 2, .rank = 1, .seed = 4});
  EXPECT_EQ(s(100, 3), s(100, 3));  // a pure function of the epoch
  EXPECT_NE(s(100, 3), s(100, 4));  // reshuffled per epoch
  auto in_order = dist::distributed_sampler({.num_replicas = 2, .rank = 1, .shuffle = false});
  EXPECT_EQ(in_order(5, 0), (std::vector<int64_t>{1, 3, 0}));  // padded with the first index
  // The loader follows the sampler, and set_epoch replays an epoch.
  data::DataLoader loader(data::TensorDataset(arange(6).to(kFloat32).unsqueeze(1), arange(6)),
                          {.batch_size = 2, .sampler = in_order});
  EXPECT_EQ(loader.size(), 2);
  std::vector<int64_t> seen;
  for (const data::Batch& b : loader)
    for (int64_t v : b.target.to_vector<int64_t>()) seen.push_back(v);
  EXPECT_EQ(seen, (std::vector<int64_t>{1, 3, 5}));
  EXPECT_ERROR_HAS(dist::distributed_sampler({.num_replicas = 2, .rank = 2}), "rank must be in [0, 2)");
  EXPECT_ERROR_HAS(data::DataLoader(data::TensorDataset(ones({2, 1}), ones({2})),
                                    {.shuffle = true, .sampler = in_order}),
                   "shuffle and sampler are exclusive");
  data::DataLoader bad(data::TensorDataset(ones({2, 1}), ones({2})),
                       {.sampler = [](int64_t, int64_t) { return std::vector<int64_t>{5}; }});
  EXPECT_ERROR_HAS(loader.order(0).size() + bad.order(0).size(), "outside the dataset's [0, 2)");
}

TEST(Distributed, StuckPeerIsATimeout) {
  TestDir tmp("stuck");
  const fs::path& dir = tmp.path;
  std::vector<Child> ranks;
  for (int r = 0; r < 2; ++r)
    ranks.push_back(spawn_worker({{"TESSERA_DIST_SCENARIO", "stuck"},
                                  {"TESSERA_DIST_OUT", dir.string()},
                                  {"TESSERA_DIST_INIT", "file://" + (dir / "store").string()},
                                  {"TESSERA_DIST_TIMEOUT", "0.5"},
                                  {"RANK", std::to_string(r)},
                                  {"WORLD_SIZE", "2"},
                                  {"TESSERA_NUM_THREADS", "1"}},
                                 (dir / ("rank" + std::to_string(r) + ".log")).string()));
  const bool rank0_ended = wait_child(ranks[0], Clock::now() + std::chrono::seconds(20));
  kill(ranks[1].pid, SIGKILL);  // the stuck rank
  ASSERT_TRUE(wait_child(ranks[1], Clock::now() + std::chrono::seconds(5)));
  ASSERT_TRUE(rank0_ended);
  const std::string log = read_bytes(ranks[0].log);
  EXPECT_FALSE(exited_ok(ranks[0]));
  EXPECT_NE(log.find("timed out after 500 ms; every peer still answers"), std::string::npos) << log;
}

#ifdef TESSERA_CLI_PATH
// `tessera launch` with the worker as CMD: the environment it sets is enough for env://.
TEST(DistributedLaunch, RunsRanksWithTheirEnvironment) {
  TestDir tmp("launch");
  const fs::path& dir = tmp.path;
  std::vector<std::string> cmd = {TESSERA_CLI_PATH, "launch", "--nproc", "3", "--timeout", "20"};
  for (const std::string& a : worker_command()) cmd.push_back(a);
  Child c = spawn(cmd, {{"TESSERA_DIST_SCENARIO", "collectives"}, {"TESSERA_DIST_OUT", dir.string()},
                        {"TESSERA_NUM_THREADS", "1"}, {"OMP_NUM_THREADS", "1"}},
                  (dir / "launch.log").string());
  ASSERT_GT(c.pid, 0);
  EXPECT_TRUE(wait_child(c, Clock::now() + std::chrono::seconds(60)));
  EXPECT_TRUE(exited_ok(c)) << read_bytes(c.log);
}

TEST(DistributedLaunch, OneRankFailingStopsTheOthers) {
  TestDir tmp("launch_die");
  const fs::path& dir = tmp.path;
  std::vector<std::string> cmd = {TESSERA_CLI_PATH, "launch", "--nproc", "2", "--timeout", "10"};
  for (const std::string& a : worker_command()) cmd.push_back(a);
  const auto t0 = Clock::now();
  Child c = spawn(cmd, {{"TESSERA_DIST_SCENARIO", "die"}, {"TESSERA_DIST_OUT", dir.string()},
                        {"TESSERA_NUM_THREADS", "1"}, {"OMP_NUM_THREADS", "1"}},
                  (dir / "launch.log").string());
  ASSERT_GT(c.pid, 0);
  ASSERT_TRUE(wait_child(c, Clock::now() + std::chrono::seconds(30))) << read_bytes(c.log);
  const double took = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::string log = read_bytes(c.log);
  std::printf("[ DDP ] launcher ended %.2f s after start, rank 1 exiting with 7 at ~0.3 s\n", took);
  ASSERT_TRUE(WIFEXITED(c.status)) << log;
  EXPECT_EQ(WEXITSTATUS(c.status), 7) << log;
  EXPECT_NE(log.find("rank 1 (pid"), std::string::npos) << log;
  EXPECT_NE(log.find("exited with status 7; stopping the other 1 rank(s)"), std::string::npos) << log;
  EXPECT_LT(took, 20);
}

TEST(DistributedLaunch, ForwardsSignals) {
  TestDir tmp("launch_signal");
  const fs::path& dir = tmp.path;
  std::vector<std::string> cmd = {TESSERA_CLI_PATH, "launch", "--nproc", "2"};
  for (const std::string& a : worker_command()) cmd.push_back(a);
  Child c = spawn(cmd, {{"TESSERA_DIST_SCENARIO", "forever"}, {"TESSERA_DIST_OUT", dir.string()},
                        {"TESSERA_NUM_THREADS", "1"}, {"OMP_NUM_THREADS", "1"}},
                  (dir / "launch.log").string());
  ASSERT_GT(c.pid, 0);
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (!(fs::exists(dir / "running0") && fs::exists(dir / "running1")) && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  kill(c.pid, SIGTERM);
  // The launcher returns only once every rank is reaped.
  ASSERT_TRUE(wait_child(c, Clock::now() + std::chrono::seconds(20))) << read_bytes(c.log);
  ASSERT_TRUE(WIFEXITED(c.status)) << read_bytes(c.log);
  EXPECT_EQ(WEXITSTATUS(c.status), 128 + SIGTERM) << read_bytes(c.log);
}

TEST(DistributedLaunch, UsageErrors) {
  TestDir tmp("launch_usage");
  for (std::vector<std::string> args : {std::vector<std::string>{"launch", "--nproc", "2"},
                                        std::vector<std::string>{"launch", "--nproc", "0", "true"},
                                        std::vector<std::string>{"launch", "--nnodes", "2", "true"},
                                        std::vector<std::string>{"launch", "--bogus", "1", "true"},
                                        std::vector<std::string>{"launch", "--master", "nohost", "true"}}) {
    args.insert(args.begin(), TESSERA_CLI_PATH);
    Child c = spawn(args, {}, (tmp.path / "usage.log").string());
    ASSERT_TRUE(wait_child(c, Clock::now() + std::chrono::seconds(10)));
    EXPECT_TRUE(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 2) << args[2] << ": " << read_bytes(c.log);
  }
  // A command that cannot start is an I/O error (4), named.
  Child c = spawn({TESSERA_CLI_PATH, "launch", "--nproc", "2", "/no/such/command"}, {},
                  (tmp.path / "nocmd.log").string());
  ASSERT_TRUE(wait_child(c, Clock::now() + std::chrono::seconds(10)));
  EXPECT_TRUE(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 4) << read_bytes(c.log);
  EXPECT_NE(read_bytes(c.log).find("cannot start rank 0 (/no/such/command)"), std::string::npos);
}

// `tessera train --nproc 2` end to end, on a tiny stand-in for Fashion-MNIST.
TEST(DistributedLaunch, TrainCommandWithNproc) {
  TestDir tmp("train");
  const fs::path& dir = tmp.path;
  Generator gen(1);
  for (auto [split, n] : {std::pair<const char*, int64_t>{"train", 48}, {"t10k", 32}}) {
    data::write_idx((dir / (std::string(split) + "-images-idx3-ubyte")).string(),
                    randint(0, 256, {n, 28, 28}, kInt64, &gen).to(kUInt8));
    data::write_idx((dir / (std::string(split) + "-labels-idx1-ubyte")).string(),
                    randint(0, 10, {n}, kInt64, &gen).to(kUInt8));
  }
  Child c = spawn({TESSERA_CLI_PATH, "train", "--nproc", "2", "--threads", "1", "--epochs", "1",
                   "--batch-size", "16", "--data", dir.string(), "--out", (dir / "ckpt.safetensors").string()},
                  {{"OMP_NUM_THREADS", "1"}}, (dir / "train.log").string());
  ASSERT_GT(c.pid, 0);
  ASSERT_TRUE(wait_child(c, Clock::now() + std::chrono::seconds(120))) << read_bytes(c.log);
  const std::string log = read_bytes(c.log);
  EXPECT_TRUE(exited_ok(c)) << log;
  EXPECT_NE(log.find("2 ranks (batch 8 each)"), std::string::npos) << log;
  size_t lines = 0;
  for (size_t at = log.find("test_accuracy:"); at != std::string::npos; at = log.find("test_accuracy:", at + 1)) ++lines;
  EXPECT_EQ(lines, 1u) << "rank 0 alone reports:\n" << log;
  EXPECT_TRUE(fs::exists(dir / "ckpt.safetensors"));
  // An odd global batch does not split over two ranks.
  Child bad = spawn({TESSERA_CLI_PATH, "train", "--nproc", "2", "--batch-size", "15", "--data", dir.string(),
                     "--out", (dir / "ckpt2.safetensors").string()},
                    {}, (dir / "bad.log").string());
  ASSERT_TRUE(wait_child(bad, Clock::now() + std::chrono::seconds(60)));
  EXPECT_TRUE(WIFEXITED(bad.status) && WEXITSTATUS(bad.status) == 2) << read_bytes(bad.log);
  EXPECT_NE(read_bytes(bad.log).find("must divide evenly over 2 ranks"), std::string::npos) << read_bytes(bad.log);
}
#endif

#ifdef TESSERA_CLI_PATH
// Two "hosts": network namespaces joined by a veth pair, made by the constructor (root
// only: `skip` says why not) and removed by the destructor. A launcher runs in each with
// --nnodes 2, the master at the first one's address.
struct TwoHosts {
  std::string ip, skip;
  std::string ns[2], addr[2];
  bool ready = false;

  bool sh(const std::vector<std::string>& args) const {
    std::vector<std::string> argv = {ip};
    argv.insert(argv.end(), args.begin(), args.end());
    Child c = spawn(argv, {}, "/dev/null");
    return c.pid > 0 && wait_child(c, Clock::now() + std::chrono::seconds(10)) && exited_ok(c);
  }
  TwoHosts() {
    for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
      if (fs::exists(p)) ip = p;
    if (geteuid() != 0 || ip.empty()) {
      skip = "needs root and iproute2's ip";
      return;
    }
    const std::string tag = std::to_string(getpid() % 100000);
    const std::string dev[2] = {"tsa" + tag, "tsb" + tag};  // interface names: 15 chars at most
    const int subnet = 20 + getpid() % 200;
    for (int i = 0; i < 2; ++i) {
      ns[i] = std::string(i == 0 ? "tessera_a" : "tessera_b") + tag;
      addr[i] = "10.213." + std::to_string(subnet) + "." + std::to_string(i + 1);
    }
    if (!sh({"netns", "add", ns[0]})) {
      skip = "cannot create network namespaces here";
      return;
    }
    ready = sh({"netns", "add", ns[1]}) && sh({"link", "add", dev[0], "type", "veth", "peer", "name", dev[1]});
    for (int i = 0; i < 2 && ready; ++i)
      ready = sh({"link", "set", dev[i], "netns", ns[i]}) && sh({"-n", ns[i], "addr", "add", addr[i] + "/24", "dev", dev[i]}) &&
              sh({"-n", ns[i], "link", "set", dev[i], "up"}) && sh({"-n", ns[i], "link", "set", "lo", "up"});
  }
  ~TwoHosts() {
    if (!ip.empty() && skip.empty()) {
      sh({"netns", "del", ns[0]});
      sh({"netns", "del", ns[1]});
    }
  }
  // The launcher command of node `node` (one rank each), followed by `command`.
  std::vector<std::string> launch(int node, int port, const std::vector<std::string>& command,
                                  int timeout_s = 20) const {
    std::vector<std::string> cmd = {ip, "netns", "exec", ns[node], TESSERA_CLI_PATH, "launch",
                                    "--nproc", "1", "--nnodes", "2", "--node-rank", std::to_string(node),
                                    "--master", addr[0] + ":" + std::to_string(port), "--timeout",
                                    std::to_string(timeout_s)};
    cmd.insert(cmd.end(), command.begin(), command.end());
    return cmd;
  }
};

TEST(DistributedHosts, TwoNetworkNamespacesMatchOneProcess) {
  TwoHosts hosts;
  if (!hosts.skip.empty()) GTEST_SKIP() << hosts.skip;
  ASSERT_TRUE(hosts.ready);
  TestDir tmp("hosts");
  const fs::path& dir = tmp.path;
  std::vector<Child> nodes;
  for (int node = 0; node < 2; ++node) {
    nodes.push_back(spawn(hosts.launch(node, 29517, worker_command()),
                          {{"TESSERA_DIST_SCENARIO", "ddp"}, {"TESSERA_DIST_OUT", dir.string()},
                           {"TESSERA_NUM_THREADS", "1"}, {"OMP_NUM_THREADS", "1"}},
                          (dir / ("node" + std::to_string(node) + ".log")).string()));
    ASSERT_GT(nodes.back().pid, 0);
  }
  for (Child& c : nodes) {
    EXPECT_TRUE(wait_child(c, Clock::now() + std::chrono::seconds(60))) << read_bytes(c.log);
    EXPECT_TRUE(exited_ok(c)) << read_bytes(c.log);
  }
  if (::testing::Test::HasFailure()) return;
  // Rank 1 reached rank 0 over the veth pair, from its own address.
  expect_ranks_match_one_process(dir);
}

// The value after "test_accuracy: " in a log, or -1.
double test_accuracy_in(const std::string& log) {
  const size_t at = log.rfind("test_accuracy: ");
  return at == std::string::npos ? -1.0 : std::atof(log.c_str() + at + 15);
}

// Acceptance 2 of the distributed issue: CNN28 trained for one epoch of Fashion-MNIST by
// two "hosts" ends at the single process's test accuracy. Same initial weights, the same
// global batches (below), gradients averaged exactly (DDP matches one process to 1e-10 in
// TwoNetworkNamespacesMatchOneProcess): what differs is CNN28's dropout masks, each rank
// drawing its own. That alone moves one epoch's accuracy by about 0.01: the single process
// with seeds 1, 0, 2 ended at 0.8819, 0.8887, 0.8917 (the 0.005 is inside that
// noise; measured two hosts vs one process: 0.8947 vs 0.8887). So the bound is the seed
// spread, 0.01. About a minute per run; skipped under sanitizers (many minutes there) and
// without the dataset package.
TEST(DistributedHosts, Cnn28EpochOverTwoHostsMatchesOneProcess) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "a full epoch: release builds only";
#endif
  const char* data = "/usr/share/datasets/fashion-mnist";
  if (!fs::exists(fs::path(data) / "train-images-idx3-ubyte.gz")) GTEST_SKIP() << "no dataset-fashion-mnist";
  TwoHosts hosts;
  if (!hosts.skip.empty()) GTEST_SKIP() << hosts.skip;
  ASSERT_TRUE(hosts.ready);
  TestDir tmp("hosts_cnn28");
  const fs::path& dir = tmp.path;
  auto train = [&](const std::string& out) {
    return std::vector<std::string>{TESSERA_CLI_PATH, "train", "--epochs", "1", "--threads", "1", "--data", data,
                                    "--out", (dir / out).string()};
  };
  std::vector<Child> nodes;
  for (int node = 0; node < 2; ++node) {
    std::vector<std::string> cmd = train("two_hosts.safetensors");  // run by the launcher, as a rank
    cmd.push_back("--distributed");
    nodes.push_back(spawn(hosts.launch(node, 29518, cmd, 120), {{"OMP_NUM_THREADS", "1"}},
                          (dir / ("node" + std::to_string(node) + ".log")).string()));
    ASSERT_GT(nodes.back().pid, 0);
  }
  for (Child& c : nodes) {
    EXPECT_TRUE(wait_child(c, Clock::now() + std::chrono::seconds(600))) << read_bytes(c.log);
    EXPECT_TRUE(exited_ok(c)) << read_bytes(c.log);
  }
  // The single process reads the epoch in the same order (the distributed sampler's, at one
  // rank): the two hosts' global batches are its batches, so what differs is the dropout
  // masks and the order of the gradient sums.
  std::vector<std::string> single_cmd = train("one.safetensors");
  single_cmd.insert(single_cmd.end(), {"--nproc", "1"});
  Child one = spawn(single_cmd, {{"OMP_NUM_THREADS", "1"}}, (dir / "one.log").string());
  ASSERT_GT(one.pid, 0);
  EXPECT_TRUE(wait_child(one, Clock::now() + std::chrono::seconds(600))) << read_bytes(one.log);
  EXPECT_TRUE(exited_ok(one)) << read_bytes(one.log);
  if (::testing::Test::HasFailure()) return;
  const std::string log0 = read_bytes(nodes[0].log);
  const double two = test_accuracy_in(log0), single = test_accuracy_in(read_bytes(one.log));
  std::printf("CNN28, 1 epoch of Fashion-MNIST: two hosts (network namespaces) test_accuracy %.4f, one process "
              "%.4f, difference %.4f\n", two, single, std::abs(two - single));
  EXPECT_NE(log0.find("2 ranks (batch 32 each)"), std::string::npos) << log0;
  EXPECT_GT(single, 0.8);
  EXPECT_LE(std::abs(two - single), 0.01);
}
#endif

// Acceptance 3: a rank killed mid-run makes the other exit non-zero within the timeout,
// naming the lost rank.
// The other ranks exit non-zero naming the killed one, usually within 0.2 s. The bound is
// the timeout plus the time to probe and exit: with three ranks a survivor that was
// waiting on another peer when the rank died fails only at the timeout itself, and even
// with two, Gloo sometimes leaves a send that was queued for the dead peer waiting until
// the timeout ("Timed out waiting 10000ms for send operation to complete": 2 runs in 30
// of this test here, on an otherwise busy machine); docs/distributed.md.
void kill_one_rank(bool tcp, int victim, int world) {
  TestDir tmp(detail::concat("kill_", tcp ? "tcp" : "file", victim, "_", world));
  const fs::path& dir = tmp.path;
  const int timeout_s = 10;
  const double limit_s = timeout_s + 2.0;
  const std::string port = std::to_string(free_port());
  std::vector<Child> ranks;
  for (int r = 0; r < world; ++r) {
    ranks.push_back(spawn_worker({{"TESSERA_DIST_SCENARIO", "forever"},
                                  {"TESSERA_DIST_OUT", dir.string()},
                                  {"TESSERA_DIST_INIT", tcp ? "env://" : "file://" + (dir / "store").string()},
                                  {"MASTER_ADDR", "127.0.0.1"},
                                  {"MASTER_PORT", port},
                                  {"TESSERA_DIST_TIMEOUT", std::to_string(timeout_s)},
                                  {"RANK", std::to_string(r)},
                                  {"WORLD_SIZE", std::to_string(world)},
                                  {"TESSERA_NUM_THREADS", "1"},
                                  {"OMP_NUM_THREADS", "1"}},
                                 (dir / ("rank" + std::to_string(r) + ".log")).string()));
    ASSERT_GT(ranks.back().pid, 0);
  }
  // Every rank is training.
  auto all_running = [&] {
    for (int r = 0; r < world; ++r)
      if (!fs::exists(dir / ("running" + std::to_string(r)))) return false;
    return true;
  };
  const auto start_deadline = Clock::now() + std::chrono::seconds(30);
  while (!all_running() && Clock::now() < start_deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(all_running()) << read_bytes(ranks[0].log);
  kill(ranks[victim].pid, SIGKILL);
  const auto killed_at = Clock::now();
  wait_child(ranks[victim], Clock::now() + std::chrono::seconds(5));
  for (int r = 0; r < world; ++r) {
    if (r == victim) continue;
    const bool in_time = wait_child(ranks[r], killed_at + std::chrono::seconds(timeout_s + 5));
    const double took = std::chrono::duration<double>(Clock::now() - killed_at).count();
    const std::string log = read_bytes(ranks[r].log);
    std::printf("[ DDP ] %d ranks, %s store: rank %d exited %.2f s after rank %d was killed (timeout %d s)\n",
                world, tcp ? "TCP" : "file", r, took, victim, timeout_s);
    ASSERT_TRUE(in_time) << "rank " << r << " still ran " << timeout_s + 5 << " s after rank "
                         << victim << " died:\n" << log;
    EXPECT_LE(took, limit_s) << log;
    EXPECT_FALSE(exited_ok(ranks[r]));
    EXPECT_NE(log.find(detail::concat("lost rank ", victim, " (")), std::string::npos) << log;
  }
}

TEST(Distributed, KilledRankIsNamedWithinTimeout) {
  kill_one_rank(false, 1, 2);
  kill_one_rank(true, 1, 2);
  kill_one_rank(true, 0, 2);  // rank 0 hosts the TCP store
  kill_one_rank(false, 1, 3);
}

}  // namespace
}  // namespace tessera
