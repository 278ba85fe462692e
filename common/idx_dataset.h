#ifndef QFLEET_COMMON_IDX_DATASET_H_
#define QFLEET_COMMON_IDX_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace qfleet {

// Where Debian's dataset-fashion-mnist package installs the IDX files.
constexpr char kDefaultFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

// Largest image payload LoadIdx accepts (count * rows * cols bytes), so a
// corrupt header cannot make it allocate without bound.
constexpr uint64_t kMaxIdxImageBytes = uint64_t{1} << 32;

// A labelled set of 8-bit grayscale images. Image i is the rows*cols bytes at
// pixels[i*rows*cols], row-major; labels[i] is its class in [0, num_classes).
struct ImageDataset {
  int64_t count = 0, rows = 0, cols = 0;
  int num_classes = 10;
  std::vector<uint8_t> pixels;  // count * rows * cols
  std::vector<uint8_t> labels;  // count
};

// Loads an IDX3 ubyte image file (magic 0x00000803, big-endian dims count,
// rows, cols) and an IDX1 ubyte label file (magic 0x00000801, count), each
// either plain or gzip-compressed (zlib gzopen/gzread detects gzip by its
// magic). Returns NotFound if a file is missing, InvalidArgument on bad magic
// or type, zero rows/cols, mismatched counts, truncated or trailing data, a
// corrupt gzip stream, or a label >= 10. Thread-safe.
absl::StatusOr<ImageDataset> LoadIdx(const std::string& images_path,
                                     const std::string& labels_path);

// Loads the Fashion-MNIST train (60000) or test (10000, "t10k") split from
// `dir` (empty means kDefaultFashionMnistDir), taking
// {train,t10k}-{images-idx3,labels-idx1}-ubyte with or without ".gz" (the
// .gz name wins when both exist). Same failures as LoadIdx; NotFound names
// both candidate paths. Thread-safe.
absl::StatusOr<ImageDataset> LoadFashionMnist(const std::string& dir, bool train);

// The images and labels of `data` at `indices`, in that order (repeats
// allowed). InvalidArgument for an index outside [0, data.count).
// Thread-safe.
absl::StatusOr<ImageDataset> SelectImages(const ImageDataset& data,
                                          const std::vector<int64_t>& indices);

}  // namespace qfleet

#endif  // QFLEET_COMMON_IDX_DATASET_H_
