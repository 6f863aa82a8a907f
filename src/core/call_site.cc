#include "tessera/call_site.h"

#include <array>
#include <cstring>
#include <mutex>
#include <vector>

namespace tessera {
namespace {


// The prefix of this file's name as the compiler saw it ("/work/tessera/" or "../../" under
// ccache's base directory), so the library's own file names are recognised however the
// build spelled them.
std::string own_root() {
  const std::string self = CallSite::current().file_name();
  const std::string tail = "src/core/call_site.cc";
  if (self.size() >= tail.size() && self.compare(self.size() - tail.size(), tail.size(), tail) == 0)
    return self.substr(0, self.size() - tail.size());
  return {};
}

struct Roots {
  std::mutex mu;
  std::vector<std::string> roots{own_root()};
};
Roots& roots() {
  static Roots* r = new Roots;  // leaked: read by threads still running at exit
  return *r;
}

bool starts_with(const char* s, const std::string& prefix) {
  return std::strncmp(s, prefix.data(), prefix.size()) == 0;
}

bool is_library_file_uncached(const char* file) {
  // Installed or in-tree public headers (inline operators, templates).
  if (std::strstr(file, "include/tessera/") != nullptr) return true;
  Roots& r = roots();
  std::lock_guard<std::mutex> lock(r.mu);
  for (const std::string& root : r.roots) {
    if (!starts_with(file, root)) continue;
    const char* rest = file + root.size();
    if (std::strncmp(rest, "src/", 4) == 0 || std::strncmp(rest, "python/src/", 11) == 0)
      return true;
  }
  return false;
}

// File names are string literals, one address per translation unit: a few remembered
// answers per thread make the check a pointer comparison on the hot path.
struct FileEntry {
  const char* file = nullptr;
  bool library = false;
};
struct FileCache {
  FileEntry last;  // the common case: a loop of calls from one file
  std::array<FileEntry, 16> recent{};
  size_t next = 0;
};
// One thread-local object, so a call pays one TLS lookup.
struct ThreadState {
  CallSite site{};
  FileCache files;
};
thread_local ThreadState t_state;

bool is_library_file(const char* file) {
  FileCache& c = t_state.files;
  if (c.last.file == file) return c.last.library;
  for (const FileEntry& e : c.recent)
    if (e.file == file) {
      c.last = e;
      return e.library;
    }
  const FileEntry e{file, is_library_file_uncached(file)};
  c.recent[c.next] = e;
  c.next = (c.next + 1) % c.recent.size();
  c.last = e;
  return e.library;
}

}  // namespace

CallSite current_call_site() noexcept { return t_state.site; }

std::string describe_call_site(const CallSite& site) {
  if (site.line() == 0) return {};
  const char* file = site.file_name();
  const char* slash = std::strrchr(file, '/');
  return std::string(slash ? slash + 1 : file) + ":" + std::to_string(site.line());
}

namespace detail {

UserCallScope::UserCallScope(const CallSite& at) noexcept : set_(false) {
  if (at.line() == 0) return;
  ThreadState& t = t_state;
  if (is_library_file(at.file_name())) return;
  saved_ = t.site;
  t.site = at;
  set_ = true;
}

UserCallScope::~UserCallScope() {
  if (set_) t_state.site = saved_;
}

void register_library_sources(const char* root) {
  Roots& r = roots();
  std::lock_guard<std::mutex> lock(r.mu);
  r.roots.emplace_back(root);
}

}  // namespace detail
}  // namespace tessera
