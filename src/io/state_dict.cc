// StateDict: ordered (key, tensor) entries with a key index (include/tessera/state_dict.h).
// It sits in the io layer with safetensors, which reads and writes it, so the inference
// library, the graph files and the training side all share the one type.
#include "tessera/state_dict.h"

#include <cstring>

#include "tessera/error.h"

namespace tessera {

std::string describe_keys(const std::vector<std::string>& keys, size_t limit) {
  if (keys.empty()) return "(none)";
  std::string out;
  for (size_t i = 0; i < keys.size() && i < limit; ++i) out += (i ? ", " : "") + keys[i];
  if (keys.size() > limit) out += ", ... (" + std::to_string(keys.size()) + " in all)";
  return out;
}

StateDict::StateDict(std::initializer_list<std::pair<std::string, Tensor>> entries) {
  reserve(entries.size());
  for (const auto& [k, v] : entries) insert(k, v);
}

StateDict::StateDict(const std::vector<std::pair<std::string, Tensor>>& entries) {
  reserve(entries.size());
  for (const auto& [k, v] : entries) insert(k, v);
}

StateDict& StateDict::operator=(const StateDict& other) {
  if (this != &other) {
    StateDict copy(other);
    *this = std::move(copy);
  }
  return *this;
}

void StateDict::insert(const std::string& key, Tensor value) {
  TESSERA_CHECK(!key.empty(), "StateDict: empty key (for a tensor ", value.describe(), ")");
  const auto [it, added] = index_.emplace(key, entries_.size());
  TESSERA_CHECK(added, "StateDict: duplicate key '", key, "' (already at position ", it->second,
                ")");
  entries_.emplace_back(key, std::move(value));
}

void StateDict::set(const std::string& key, Tensor value) {
  auto it = index_.find(key);
  if (it == index_.end()) {
    insert(key, std::move(value));
  } else {
    entries_[it->second].second = std::move(value);
  }
}

void StateDict::set_scalar(const std::string& key, double value) {
  Tensor t = make_tensor({}, kFloat64);
  *t.data<double>() = value;
  set(key, std::move(t));
}

void StateDict::reserve(size_t n) {
  entries_.reserve(n);
  index_.reserve(n);
}

void StateDict::clear() {
  entries_.clear();
  index_.clear();
}

const Tensor* StateDict::find(const std::string& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

Tensor* StateDict::find(const std::string& key) {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

const Tensor& StateDict::at(const std::string& key) const {
  const Tensor* t = find(key);
  TESSERA_CHECK(t != nullptr, "StateDict: no key '", key, "' (has: ", describe_keys(keys()), ")");
  return *t;
}

Tensor& StateDict::at(const std::string& key) {
  Tensor* t = find(key);
  TESSERA_CHECK(t != nullptr, "StateDict: no key '", key, "' (has: ", describe_keys(keys()), ")");
  return *t;
}

double StateDict::scalar(const std::string& key) const {
  const Tensor& t = at(key);
  TESSERA_CHECK(t.defined() && t.numel() == 1, "StateDict: '", key,
                "' should hold one value, got ", t.defined() ? t.describe() : "an undefined tensor");
  return read_as_double(t, 0);
}

int64_t StateDict::position(const std::string& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? -1 : static_cast<int64_t>(it->second);
}

std::vector<std::string> StateDict::keys() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.push_back(e.first);
  return out;
}

StateDict StateDict::with_prefix(const std::string& prefix) const {
  StateDict out;
  out.reserve(entries_.size());
  for (const auto& [k, v] : entries_) out.insert(prefix + k, v);
  return out;
}

StateDict StateDict::section(const std::string& prefix) const {
  StateDict out;
  for (const auto& [k, v] : entries_) {
    if (k.size() > prefix.size() && k.compare(0, prefix.size(), prefix) == 0) {
      out.insert(k.substr(prefix.size()), v);
    }
  }
  return out;
}

void StateDict::update(const StateDict& other) {
  reserve(entries_.size() + other.size());
  for (const auto& [k, v] : other) insert(k, v);
}

bool StateDict::equal(const StateDict& other) const {
  if (size() != other.size()) return false;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const auto& [ka, a] = entries_[i];
    const auto& [kb, b] = other.entries_[i];
    if (ka != kb || a.defined() != b.defined()) return false;
    if (!a.defined()) continue;
    if (a.dtype() != b.dtype() || !a.sizes().equals(b.sizes())) return false;
    const Tensor ca = a.contiguous(), cb = b.contiguous();
    if (ca.nbytes() != 0 && std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.nbytes()) != 0) return false;
  }
  return true;
}

}  // namespace tessera
