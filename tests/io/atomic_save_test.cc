// Atomic saves (src/core/files.h): a save killed at any moment leaves exactly the old or
// the new file, and the temporary it leaves is removed by the next save of the same path,
// unless a writer still holds it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/files.h"
#include "tessera/tessera.h"
#include "test_util.h"

using namespace tessera;
namespace fs = std::filesystem;

namespace {

std::string scratch_dir(const std::string& name) {
  fs::path dir = fs::path(TESSERA_TEST_BINARY_DIR) / "atomic_save_test" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

// Files in `dir` other than `keep`: the temporaries a save left behind.
std::vector<std::string> leftovers(const std::string& dir, const std::string& keep) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename() != keep) out.push_back(e.path().filename().string());
  return out;
}

// Three checkpoint contents, each a few tens of MB, distinct in every element, so a file
// mixing two saves, or a torn one, cannot pass for either.
struct Contents {
  static constexpr int64_t kFloats = int64_t{7} << 20;  // 28 MiB of model weights
  std::vector<Tensor> weights, steps;
  Contents() {
    for (int k = 0; k < 3; ++k) {
      Tensor w = make_tensor({kFloats}, DType::Float32);
      float* p = w.data<float>();
      for (int64_t i = 0; i < kFloats; ++i)
        p[i] = static_cast<float>(k * 3 + 1) + 1e-7f * static_cast<float>(i);
      weights.push_back(w);
      Tensor s = make_tensor({}, DType::Int64);
      *s.data<int64_t>() = 1000 + k;
      steps.push_back(s);
    }
  }
  // Writes generation `gen` (contents gen % 3, the number in the metadata).
  void save(const std::string& path, int64_t gen) const {
    const size_t k = static_cast<size_t>(gen % 3);
    save_checkpoint(path, {{"w", weights[k]}}, {{"step", steps[k]}},
                    {{"gen", std::to_string(gen)}});
  }
  // Loads `path` and returns its generation after checking every byte against it.
  int64_t check(const std::string& path) const {
    const Checkpoint ck = load_checkpoint(path);
    const int64_t gen = std::stoll(ck.metadata.at("gen"));
    const size_t k = static_cast<size_t>(gen % 3);
    EXPECT_EQ(ck.model.size(), 1u);
    EXPECT_EQ(ck.optimizer.size(), 1u);
    if (ck.model.size() != 1 || ck.optimizer.size() != 1) return -1;
    const Tensor& w = ck.model[0].second;
    EXPECT_EQ(w.numel(), kFloats);
    EXPECT_EQ(std::memcmp(w.data_ptr(), weights[k].data_ptr(), weights[k].nbytes()), 0)
        << "generation " << gen << ": weights differ from what was saved";
    EXPECT_EQ(*ck.optimizer[0].second.data<int64_t>(), 1000 + static_cast<int64_t>(k));
    return gen;
  }
};

struct Progress {
  int64_t gen;
  int64_t done;  // 0: the save of gen starts, 1: it returned
};

}  // namespace

// A child saves new contents over and over; the parent SIGKILLs it after a random delay
// (up to ~2.5 saves, so kills land before, inside and between writes). After each kill the
// file on disk must be exactly the last completed save or the one in progress, and the
// parent's next save must leave no temporary behind.
TEST(AtomicSave, KilledSavesLeaveOldOrNewAndNoTemporary) {
  const std::string dir = scratch_dir("kill");
  const std::string name = "model.safetensors";
  const std::string path = dir + "/" + name;
  const Contents contents;

  auto t0 = std::chrono::steady_clock::now();
  contents.save(path, 0);
  const double save_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int64_t on_disk = contents.check(path);
  ASSERT_EQ(on_disk, 0);

  std::mt19937_64 rng(20240611);
  constexpr int kKills = 20;
  int mid_write = 0, old_kept = 0, new_landed = 0, left_after_next_save = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int kill = 0; kill < kKills; ++kill) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const int64_t first = on_disk + 1;
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // The child only writes what the parent built: no ops, so no thread pool after fork.
      ::close(fds[0]);
      try {
        for (int64_t gen = first;; ++gen) {
          Progress p{gen, 0};
          if (::write(fds[1], &p, sizeof p) != sizeof p) ::_exit(3);
          contents.save(path, gen);
          p.done = 1;
          if (::write(fds[1], &p, sizeof p) != sizeof p) ::_exit(3);
        }
      } catch (...) {
        ::_exit(4);
      }
    }
    ::close(fds[1]);
    std::uniform_real_distribution<double> delay(0.0, 2.5 * save_s + 0.01);
    std::this_thread::sleep_for(std::chrono::duration<double>(delay(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status))
        << "the saving child ended by itself (status " << status << ")";

    int64_t started = on_disk, done = on_disk;
    Progress p{};
    while (::read(fds[0], &p, sizeof p) == sizeof p) (p.done ? done : started) = p.gen;
    ::close(fds[0]);

    const std::vector<std::string> temps = leftovers(dir, name);
    if (!temps.empty()) ++mid_write;
    // Exactly the old file or the new one, whole.
    const int64_t gen = contents.check(path);
    EXPECT_TRUE(gen == done || gen == started)
        << "kill " << kill << ": generation " << gen << " on disk; last completed " << done
        << ", in progress " << started;
    (gen == done ? old_kept : new_landed) += 1;

    // The next save removes what the killed one left.
    on_disk = std::max(started, done) + 1;
    contents.save(path, on_disk);
    const std::vector<std::string> after = leftovers(dir, name);
    left_after_next_save += static_cast<int>(after.size());
    EXPECT_TRUE(after.empty()) << "kill " << kill << ": " << after.size() << " left, e.g. "
                               << (after.empty() ? "" : after[0]);
    EXPECT_EQ(contents.check(path), on_disk);
  }
  const double total_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ atomic save ] %d kills of a %.0f MB checkpoint save (%.3f s each): %d landed "
              "mid-write (a temporary on disk), %d found the last completed save, %d the one in "
              "progress; temporaries left after the next save: %d (%.1f s)\n",
              kKills, static_cast<double>(Contents::kFloats * 4) / 1e6, save_s, mid_write,
              old_kept, new_landed, left_after_next_save, total_s);
  EXPECT_EQ(left_after_next_save, 0);
  // With kills spread over 2.5 saves, most land inside one; none would mean the test no
  // longer exercises a torn write.
  EXPECT_GE(mid_write, 1);
}

