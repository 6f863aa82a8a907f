// Numeric CSV (RFC 4180's shape, numbers only): one row per line, the same number of
// fields on every line. The file is read whole; the values vector grows with the file, so
// memory is bounded by the file's own size.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string_view>

#include "core/files.h"
#include "tessera/data.h"

namespace tessera::data {

namespace files = ::tessera::detail;  // core/files.h
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits a line on `delim`, keeping empty fields.
std::vector<std::string_view> split_line(std::string_view line, char delim) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const size_t pos = line.find(delim, start);
    out.push_back(trim(line.substr(start, pos == std::string_view::npos ? pos : pos - start)));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

std::string_view unquote(std::string_view s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return trim(s.substr(1, s.size() - 2));
  return s;
}

}  // namespace

Tensor read_csv(const std::string& path, bool header, char delimiter,
                std::vector<std::string>* column_names) {
  TESSERA_CHECK(delimiter != '"' && delimiter != '\n' && delimiter != '\r', "read_csv: '", path,
                "': the delimiter cannot be a quote or a line break");
  files::check_readable_file("read_csv", path);
  std::ifstream in(path, std::ios::binary);
  TESSERA_CHECK_IO(in.is_open(), "read_csv: '", path, "': cannot open the file: ",
                   files::errno_text(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  TESSERA_CHECK_IO(!in.bad(), "read_csv: '", path, "': read error");
  const std::string text = buf.str();

  std::vector<float> values;
  int64_t columns = -1, rows = 0;
  bool header_pending = header;
  size_t pos = 0;
  int64_t line_no = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // CRLF files
    if (trim(line).empty()) continue;
    std::vector<std::string_view> fields = split_line(line, delimiter);
    if (header_pending) {
      header_pending = false;
      columns = static_cast<int64_t>(fields.size());
      if (column_names != nullptr) {
        column_names->clear();
        for (std::string_view f : fields) column_names->emplace_back(unquote(f));
      }
      continue;
    }
    if (columns < 0) columns = static_cast<int64_t>(fields.size());
    TESSERA_CHECK(static_cast<int64_t>(fields.size()) == columns, "read_csv: '", path, "': line ",
                  line_no, " has ", fields.size(), " fields, expected ", columns,
                  header ? " (as in the header)" : " (as in the first row)");
    for (size_t c = 0; c < fields.size(); ++c) {
      std::string_view f = unquote(fields[c]);
      TESSERA_CHECK(!f.empty(), "read_csv: '", path, "': line ", line_no, ", column ", c + 1,
                    ": empty field");
      // from_chars takes no leading '+'; accept it as strtod would.
      if (f.size() > 1 && f.front() == '+' && f[1] != '-' && f[1] != '+') f.remove_prefix(1);
      float v = 0;
      const auto [end, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
      TESSERA_CHECK(ec != std::errc::invalid_argument && end == f.data() + f.size(), "read_csv: '",
                    path, "': line ", line_no, ", column ", c + 1, ": '", f,
                    "' is not a number");
      TESSERA_CHECK(ec != std::errc::result_out_of_range, "read_csv: '", path, "': line ",
                    line_no, ", column ", c + 1, ": '", f, "' is out of float32's range");
      values.push_back(v);
    }
    ++rows;
  }
  if (columns < 0) {
    if (column_names != nullptr && !header) column_names->clear();
    columns = 0;
  }
  Tensor out = make_tensor({rows, columns}, DType::Float32);
  if (!values.empty())
    std::copy(values.begin(), values.end(), out.data<float>());
  return out;
}

}  // namespace tessera::data
