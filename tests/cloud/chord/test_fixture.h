#ifndef QFLEET_TESTS_CLOUD_CHORD_TEST_FIXTURE_H_
#define QFLEET_TESTS_CLOUD_CHORD_TEST_FIXTURE_H_

#include <memory>

#include "gtest/gtest.h"

#include "cloud/chord/chord_model.h"
#include "ml/chord/channel_catalog.h"
#include "tests/ml/chord/test_fixture.h"

namespace qfleet::ml::chord::testing {

inline ChordOptions TinyOptions(const seqrec::LeaveOneOutSplit& split) {
  ChordOptions o;
  o.encoder.num_items = split.num_items;
  o.encoder.item_dim = 8;
  o.encoder.history = 10;
  o.encoder.embed_dim = 12;
  o.encoder.hidden = 16;
  o.hypernet.embed_dim = 12;
  o.hypernet.hidden = 16;
  o.hypernet.key_dim = 6;
  o.hypernet.element_rank = 4;
  o.budget_bits = 3.0;
  o.seed = 11;
  return o;
}

// The tiny SASRec (eval mode), its catalog and an untrained CHORD over it.
class TinyChordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    split_ = TinySplit();
    model_ = TinyModel(Backbone::kSasRec, split_);
    model_->eval();
    catalog_ = std::make_unique<ChannelCatalog>(ChannelCatalog::Create(*model_).value());
    options_ = TinyOptions(split_);
    chord_ = std::shared_ptr<ChordModel>(ChordModel::Create(*catalog_, options_).value());
  }
  seqrec::LeaveOneOutSplit split_;
  std::shared_ptr<SeqRecModel> model_;
  std::unique_ptr<ChannelCatalog> catalog_;
  ChordOptions options_;
  std::shared_ptr<ChordModel> chord_;
};

}  // namespace qfleet::ml::chord::testing

#endif  // QFLEET_TESTS_CLOUD_CHORD_TEST_FIXTURE_H_
