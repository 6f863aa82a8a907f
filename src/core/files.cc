#include "core/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "tessera/error.h"
#include "tessera/io.h"

namespace tessera::detail {
namespace {

constexpr std::string_view kTempTag = ".tessera-tmp.";
// Linux's NAME_MAX. The suffix is ".tessera-tmp." + pid (at most 10 digits) + "." + 16 hex
// digits; a target name too long to take it is cut, the same way for every writer, so the
// stale-temporary scan still finds its temporaries.
constexpr size_t kNameMax = 255;
constexpr size_t kSuffixMax = kTempTag.size() + 10 + 1 + 16;

struct Split {
  std::string dir;   // "." for a bare name
  std::string name;  // the last component; empty when the path ends in '/'
};

Split split_path(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

std::string join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

std::string temp_name_prefix(const std::string& name) {
  return name.substr(0, std::min(name.size(), kNameMax - kSuffixMax)) + std::string(kTempTag);
}

// 64 bits that differ between calls, threads and processes; O_EXCL catches the rest.
uint64_t random_bits() {
  static std::atomic<uint64_t> counter{0};
  uint64_t x = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
               (static_cast<uint64_t>(::getpid()) << 40) ^
               (counter.fetch_add(1, std::memory_order_relaxed) * 0x9E3779B97F4A7C15ull);
  // splitmix64's finalizer
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Creates a fresh temporary beside `path`; returns its fd (or -1 with errno set).
int create_temporary(const std::string& path, std::string& tmp) {
  const Split s = split_path(path);
  for (int attempt = 0; attempt < 16; ++attempt) {
    char suffix[48];
    std::snprintf(suffix, sizeof suffix, "%ld.%016llx", static_cast<long>(::getpid()),
                  static_cast<unsigned long long>(random_bits()));
    tmp = join(s.dir, temp_name_prefix(s.name) + suffix);
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

// Whether `name` (a directory entry) is "<prefix><digits>.<16 hex digits>": only what
// create_temporary makes is ever removed, never a user's file that merely looks alike.
bool is_temporary_of(std::string_view name, std::string_view prefix) {
  if (!name.starts_with(prefix)) return false;
  std::string_view rest = name.substr(prefix.size());
  const size_t dot = rest.find('.');
  if (dot == 0 || dot == std::string_view::npos || rest.size() - dot - 1 != 16) return false;
  for (size_t i = 0; i < dot; ++i)
    if (rest[i] < '0' || rest[i] > '9') return false;
  for (size_t i = dot + 1; i < rest.size(); ++i)
    if (!std::isxdigit(static_cast<unsigned char>(rest[i]))) return false;
  return true;
}

[[noreturn]] void io_error(const std::string& who, const std::string& path,
                           const std::string& what) {
  throw_error(ErrorKind::IO, concat(who, ": '", path, "': ", what));
}

}  // namespace

std::string errno_text(int err) { return std::strerror(err); }

void check_readable_file(const std::string& who, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    io_error(who, path, "cannot open the file: " + errno_text(err));
  }
  if (S_ISDIR(st.st_mode)) io_error(who, path, "is a folder, expected a file");
}

void check_writable_path(const std::string& who, const std::string& path) {
  TESSERA_CHECK(!path.empty(), who, ": the path is empty");
  const Split s = split_path(path);
  if (s.name.empty() || s.name == "." || s.name == "..")
    io_error(who, path, "names a folder, expected a file path");
  struct stat st {};
  if (::stat(s.dir.c_str(), &st) != 0) {
    const int err = errno;
    io_error(who, path,
             concat("the folder '", s.dir, "' ", err == ENOENT ? "does not exist" : "is not accessible",
                    " (", errno_text(err), ")"));
  }
  if (!S_ISDIR(st.st_mode)) io_error(who, path, concat("'", s.dir, "' is not a folder"));
  // Temporaries are cut to fit the name limit; the final name must fit as it is.
  const long name_max = ::pathconf(s.dir.c_str(), _PC_NAME_MAX);
  const size_t limit = name_max > 0 ? static_cast<size_t>(name_max) : kNameMax;
  if (s.name.size() > limit)
    io_error(who, path, concat("the file name is ", s.name.size(), " bytes, over the limit of ",
                               limit, " (", errno_text(ENAMETOOLONG), ")"));
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    io_error(who, path, "is a folder, expected a file path");
  // Permission bits alone do not tell (root, ACLs, read-only mounts, quotas): try it.
  std::string probe;
  const int fd = create_temporary(path, probe);
  if (fd < 0) {
    const int err = errno;
    io_error(who, path, concat("the folder '", s.dir, "' is not writable: cannot create '", probe,
                               "' (", errno_text(err), ")"));
  }
  ::close(fd);
  ::unlink(probe.c_str());
}

std::string temporary_prefix(const std::string& path) {
  const Split s = split_path(path);
  return join(s.dir, temp_name_prefix(s.name));
}

int remove_stale_temporaries(const std::string& path) {
  const Split s = split_path(path);
  const std::string prefix = temp_name_prefix(s.name);
  DIR* dir = ::opendir(s.dir.c_str());
  if (dir == nullptr) return 0;  // the save itself reports an unusable folder
  int removed = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (!is_temporary_of(e->d_name, prefix)) continue;
    const std::string p = join(s.dir, e->d_name);
    const int fd = ::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st {};
    // Locked: a writer is at work (this process's or another's); leave it.
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0 &&
        ::unlink(p.c_str()) == 0)
      ++removed;
    ::close(fd);
  }
  ::closedir(dir);
  return removed;
}

// ---------------------------------------------------------------- AtomicFile

AtomicFile::AtomicFile(std::string who, std::string path)
    : who_(std::move(who)), path_(std::move(path)) {
  TESSERA_CHECK(!path_.empty(), who_, ": the path is empty");
  // Found now, not at the rename after all the data is written.
  struct stat target {};
  if (::stat(path_.c_str(), &target) == 0 && S_ISDIR(target.st_mode))
    io_error(who_, path_, "is a folder, expected a file path");
  remove_stale_temporaries(path_);
  for (int attempt = 0; attempt < 8; ++attempt) {
    fd_ = create_temporary(path_, tmp_);
    if (fd_ < 0) {
      const int err = errno;
      tmp_.clear();
      // Name the cause as an up-front check would (missing folder, not a folder, ...).
      check_writable_path(who_, path_);
      io_error(who_, path_, concat("cannot create a temporary beside it: ", errno_text(err)));
    }
    // A scan in another process may have found the file between its creation and this
    // lock, and removed it; then the name no longer leads to this file: start over.
    // Without flock (some network file systems) the write still works, unguarded.
    const bool locked = ::flock(fd_, LOCK_EX) == 0;
    struct stat mine {}, named {};
    if (!locked || (::fstat(fd_, &mine) == 0 && ::stat(tmp_.c_str(), &named) == 0 &&
                    mine.st_dev == named.st_dev && mine.st_ino == named.st_ino))
      break;
    ::close(fd_);
    fd_ = -1;
  }
  if (fd_ < 0) io_error(who_, path_, "cannot create a temporary that stays (removed 8 times)");
  // Replacing a file keeps its permissions, as writing it in place would.
  struct stat old {};
  if (::stat(path_.c_str(), &old) == 0 && S_ISREG(old.st_mode)) ::fchmod(fd_, old.st_mode & 07777);
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::discard() noexcept {
  if (!tmp_.empty()) ::unlink(tmp_.c_str());  // before close: the name never lies unlocked
  if (fd_ >= 0) ::close(fd_);
  tmp_.clear();
  fd_ = -1;
}

void AtomicFile::fail(const std::string& step, int err) {
  discard();
  io_error(who_, path_, concat(step, ": ", errno_text(err)));
}

void AtomicFile::write(const void* data, size_t n) {
  TESSERA_INTERNAL_ASSERT(fd_ >= 0, "AtomicFile::write after commit or failure");
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, std::min<size_t>(n, size_t{1} << 30));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail("writing '" + tmp_ + "' failed", w < 0 ? errno : EIO);
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void AtomicFile::commit() {
  TESSERA_INTERNAL_ASSERT(fd_ >= 0, "AtomicFile::commit twice or after failure");
  // The data must be on disk before the name points at it, or a crash could leave the
  // new name on an empty file.
  if (::fsync(fd_) != 0) fail("fsync of '" + tmp_ + "' failed", errno);
  if (::rename(tmp_.c_str(), path_.c_str()) != 0)
    fail("renaming '" + tmp_ + "' over it failed", errno);
  tmp_.clear();  // the name is the target's now: nothing to remove
  ::close(fd_);  // releases the lock; the data are already synced
  fd_ = -1;
  // The rename is durable only once the folder's entry is on disk.
  const std::string dir = split_path(path_).dir;
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    const int rc = ::fsync(dfd);
    const int err = errno;
    ::close(dfd);
    // Some file systems refuse fsync on folders (EINVAL); the data itself is synced.
    if (rc != 0 && err != EINVAL)
      io_error(who_, path_, concat("fsync of the folder '", dir, "' failed: ", errno_text(err)));
  }
}

void write_file_atomically(const std::string& who, const std::string& path,
                           std::string_view bytes) {
  AtomicFile f(who, path);
  f.write(bytes);
  f.commit();
}

}  // namespace tessera::detail

namespace tessera {

void check_writable(const std::string& path, const std::string& who) {
  detail::check_writable_path(who, path);
}

}  // namespace tessera
