#pragma once
// File helpers shared by every reader and writer (io/, data/, train/): one place that
// turns file system failures into IOErrors naming the path and the reason, and one atomic
// writer, so every file Tessera writes is either the old one or the new one after a crash.
//
// Atomic replacement of `dir/name`:
//   1. stale temporaries of the same target left by killed saves are removed (below);
//   2. the data goes to `dir/name.tessera-tmp.<pid>.<random>`, created exclusively and
//      held under an exclusive flock while it is written;
//   3. commit(): fsync the temporary, rename it over `dir/name`, fsync `dir`.
// A save killed at any moment leaves the old file intact, plus at worst a temporary.
//
// Stale temporaries: a killed writer's flock dies with it, so "a temporary nobody holds
// locked" is exactly "a temporary nobody is writing". That test is safe where a pid check
// is not (the pid may have been reused, or belong to another host on a shared file
// system): a concurrent writer's temporary is always locked and never removed.
#include <cstddef>
#include <string>
#include <string_view>

namespace tessera::detail {

// strerror(err), e.g. "No such file or directory".
std::string errno_text(int err);

// Throws IOError "<who>: '<path>': <reason>" unless `path` names an existing regular file
// (or a device/pipe: anything but a folder). Readers call it before opening, so a missing
// file or a folder gives an I/O error with the system's reason.
void check_readable_file(const std::string& who, const std::string& path);

// Throws IOError unless a file can be written at `path`: its folder exists, is a folder and
// is writable (probed by creating and removing a temporary, as a save would), and `path`
// is not a folder itself. The message names the path and the reason (errno text).
void check_writable_path(const std::string& who, const std::string& path);

// The prefix of `path`'s temporaries: "<dir>/<name>.tessera-tmp." (the name cut short when
// the suffix would push it past the file system's name limit).
std::string temporary_prefix(const std::string& path);

// Removes the temporaries of `path` that no writer holds; returns how many.
int remove_stale_temporaries(const std::string& path);

class AtomicFile {
 public:
  // Removes stale temporaries of `path`, then creates and locks a fresh one. `who` starts
  // every error message ("save_safetensors").
  AtomicFile(std::string who, std::string path);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  // Without commit() (an error, an exception elsewhere): removes the temporary.
  ~AtomicFile();

  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  // fsync, rename over the target, fsync the folder. Throws IOError naming the step.
  void commit();

  int fd() const { return fd_; }  // for writers that wrap it (gzdopen on a dup)
  const std::string& temp_path() const { return tmp_; }
  const std::string& path() const { return path_; }

 private:
  [[noreturn]] void fail(const std::string& step, int err);
  void discard() noexcept;

  std::string who_, path_, tmp_;
  int fd_ = -1;
};

// The whole file at once, atomically.
void write_file_atomically(const std::string& who, const std::string& path, std::string_view bytes);

}  // namespace tessera::detail
