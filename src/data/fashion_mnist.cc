// Fashion-MNIST (Xiao, Rasul, Vollgraf 2017): 60000 training and 10000 test images of
// 28x28 grey clothing pictures in 10 classes, as four IDX files. Read whole into memory
// (47 MB for the training images); get() converts one image to float on demand.
#include <cstdlib>
#include <filesystem>

#include "tessera/data.h"

namespace tessera::data {
namespace {

constexpr int64_t kSide = 28;
constexpr int64_t kClasses = 10;
constexpr const char* kDebianDir = "/usr/share/datasets/fashion-mnist";

// The directories searched, in order.
std::vector<std::string> search_dirs(const std::string& root) {
  std::vector<std::string> dirs;
  if (!root.empty()) {
    dirs.push_back(root);
    dirs.push_back(root + "/FashionMNIST/raw");  // torchvision's download layout
    return dirs;
  }
  if (const char* env = std::getenv("TESSERA_FASHION_MNIST"); env != nullptr && *env != '\0')
    dirs.push_back(env);
  dirs.push_back(kDebianDir);
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

}  // namespace

FashionMNIST::FashionMNIST(const std::string& root, bool train) {
  const std::string split = train ? "train" : "t10k";
  const std::vector<std::string> dirs = search_dirs(root);
  std::vector<std::string> tried;
  const std::string images_path = find_file(dirs, split + "-images-idx3-ubyte", tried);
  const std::string labels_path = find_file(dirs, split + "-labels-idx1-ubyte", tried);
  if (images_path.empty() || labels_path.empty()) {
    std::string list;
    for (const std::string& p : tried) list += "\n  " + p;
    // Missing files are an I/O error (not found), not a bad argument: the remedy is to
    // install or point at the data.
    TESSERA_CHECK_IO(false, "FashionMNIST: cannot find the ", train ? "training" : "test",
                  " files; tried:", list,
                  "\nInstall Debian's package (apt-get install dataset-fashion-mnist), set "
                  "TESSERA_FASHION_MNIST to a directory holding the IDX files, or pass it as "
                  "the root");
  }

  Tensor images = read_idx(images_path);
  Tensor labels = read_idx(labels_path);
  TESSERA_CHECK(images.dtype() == DType::UInt8 && images.dim() == 3 && images.size(1) == kSide &&
                    images.size(2) == kSide,
                "FashionMNIST: '", images_path, "' holds ", images.describe(),
                ", expected u8 [N, 28, 28]");
  TESSERA_CHECK(labels.dtype() == DType::UInt8 && labels.dim() == 1, "FashionMNIST: '",
                labels_path, "' holds ", labels.describe(), ", expected u8 [N]");
  TESSERA_CHECK(labels.size(0) == images.size(0), "FashionMNIST: '", images_path, "' has ",
                images.size(0), " images but '", labels_path, "' has ", labels.size(0),
                " labels");
  const int64_t n = labels.size(0);
  labels_ = make_tensor({n}, DType::Int64);
  const uint8_t* src = labels.data<uint8_t>();
  int64_t* dst = labels_.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    TESSERA_CHECK(src[i] < kClasses, "FashionMNIST: '", labels_path, "': label ", i, " is ",
                  static_cast<int>(src[i]), ", outside [0, ", kClasses, ")");
    dst[i] = src[i];
  }
  images_ = std::move(images);
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

}  // namespace tessera::data
