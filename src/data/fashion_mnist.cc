// Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): 60000 training and 10000 test images of
// 28x28 grey clothing pictures in 10 classes, as four IDX files. Read whole into memory
// (47 MB for the training images); get() converts one image to float on demand.
// MNIST (torchvision's MNIST and FashionMNIST) reads the same layout and hands out the
// stored bytes through the caller's transforms.
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "tessera/data.h"

namespace tessera::data {
namespace {

constexpr int64_t kSide = 28;
constexpr int64_t kClasses = 10;
constexpr const char* kDebianDir = "/usr/share/datasets/fashion-mnist";

// The directories searched, in order: `root` and torchvision's layout under it, else the
// environment variable, then the system directory (when there is one).
std::vector<std::string> search_dirs(const std::string& root, const char* torchvision_name,
                                     const char* env_var, const char* system_dir) {
  std::vector<std::string> dirs;
  if (!root.empty()) {
    dirs.push_back(root);
    dirs.push_back(root + "/" + torchvision_name + "/raw");  // torchvision's download layout
    return dirs;
  }
  if (const char* env = std::getenv(env_var); env != nullptr && *env != '\0') dirs.push_back(env);
  if (system_dir != nullptr) dirs.push_back(system_dir);
  return dirs;
}

// The path of `stem` (gzip'd or not) in the first directory holding it, or "" after
// appending every path tried to `tried`.
std::string find_file(const std::vector<std::string>& dirs, const std::string& stem,
                      std::vector<std::string>& tried) {
  for (const std::string& dir : dirs)
    for (const char* ext : {".gz", ""}) {
      std::string p = dir + "/" + stem + ext;
      std::error_code ec;
      if (std::filesystem::is_regular_file(p, ec)) return p;
      tried.push_back(p);
    }
  return "";
}

struct Split {
  Tensor images;  // u8 [N, 28, 28]
  Tensor labels;  // i64 [N]
};

// Reads one split's two IDX files, checking their shapes and labels. `who` names the
// dataset in errors; `remedy` says how to provide missing files.
Split load_split(const char* who, const std::vector<std::string>& dirs, bool train,
                 const std::string& remedy) {
  const std::string split = train ? "train" : "t10k";
  std::vector<std::string> tried;
  const std::string images_path = find_file(dirs, split + "-images-idx3-ubyte", tried);
  const std::string labels_path = find_file(dirs, split + "-labels-idx1-ubyte", tried);
  if (images_path.empty() || labels_path.empty()) {
    std::string list;
    for (const std::string& p : tried) list += "\n  " + p;
    // Missing files are an I/O error (not found), not a bad argument: the remedy is to
    // install or point at the data.
    TESSERA_CHECK_IO(false, who, ": cannot find the ", train ? "training" : "test",
                     " files; tried:", list.empty() ? std::string(" (no directory)") : list, "\n",
                     remedy);
  }

  Tensor images = read_idx(images_path);
  Tensor labels = read_idx(labels_path);
  TESSERA_CHECK(images.dtype() == DType::UInt8 && images.dim() == 3 && images.size(1) == kSide &&
                    images.size(2) == kSide,
                who, ": '", images_path, "' holds ", images.describe(), ", expected u8 [N, 28, 28]");
  TESSERA_CHECK(labels.dtype() == DType::UInt8 && labels.dim() == 1, who, ": '", labels_path,
                "' holds ", labels.describe(), ", expected u8 [N]");
  TESSERA_CHECK(labels.size(0) == images.size(0), who, ": '", images_path, "' has ",
                images.size(0), " images but '", labels_path, "' has ", labels.size(0),
                " labels");
  const int64_t n = labels.size(0);
  Split out;
  out.labels = make_tensor({n}, DType::Int64);
  const uint8_t* src = labels.data<uint8_t>();
  int64_t* dst = out.labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    TESSERA_CHECK(src[i] < kClasses, who, ": '", labels_path, "': label ", i, " is ",
                  static_cast<int>(src[i]), ", outside [0, ", kClasses, ")");
    dst[i] = src[i];
  }
  out.images = std::move(images);
  return out;
}

constexpr const char* kFashionRemedy =
    "Install Debian's package (apt-get install dataset-fashion-mnist), set "
    "TESSERA_FASHION_MNIST to a directory holding the IDX files, or pass it as the root";

}  // namespace

