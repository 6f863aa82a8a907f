#pragma once
// StateDict: the one type for named state. Module::state_dict(), every optimizer's and
// scheduler's state_dict(), training checkpoints and safetensors files all speak it, so a
// state moves between them without conversion.
//
// An ordered list of (key, tensor) entries with unique string keys, plus an index from key
// to position: iteration follows insertion order (a module's keys in PyTorch's order, a
// file's in the file's order) and lookups by key cost one hash. Keys are fixed once
// inserted (iteration hands out `std::pair<const std::string, Tensor>&`, as std::map
// does); values may be replaced.
//
// Non-tensor state (an optimizer's step count and hyperparameters, a scheduler's epoch) is
// held as 0-d float64 tensors (set_scalar / scalar), so the whole state is tensors and goes
// into a safetensors file as it is. An optimizer's keys flatten PyTorch's nested
// {'state': {i: {...}}, 'param_groups': [{...}]} into "state.<i>.<name>" and
// "param_groups.<g>.<name>".
//
// Errors name the key: a duplicate insert, a missing key in at() or scalar() (listing a few
// keys present), a scalar() of a tensor with more than one value.
#include <cstddef>
#include <initializer_list>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tessera/export.h"
#include "tessera/tensor.h"

namespace tessera {

class TESSERA_API StateDict {
 public:
  using Entry = std::pair<const std::string, Tensor>;
  using iterator = std::vector<Entry>::iterator;
  using const_iterator = std::vector<Entry>::const_iterator;

  StateDict() = default;
  // From (key, tensor) pairs in order; a repeated key is an error naming it.
  StateDict(std::initializer_list<std::pair<std::string, Tensor>> entries);  // NOLINT
  explicit StateDict(const std::vector<std::pair<std::string, Tensor>>& entries);
  // From any range of (key, tensor) pairs, e.g. another StateDict's begin() and end().
  template <typename It>
  StateDict(It first, It last) {
    for (; first != last; ++first) insert(first->first, first->second);
  }
  StateDict(const StateDict&) = default;
  StateDict(StateDict&&) noexcept = default;
  // Copy-and-swap: the entries' keys are const, so a vector's element-wise assignment
  // does not apply.
  StateDict& operator=(const StateDict& other);
  StateDict& operator=(StateDict&&) noexcept = default;
  ~StateDict() = default;

  // ---- building ----
  // Appends; an existing key is an error ("StateDict: duplicate key 'fc.weight'").
  void insert(const std::string& key, Tensor value);
  void emplace_back(const std::string& key, Tensor value) { insert(key, std::move(value)); }
  // Replaces the value of `key` in place (keeping its position), or appends it.
  void set(const std::string& key, Tensor value);
  // A 0-d float64 tensor holding `value`, inserted or replaced as set() does.
  void set_scalar(const std::string& key, double value);
  void reserve(size_t n);
  void clear();

  // ---- lookup ----
  bool contains(const std::string& key) const { return index_.count(key) != 0; }
  size_t count(const std::string& key) const { return index_.count(key); }
  // Null when absent.
  const Tensor* find(const std::string& key) const;
  Tensor* find(const std::string& key);
  // An error naming the key (and some keys present) when absent.
  const Tensor& at(const std::string& key) const;
  Tensor& at(const std::string& key);
  // at(0) would otherwise build a std::string from a null pointer: by position, use [i].
  const Tensor& at(size_t) const = delete;
  Tensor& at(size_t) = delete;
  // The one value of `key` as a double: an error naming the key when absent or when the
  // tensor holds other than one value.
  double scalar(const std::string& key) const;
  // Position of `key` in the order, or -1.
  int64_t position(const std::string& key) const;

  // ---- order ----
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  iterator begin() { return entries_.begin(); }
  iterator end() { return entries_.end(); }
  const_iterator begin() const { return entries_.begin(); }
  const_iterator end() const { return entries_.end(); }
  // The i-th entry in order (bounds-checked). By key: at() / find().
  const Entry& entry(size_t i) const { return entries_.at(i); }
  Entry& entry(size_t i) { return entries_.at(i); }
  const Entry& operator[](size_t i) const { return entries_.at(i); }
  Entry& operator[](size_t i) { return entries_.at(i); }
  std::vector<std::string> keys() const;

  // ---- sections (checkpoints keep a model's, an optimizer's and a scheduler's apart) ----
  // Every key with `prefix` put in front, in order.
  StateDict with_prefix(const std::string& prefix) const;
  // The entries whose key starts with `prefix`, prefix removed, in order.
  StateDict section(const std::string& prefix) const;
  // Appends every entry of `other` (a repeated key is an error).
  void update(const StateDict& other);

  // Same keys in the same order, and each pair of tensors of the same dtype, shape and
  // bytes (for tests and resume checks).
  bool equal(const StateDict& other) const;

 private:
  std::vector<Entry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

// "a, b, c" of up to `limit` keys, "... (N in all)" after them (for error messages).
TESSERA_API std::string describe_keys(const std::vector<std::string>& keys, size_t limit = 8);

}  // namespace tessera
