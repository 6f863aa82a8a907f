// `tessera train --resume`: a run killed with SIGKILL in its third epoch, started again
// with --resume, ends with the same per-epoch losses, test accuracy and weights as a run
// never interrupted (same seed and threads). On a tiny synthetic Fashion-MNIST-shaped set,
// so it takes seconds.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tessera/data.h"
#include "tessera/ops.h"
#include "tessera/serialize.h"
#include "test_util.h"

#if defined(TESSERA_CLI_PATH)

namespace fs = std::filesystem;
using namespace tessera;

namespace {

struct Scratch {
  std::string path;
  explicit Scratch(const std::string& name)
      : path((fs::temp_directory_path() /
              ("tessera_resume_cli_" + std::to_string(::getpid()) + "_" + name))
                 .string()) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~Scratch() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Starts `tessera args...` with stdout and stderr going to `log`.
pid_t start(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> argv_s = {TESSERA_CLI_PATH};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

int wait_status(pid_t pid) {
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
}

int run(const std::vector<std::string>& args, const std::string& log) {
  return wait_status(start(args, log));
}

// "loss: 0.1234" of each "Epoch N/M" line, by epoch number.
std::map<int, std::string> epoch_losses(const std::string& out) {
  std::map<int, std::string> m;
  const std::regex re(R"(Epoch (\d+)/\d+ .*? loss: ([0-9.]+))");
  for (std::sregex_iterator it(out.begin(), out.end(), re), end; it != end; ++it)
    m[std::stoi((*it)[1])] = (*it)[2];
  return m;
}

std::string line_with(const std::string& out, const std::string& prefix) {
  const size_t p = out.find(prefix);
  return p == std::string::npos ? "<none>" : out.substr(p, out.find('\n', p) - p);
}

}  // namespace

TEST(ResumeCli, KilledInEpochThreeThenResumedMatchesUninterrupted) {
  Scratch dir("kill");
  // 64 random images with random labels (train and test alike): two steps per epoch.
  const std::string data = dir.path + "/data";
  fs::create_directories(data);
  Generator gen(3);
  const Tensor images = randint(0, 256, {64, 28, 28}, kInt64, &gen).to(kUInt8);
  const Tensor labels = randint(0, 10, {64}, kInt64, &gen).to(kUInt8);
  for (const char* split : {"train", "t10k"}) {
    data::write_idx(data + "/" + split + "-images-idx3-ubyte", images);
    data::write_idx(data + "/" + split + "-labels-idx1-ubyte", labels);
  }
  const std::vector<std::string> common = {"--threads", "2", "train", "--epochs", "4",
                                           "--batch-size", "32", "--seed", "9", "--no-validate",
                                           "--data", data};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = common;
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };

  const std::string log_a = dir.path + "/a.txt";
  ASSERT_EQ(run(with({"--out", dir.path + "/a.safetensors"}), log_a), 0) << read_bytes(log_a);
  const std::string out_a = read_bytes(log_a);

  // The same run, killed in epoch 3: once epoch 2's line is out and the backup taken at
  // the start of epoch 3 has replaced the one of epoch 2 (a new file renamed over it: a
  // new inode), then resumed.
  const std::string log_b = dir.path + "/b.txt", out_b_path = dir.path + "/b.safetensors";
  const std::string backup = out_b_path + ".backup";
  const pid_t pid = start(with({"--out", out_b_path}), log_b);
  const auto t0 = std::chrono::steady_clock::now();
  bool killed = false;
  ino_t epoch2_backup = 0;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(120)) {
    struct stat st_b {};
    const bool have_backup = ::stat(backup.c_str(), &st_b) == 0;
    if (epoch2_backup == 0 && have_backup && read_bytes(log_b).find("Epoch 2/4") != std::string::npos)
      epoch2_backup = st_b.st_ino;
    if (epoch2_backup != 0 && have_backup && st_b.st_ino != epoch2_backup) {
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) == pid) break;  // ended before we saw epoch 2 (fails below)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(killed) << read_bytes(log_b);
  EXPECT_EQ(wait_status(pid), -SIGKILL);
  const std::string out_b1 = read_bytes(log_b);
  EXPECT_EQ(out_b1.find("test_accuracy"), std::string::npos) << "the run finished before the kill";
  EXPECT_FALSE(fs::exists(out_b_path));  // no checkpoint: it never got there

