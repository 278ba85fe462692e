#include "common/idx_dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace qfleet {
namespace {

constexpr uint8_t kIdxTypeUbyte = 0x08;
constexpr int kNumClasses = 10;
constexpr unsigned kReadChunk = 1u << 24;

struct IdxArray {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> data;
};

// Owns a gzFile (reads plain files transparently).
class GzReader {
 public:
  explicit GzReader(gzFile f) : f_(f) {}
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;
  ~GzReader() { gzclose(f_); }

  // Reads up to n bytes; returns the count read, or -1 if the stream is
  // corrupt or a gzip stream ends early (gzread reports the latter only
  // through gzerror, as Z_BUF_ERROR).
  int64_t Read(uint8_t* out, size_t n) {
    size_t total = 0;
    while (total < n) {
      const unsigned want = static_cast<unsigned>(std::min<size_t>(n - total, kReadChunk));
      const int got = gzread(f_, out + total, want);
      if (got < 0) return -1;
      if (got == 0) break;
      total += static_cast<size_t>(got);
    }
    int code = Z_OK;
    gzerror(f_, &code);
    if (code != Z_OK) return -1;
    return static_cast<int64_t>(total);
  }

  std::string Error() {
    int code = Z_OK;
    const char* msg = gzerror(f_, &code);
    return msg != nullptr && *msg != '\0' ? std::string(msg) : std::string("unknown zlib error");
  }

 private:
  gzFile f_;
};

absl::Status Invalid(const std::string& path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

absl::StatusOr<IdxArray> ReadIdx(const std::string& path, int expected_ndim,
                                 uint64_t max_bytes) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(absl::StrCat("IDX file not found: ", path));
  }
  gzFile raw = gzopen(path.c_str(), "rb");
  if (raw == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  GzReader in(raw);
  gzbuffer(raw, 1u << 17);

  uint8_t magic[4];
  const int64_t got_magic = in.Read(magic, 4);
  if (got_magic < 0) return Invalid(path, absl::StrCat("corrupt stream: ", in.Error()));
  if (got_magic != 4) return Invalid(path, "truncated IDX magic");
  if (magic[0] != 0 || magic[1] != 0) return Invalid(path, "bad IDX magic");
  if (magic[2] != kIdxTypeUbyte) {
    return Invalid(path, absl::StrFormat("IDX element type 0x%02x is not ubyte (0x08)", magic[2]));
  }
  if (magic[3] != expected_ndim) {
    return Invalid(path, absl::StrFormat("IDX has %d dims, expected %d", magic[3], expected_ndim));
  }
  IdxArray a;
  uint64_t total = 1;
  for (int i = 0; i < expected_ndim; ++i) {
    uint8_t b[4];
    const int64_t got_dim = in.Read(b, 4);
    if (got_dim < 0) return Invalid(path, absl::StrCat("corrupt stream: ", in.Error()));
    if (got_dim != 4) return Invalid(path, "truncated IDX dims");
    const uint32_t d = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) |
                       uint32_t{b[3]};
    a.dims.push_back(d);
    total *= d;  // each factor < 2^32 and total <= max_bytes <= 2^32 before it
    if (total > max_bytes) {
      return Invalid(path, absl::StrFormat("IDX payload exceeds %d bytes", max_bytes));
    }
  }
  a.data.resize(static_cast<size_t>(total));
  const int64_t got = in.Read(a.data.data(), a.data.size());
  if (got < 0) return Invalid(path, absl::StrCat("corrupt stream: ", in.Error()));
  if (static_cast<uint64_t>(got) != total) {
    return Invalid(path, absl::StrFormat("truncated: %d of %d payload bytes", got, total));
  }
  uint8_t extra;
  const int64_t more = in.Read(&extra, 1);
  if (more < 0) return Invalid(path, absl::StrCat("corrupt stream: ", in.Error()));
  if (more > 0) return Invalid(path, "trailing bytes after the IDX payload");
  return a;
}

// Returns dir/base.gz if it exists, else dir/base if it exists, else NotFound.
absl::StatusOr<std::string> FindFile(const std::string& dir, const std::string& base) {
  const std::string plain = (std::filesystem::path(dir) / base).string();
  const std::string gz = plain + ".gz";
  std::error_code ec;
  if (std::filesystem::exists(gz, ec)) return gz;
  if (std::filesystem::exists(plain, ec)) return plain;
  return absl::NotFoundError(absl::StrCat("neither ", gz, " nor ", plain, " exists"));
}

}  // namespace

absl::StatusOr<ImageDataset> LoadIdx(const std::string& images_path,
                                     const std::string& labels_path) {
  ASSIGN_OR_RETURN(IdxArray images, ReadIdx(images_path, 3, kMaxIdxImageBytes));
  if (images.dims[1] == 0 || images.dims[2] == 0) {
    return Invalid(images_path, "image rows and cols must be positive");
  }
  ASSIGN_OR_RETURN(IdxArray labels, ReadIdx(labels_path, 1, kMaxIdxImageBytes));
  if (labels.dims[0] != images.dims[0]) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s has %d images but %s has %d labels", images_path, images.dims[0], labels_path,
        labels.dims[0]));
  }
  for (size_t i = 0; i < labels.data.size(); ++i) {
    if (labels.data[i] >= kNumClasses) {
      return Invalid(labels_path, absl::StrFormat("label %d at index %d is not below %d",
                                                  labels.data[i], i, kNumClasses));
    }
  }
  ImageDataset ds;
  ds.count = images.dims[0];
  ds.rows = images.dims[1];
  ds.cols = images.dims[2];
  ds.num_classes = kNumClasses;
  ds.pixels = std::move(images.data);
  ds.labels = std::move(labels.data);
  return ds;
}

absl::StatusOr<ImageDataset> LoadFashionMnist(const std::string& dir, bool train) {
  const std::string root = dir.empty() ? std::string(kDefaultFashionMnistDir) : dir;
  const std::string prefix = train ? "train" : "t10k";
  ASSIGN_OR_RETURN(const std::string images, FindFile(root, prefix + "-images-idx3-ubyte"));
  ASSIGN_OR_RETURN(const std::string labels, FindFile(root, prefix + "-labels-idx1-ubyte"));
  return LoadIdx(images, labels);
}

absl::StatusOr<ImageDataset> SelectImages(const ImageDataset& data,
                                          const std::vector<int64_t>& indices) {
  ImageDataset out;
  out.rows = data.rows;
  out.cols = data.cols;
  out.num_classes = data.num_classes;
  const int64_t px = data.rows * data.cols;
  out.pixels.reserve(indices.size() * px);
  out.labels.reserve(indices.size());
  for (int64_t k : indices) {
    if (k < 0 || k >= data.count) {
      return absl::InvalidArgumentError(
          absl::StrFormat("image index %d outside [0, %d)", k, data.count));
    }
    out.pixels.insert(out.pixels.end(), data.pixels.begin() + k * px,
                      data.pixels.begin() + (k + 1) * px);
    out.labels.push_back(data.labels[k]);
    ++out.count;
  }
  return out;
}

}  // namespace qfleet
