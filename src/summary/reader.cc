// Reading event files back: TFRecord frames checked record by record, Events decoded into
// SummaryRecords (summary.h). Used by `tessera board` and the tests.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/files.h"
#include "summary/proto/hparams.pb.h"
#include "summary/proto/tensorboard.pb.h"
#include "summary/record.h"
#include "tessera/summary.h"

namespace tessera::summary {

namespace {

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

void decode_value(const tb::Event& e, const tb::Summary::Value& v, std::vector<SummaryRecord>& out) {
  SummaryRecord r;
  r.wall_time = e.wall_time();
  r.step = e.step();
  r.tag = v.tag();
  if (v.has_metadata()) r.plugin = v.metadata().plugin_data().plugin_name();
  if (r.plugin == "hparams") {
    // Only the session-start record carries a run's values; the experiment and session-end
    // records are kept as Other.
    tb::HParamsPluginData data;
    if (data.ParseFromString(v.metadata().plugin_data().content()) && data.has_session_start_info()) {
      r.kind = SummaryRecord::Kind::HParams;
      for (const auto& [name, value] : data.session_start_info().hparams()) {
        switch (value.kind_case()) {
          case tb::HValue::kNumberValue: r.hparams[name] = value.number_value(); break;
          case tb::HValue::kStringValue: r.hparams[name] = value.string_value(); break;
          case tb::HValue::kBoolValue: r.hparams[name] = value.bool_value(); break;
          default: break;
        }
      }
    }
    out.push_back(std::move(r));
    return;
  }
  switch (v.value_case()) {
    case tb::Summary::Value::kSimpleValue:
      r.kind = SummaryRecord::Kind::Scalar;
      r.scalar = v.simple_value();
      break;
    case tb::Summary::Value::kHisto: {
      r.kind = SummaryRecord::Kind::Histogram;
      const auto& h = v.histo();
      r.histogram.min = h.min();
      r.histogram.max = h.max();
      r.histogram.num = h.num();
      r.histogram.sum = h.sum();
      r.histogram.sum_squares = h.sum_squares();
      r.histogram.bucket_limits.assign(h.bucket_limit().begin(), h.bucket_limit().end());
      r.histogram.bucket_counts.assign(h.bucket().begin(), h.bucket().end());
      break;
    }
    case tb::Summary::Value::kImage:
      r.kind = SummaryRecord::Kind::Image;
      r.image_png = v.image().encoded_image_string();
      r.image_width = v.image().width();
      r.image_height = v.image().height();
      r.image_channels = v.image().colorspace();
      break;
    case tb::Summary::Value::kTensor: {
      const auto& t = v.tensor();
      if (r.plugin == "text" && t.string_val_size() > 0) {
        r.kind = SummaryRecord::Kind::Text;
        r.text = t.string_val(0);
      } else if (r.plugin == "scalars" && (t.float_val_size() == 1 || t.double_val_size() == 1)) {
        // Scalars as newer writers store them: a one-element tensor.
        r.kind = SummaryRecord::Kind::Scalar;
        r.scalar = t.float_val_size() == 1 ? t.float_val(0) : t.double_val(0);
      }
      break;
    }
    default:
      break;
  }
  out.push_back(std::move(r));
}

}  // namespace

EventFileReader::EventFileReader(std::string path) : path_(std::move(path)) {
  ::tessera::detail::check_readable_file("EventFileReader", path_);
}

std::vector<SummaryRecord> EventFileReader::read_new() {
  std::ifstream in(path_, std::ios::binary);
  TESSERA_CHECK_IO(in.good(), "EventFileReader: cannot open '", path_, "': ",
                   ::tessera::detail::errno_text(errno));
  in.seekg(static_cast<std::streamoff>(offset_));
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string buf = ss.str();
  std::vector<SummaryRecord> out;
  size_t pos = 0;
  for (;;) {
    const detail::Frame f = detail::read_frame(buf, pos);
    const uint64_t at = offset_ + pos;
    if (f.status == detail::FrameStatus::Incomplete) break;
    TESSERA_CHECK(f.status != detail::FrameStatus::BadLengthCrc, "EventFileReader: '", path_,
                  "': record ", records_ + 1, " at byte ", at,
                  ": the length's checksum does not match (stored ", hex(f.stored), ", computed ",
                  hex(f.computed), "): the file is corrupt or not an event file");
    TESSERA_CHECK(f.status != detail::FrameStatus::BadDataCrc, "EventFileReader: '", path_,
                  "': record ", records_ + 1, " at byte ", at, " (", f.length,
                  " bytes): the data's checksum does not match (stored ", hex(f.stored),
                  ", computed ", hex(f.computed), "): the file is corrupt");
    tb::Event e;
    TESSERA_CHECK(e.ParseFromArray(f.data.data(), static_cast<int>(f.data.size())),
                  "EventFileReader: '", path_, "': record ", records_ + 1, " at byte ", at,
                  " is not an Event protobuf");
    if (e.what_case() == tb::Event::kFileVersion) file_version_ = e.file_version();
    if (e.has_summary()) {
      for (const auto& v : e.summary().value()) decode_value(e, v, out);
    }
    ++records_;
    pos = f.next;
  }
  offset_ += pos;
  tail_ = buf.size() - pos;
  return out;
}

std::vector<SummaryRecord> read_event_file(const std::string& path) {
  EventFileReader r(path);
  std::vector<SummaryRecord> out = r.read_new();
  TESSERA_CHECK(r.truncated_tail() == 0, "read_event_file: '", path, "' is truncated: ",
                r.truncated_tail(), " byte", r.truncated_tail() == 1 ? "" : "s", " at byte ",
                r.offset(), " do not form a whole record (a writer killed mid-write, or a copy cut short)");
  TESSERA_CHECK(r.offset() > 0, "read_event_file: '", path, "' is empty: not an event file");
  return out;
}

std::vector<std::string> list_event_files(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> out;
  auto it = std::filesystem::directory_iterator(dir, ec);
  TESSERA_CHECK_IO(!ec, "list_event_files: '", dir, "': ", ec.message());
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.find("tfevents") != std::string::npos && entry.is_regular_file(ec))
      out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace tessera::summary