  const std::string log_c = dir.path + "/c.txt";
  ASSERT_EQ(run(with({"--out", out_b_path, "--resume"}), log_c), 0) << read_bytes(log_c);
  const std::string out_c = read_bytes(log_c);
  EXPECT_NE(out_c.find("resumed from " + out_b_path + ".backup: 2 epochs done"), std::string::npos)
      << out_c;

  // Per-epoch losses: epochs 1-2 from the killed run, 3-4 from the resumed one.
  const auto la = epoch_losses(out_a), lb = epoch_losses(out_b1), lc = epoch_losses(out_c);
  ASSERT_EQ(la.size(), 4u) << out_a;
  EXPECT_EQ(lb.at(1), la.at(1));
  EXPECT_EQ(lb.at(2), la.at(2));
  EXPECT_EQ(lc.count(1) + lc.count(2), 0u) << out_c;
  EXPECT_EQ(lc.at(3), la.at(3)) << out_c;
  EXPECT_EQ(lc.at(4), la.at(4)) << out_c;
  EXPECT_EQ(line_with(out_c, "test_accuracy:"), line_with(out_a, "test_accuracy:"));
  EXPECT_EQ(line_with(out_c, "test_loss:"), line_with(out_a, "test_loss:"));
  // And the weights, bit for bit.
  const Checkpoint ca = load_checkpoint(dir.path + "/a.safetensors"), cb = load_checkpoint(out_b_path);
  ASSERT_EQ(ca.model.size(), cb.model.size());
  for (size_t i = 0; i < ca.model.size(); ++i) {
    EXPECT_EQ(ca.model[i].first, cb.model[i].first);
    EXPECT_EQ(ca.model[i].second.to_vector<float>(), cb.model[i].second.to_vector<float>())
        << ca.model[i].first;
  }
  EXPECT_EQ(cb.metadata.at("epochs"), "4");
  std::printf("[ resume cli ] killed (SIGKILL) in epoch 3 of 4, resumed: losses %s %s %s %s, %s "
              "(uninterrupted: %s)\n",
              lb.at(1).c_str(), lb.at(2).c_str(), lc.at(3).c_str(), lc.at(4).c_str(),
              line_with(out_c, "test_accuracy:").c_str(), line_with(out_a, "test_accuracy:").c_str());

  // A backup made with another seed is refused, naming both.
  const std::string log_d = dir.path + "/d.txt";
  std::vector<std::string> other = with({"--out", out_b_path, "--resume"});
  other[8] = "10";  // --seed
  ASSERT_EQ(common[7], "--seed");
  EXPECT_EQ(run(other, log_d), 3) << read_bytes(log_d);
  EXPECT_NE(read_bytes(log_d).find("was made with seed=9, this run has seed=10"), std::string::npos)
      << read_bytes(log_d);
}