// The stale-temporary scan goes by lock, not by pid: a writer at work (here in this very
// process, through another open file) keeps its temporary; an unlocked one goes, even one
// named with a live pid (a pid may be reused); a user's file that only looks alike stays.
TEST(AtomicSave, OnlyUnlockedTemporariesAreRemoved) {
  const std::string dir = scratch_dir("locks");
  const std::string path = dir + "/w.safetensors";
  const std::string prefix = detail::temporary_prefix(path);
  EXPECT_EQ(prefix, path + ".tessera-tmp.");

  detail::AtomicFile writer("test", path);
  EXPECT_EQ(writer.temp_path().rfind(prefix + std::to_string(::getpid()) + ".", 0), 0u)
      << writer.temp_path();
  char stale_name[64];
  std::snprintf(stale_name, sizeof stale_name, "%d.0123456789abcdef", static_cast<int>(::getpid()));
  const std::string stale = prefix + stale_name;
  write_bytes(stale, "what a killed save left");
  const std::string lookalike = path + ".tessera-tmp.my-notes";
  write_bytes(lookalike, "a user's file");

  save_safetensors(path, {{"a", ones({3})}});  // cleans up before writing
  EXPECT_TRUE(fs::exists(writer.temp_path())) << "a concurrent writer's temporary was removed";
  EXPECT_FALSE(fs::exists(stale)) << "an unlocked temporary survived the next save";
  EXPECT_TRUE(fs::exists(lookalike)) << "a file that is no temporary was removed";

  // The concurrent writer finishes undisturbed, and its file replaces the other save's.
  save_safetensors(path + ".2", {{"a", full({3}, 7.0f)}});
  writer.write(read_bytes(path + ".2"));
  writer.commit();
  EXPECT_FLOAT_EQ(load_safetensors(path).tensors[0].second.data<float>()[0], 7.0f);
  EXPECT_EQ(detail::remove_stale_temporaries(path), 0);
  fs::remove(lookalike);
  fs::remove(path + ".2");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path().filename().string());
  EXPECT_EQ(files, std::vector<std::string>{"w.safetensors"});
}

// Every writer goes through the same helper: none writes its target in place.
TEST(AtomicSave, EveryWriterReplacesAtomically) {
  const std::string dir = scratch_dir("writers");
  // A stale temporary beside each target, as a killed save leaves; the save removes it.
  auto plant = [&](const std::string& target) {
    write_bytes(detail::temporary_prefix(target) + "1.00000000000000aa", "stale");
  };
  const std::string npy = dir + "/t.npy", idx = dir + "/t-idx", idx_gz = dir + "/t-idx.gz",
                    ck = dir + "/ck.safetensors", csv = dir + "/log.csv";
  for (const std::string& p : {npy, idx, idx_gz, ck, csv}) plant(p);
  save_npy(npy, arange(5));
  data::write_idx(idx, arange(5).to(kUInt8));
  data::write_idx(idx_gz, arange(5).to(kUInt8));
  save_checkpoint(ck, {{"w", ones({2})}});
  {
    train::CSVLogger logger(csv);
    nn::Linear model(2, 2);
    const train::History history;
    train::TrainContext ctx{model, nullptr, 2, 1, history};
    logger.on_train_begin(ctx);
    train::Logs logs{{"loss", 0.5}};
    logger.on_epoch_end(0, logs, ctx);
    logs["loss"] = 0.25;
    logger.on_epoch_end(1, logs, ctx);
    logger.on_train_end(ctx);
    EXPECT_EQ(read_bytes(csv), "epoch,loss\n0,0.5\n1,0.25\n");
    // A resumed run appends rows under the existing header.
    train::CSVLogger resumed(csv, ',', /*append=*/true);
    resumed.on_train_begin(ctx);
    logs["loss"] = 0.125;
    resumed.on_epoch_end(0, logs, ctx);
  }
  EXPECT_EQ(read_bytes(csv), "epoch,loss\n0,0.5\n1,0.25\n0,0.125\n");
  EXPECT_TRUE(equal(load_npy(npy), arange(5)));
  EXPECT_TRUE(equal(data::read_idx(idx), arange(5).to(kUInt8)));
  EXPECT_TRUE(equal(data::read_idx(idx_gz), arange(5).to(kUInt8)));
  EXPECT_EQ(load_checkpoint(ck).model.size(), 1u);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"ck.safetensors", "log.csv", "t-idx", "t-idx.gz",
                                              "t.npy"}));
}