FashionMNIST::FashionMNIST(const std::string& root, bool train) {
  Split s = load_split("FashionMNIST",
                       search_dirs(root, "FashionMNIST", "TESSERA_FASHION_MNIST", kDebianDir), train,
                       kFashionRemedy);
  images_ = std::move(s.images);
  labels_ = std::move(s.labels);
}

Example FashionMNIST::get(int64_t index) const {
  TESSERA_CHECK(index >= 0 && index < size(), "FashionMNIST: index ", index,
                " is out of range for ", size(), " examples");
  Tensor image = make_tensor({1, kSide, kSide}, DType::Float32);
  const uint8_t* src = images_.data<uint8_t>() + index * kSide * kSide;
  float* dst = image.data<float>();
  // Division (not a multiply by 1/255) matches torchvision's ToTensor bit for bit.
  for (int64_t i = 0; i < kSide * kSide; ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
  Tensor label = make_tensor({}, DType::Int64);
  *label.data<int64_t>() = labels_.data<int64_t>()[index];
  return {std::move(image), std::move(label)};
}

const std::vector<std::string>& FashionMNIST::class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                                 "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                                 "Bag",         "Ankle boot"};
  return names;
}

// ---------------------------------------------------------------- MNIST (torchvision's)

MNIST::MNIST(const std::string& root, bool train, Transform transform, Transform target_transform,
             Kind kind)
    : transform_(std::move(transform)), target_transform_(std::move(target_transform)), kind_(kind) {
  const bool fashion = kind == Kind::FashionMNIST;
  const char* who = fashion ? "FashionMNIST" : "MNIST";
  // MNIST has no Debian package: without a root, only the environment variable points at it.
  Split s = load_split(
      who,
      fashion ? search_dirs(root, "FashionMNIST", "TESSERA_FASHION_MNIST", kDebianDir)
              : search_dirs(root, "MNIST", "TESSERA_MNIST", nullptr),
      train,
      fashion ? std::string(kFashionRemedy)
              : std::string("Tessera never downloads: pass the directory holding MNIST's IDX files "
                            "(train-images-idx3-ubyte[.gz], ...) as the root, or set TESSERA_MNIST"));
  images_ = std::move(s.images);
  labels_ = std::move(s.labels);
}

Example MNIST::get(int64_t index) const {
  TESSERA_CHECK(index >= 0 && index < size(), kind_ == Kind::MNIST ? "MNIST" : "FashionMNIST",
                ": index ", index, " is out of range for ", size(), " examples");
  // A copy, not a view of the whole split: a transform or a batch may keep it.
  Tensor image = make_tensor({kSide, kSide}, DType::UInt8);
  std::memcpy(image.data<uint8_t>(), images_.data<uint8_t>() + index * kSide * kSide,
              static_cast<size_t>(kSide * kSide));
  Tensor label = make_tensor({}, DType::Int64);
  *label.data<int64_t>() = labels_.data<int64_t>()[index];
  if (transform_) image = transform_(image, current_generator());
  if (target_transform_) label = target_transform_(label, current_generator());
  return {std::move(image), std::move(label)};
}

const std::vector<std::string>& MNIST::class_names() const {
  static const std::vector<std::string> digits = {"0 - zero", "1 - one", "2 - two",   "3 - three",
                                                  "4 - four", "5 - five", "6 - six",  "7 - seven",
                                                  "8 - eight", "9 - nine"};
  return kind_ == Kind::MNIST ? digits : FashionMNIST::class_names();
}

}  // namespace tessera::data