// The same under `--nproc 2` (issue 13): rank 0 writes the backup, with both ranks'
// generator states; a rank killed (SIGKILL) in epoch 2 of 3 makes the launcher stop the
// job; the job started again with --resume restores on every rank and ends with the
// uninterrupted distributed run's losses, test accuracy and weights.
TEST(ResumeCli, DistributedKilledInEpochTwoThenResumedMatchesUninterrupted) {
  Scratch dir("dist");
  // 256 images: 8 global steps of 32 (16 per rank) per epoch, so an epoch outlasts the
  // 5 ms polling below.
  const std::string data = dir.path + "/data";
  fs::create_directories(data);
  Generator gen(4);
  const Tensor images = randint(0, 256, {256, 28, 28}, kInt64, &gen).to(kUInt8);
  const Tensor labels = randint(0, 10, {256}, kInt64, &gen).to(kUInt8);
  for (const char* split : {"train", "t10k"}) {
    data::write_idx(data + "/" + split + "-images-idx3-ubyte", images);
    data::write_idx(data + "/" + split + "-labels-idx1-ubyte", labels);
  }
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> a = {"train", "--nproc", "2", "--threads", "1", "--epochs", "3", "--batch-size", "32",
                                  "--seed", "9", "--no-validate", "--data", data};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };

  const std::string log_a = dir.path + "/a.txt";
  ASSERT_EQ(run(with({"--out", dir.path + "/a.safetensors"}), log_a), 0) << read_bytes(log_a);
  const std::string out_a = read_bytes(log_a);
  ASSERT_NE(out_a.find("2 ranks (batch 16 each)"), std::string::npos) << out_a;

  // Killed once epoch 1's line is out and the backup taken at the start of epoch 2 exists:
  // rank 1 (the launcher's second child) gets SIGKILL, as a crash would.
  const std::string log_b = dir.path + "/b.txt", out_b_path = dir.path + "/b.safetensors";
  const std::string backup = out_b_path + ".backup";
  const pid_t launcher = start(with({"--out", out_b_path}), log_b);
  const auto t0 = std::chrono::steady_clock::now();
  bool killed = false;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(180)) {
    if (fs::exists(backup) && read_bytes(log_b).find("Epoch 1/3") != std::string::npos) {
      std::istringstream children(read_bytes(detail::concat("/proc/", launcher, "/task/", launcher, "/children")));
      std::vector<pid_t> ranks;
      for (pid_t p; children >> p;) ranks.push_back(p);
      if (ranks.size() == 2) {
        ::kill(ranks[1], SIGKILL);
        killed = true;
        break;
      }
    }
    int st = 0;
    if (::waitpid(launcher, &st, WNOHANG) == launcher) break;  // ended before the kill (fails below)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(killed) << read_bytes(log_b);
  EXPECT_NE(wait_status(launcher), 0);
  const std::string out_b1 = read_bytes(log_b);
  EXPECT_EQ(out_b1.find("test_accuracy"), std::string::npos) << "the run finished before the kill:\n" << out_b1;
  EXPECT_EQ(out_b1.find("Epoch 3/3"), std::string::npos) << out_b1;
  EXPECT_FALSE(fs::exists(out_b_path));

  const std::string log_c = dir.path + "/c.txt";
  ASSERT_EQ(run(with({"--out", out_b_path, "--resume"}), log_c), 0) << read_bytes(log_c);
  const std::string out_c = read_bytes(log_c);
  // Killed in epoch 2: one epoch done (two if epoch 2 ended within the last poll).
  const bool one_done = out_c.find("resumed from " + backup + ": 1 epoch done") != std::string::npos;
  EXPECT_TRUE(one_done || out_c.find("resumed from " + backup + ": 2 epochs done") != std::string::npos) << out_c;
  const auto la = epoch_losses(out_a), lb = epoch_losses(out_b1), lc = epoch_losses(out_c);
  ASSERT_EQ(la.size(), 3u) << out_a;
  EXPECT_EQ(lb.at(1), la.at(1));
  EXPECT_EQ(lc.count(1), 0u) << out_c;
  for (int e = one_done ? 2 : 3; e <= 3; ++e) EXPECT_EQ(lc.at(e), la.at(e)) << "epoch " << e << ":\n" << out_c;
  EXPECT_EQ(line_with(out_c, "test_accuracy:"), line_with(out_a, "test_accuracy:"));
  EXPECT_EQ(line_with(out_c, "test_loss:"), line_with(out_a, "test_loss:"));
  const Checkpoint ca = load_checkpoint(dir.path + "/a.safetensors"), cb = load_checkpoint(out_b_path);
  ASSERT_EQ(ca.model.size(), cb.model.size());
  for (size_t i = 0; i < ca.model.size(); ++i)
    EXPECT_EQ(ca.model[i].second.to_vector<float>(), cb.model[i].second.to_vector<float>()) << ca.model[i].first;
  // The backup holds both ranks' generators and the job's size.
  const SafetensorsContents b = load_safetensors(backup);
  EXPECT_EQ(b.metadata.at("world_size"), "2");
  EXPECT_TRUE(b.metadata.count("generator_offset.rank1"));
  std::printf("[ resume cli ] --nproc 2, rank 1 killed (SIGKILL) in epoch 2 of 3, resumed (%s): losses %s %s %s, %s "
              "(uninterrupted: losses %s %s %s, %s)\n",
              one_done ? "1 epoch done" : "2 epochs done", lb.at(1).c_str(), lc.at(2).c_str(), lc.at(3).c_str(),
              line_with(out_c, "test_accuracy:").c_str(), la.at(1).c_str(), la.at(2).c_str(), la.at(3).c_str(),
              line_with(out_a, "test_accuracy:").c_str());

  // A backup of two ranks does not resume one process: the shards differ.
  const std::string log_d = dir.path + "/d.txt";
  std::vector<std::string> alone = with({"--out", out_b_path, "--resume"});
  alone[2] = "1";  // --nproc
  ASSERT_EQ(alone[1], "--nproc");
  EXPECT_EQ(run(alone, log_d), 3) << read_bytes(log_d);
  EXPECT_NE(read_bytes(log_d).find("was made by a run of 2 process(es), this run has 1"), std::string::npos)
      << read_bytes(log_d);
}

#endif
