#include "ml/seqrec/seqrec_baseline.h"

#include <fstream>

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "common/status_matchers.h"
#include "ml/seqrec/seqrec_factory.h"

namespace qfleet::ml {
namespace {

using ::testing::HasSubstr;

SeqRecBaselineOptions TinyOptions(Backbone backbone) {
  SeqRecBaselineOptions o;
  o.synthetic.num_users = 300;
  o.synthetic.num_items = 200;
  o.synthetic.clusters = 8;
  o.synthetic.seed = 2;
  o.model = DefaultSeqRecConfig(backbone);
  o.model.hidden = 16;
  o.model.max_length = 16;
  o.train = DefaultSeqRecTrainOptions(backbone);
  o.train.epochs = 3;
  o.train.batch_size = 64;
  o.train.learning_rate = 5e-3;
  o.eval.max_users = 100;
  o.eval_every = 1;
  o.threads = 1;
  return o;
}

TEST(SeqRecBaselineTest, TrainsValidatesTestsAndSaves) {
  SeqRecBaselineOptions o = TinyOptions(Backbone::kSasRec);
  o.save_path = ::testing::TempDir() + "/baseline_sasrec.qftc";
  std::vector<std::string> lines;
  ASSERT_OK_AND_ASSIGN(SeqRecBaselineReport r,
                       RunSeqRecBaseline(o, [&](const std::string& l) { lines.push_back(l); }));
  EXPECT_EQ(r.users, 300);
  EXPECT_EQ(r.items, 200);
  EXPECT_EQ(r.evaluated_users, 100);
  EXPECT_EQ(r.model.num_items, 200);
  ASSERT_EQ(r.epochs.size(), 3u);
  for (const auto& e : r.epochs) EXPECT_TRUE(e.validated);
  EXPECT_GE(r.best_epoch, 1);
  EXPECT_EQ(r.valid.ndcg10, r.epochs[r.best_epoch - 1].valid.ndcg10);
  EXPECT_EQ(r.test.users, 100);
  EXPECT_GT(r.test.hr10, 0.0);
  EXPECT_THAT(lines.front(), HasSubstr("300 users"));
  EXPECT_THAT(lines.back(), HasSubstr("saved"));
  ASSERT_OK_AND_ASSIGN(auto loaded, LoadSeqRecModel(o.save_path, o.model));
  EXPECT_EQ(loaded->config().num_items, 200);
}

TEST(SeqRecBaselineTest, ContinuesFromSavedWeightsThatFitTheData) {
  SeqRecBaselineOptions o = TinyOptions(Backbone::kSasRec);
  o.train.epochs = 2;
  o.eval_every = 0;
  o.save_path = ::testing::TempDir() + "/baseline_init.qftc";
  ASSERT_OK_AND_ASSIGN(SeqRecBaselineReport first, RunSeqRecBaseline(o, nullptr));
  SeqRecBaselineOptions again = o;
  again.save_path.clear();
  again.init_path = o.save_path;
  again.train.epochs = 1;
  std::vector<std::string> lines;
  ASSERT_OK_AND_ASSIGN(SeqRecBaselineReport next,
                       RunSeqRecBaseline(again, [&](const std::string& l) { lines.push_back(l); }));
  // Training resumes where it stopped: its first epoch is below the fresh
  // run's first epoch.
  EXPECT_LT(next.epochs[0].loss, first.epochs[0].loss);
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("continuing from")));
  SeqRecBaselineOptions other = again;
  other.synthetic.num_items = 150;  // different data: the weights do not fit
  EXPECT_THAT(RunSeqRecBaseline(other, nullptr).status().message(), HasSubstr("does not fit"));
}

TEST(SeqRecBaselineTest, PatienceStopsAndCaserRuns) {
  SeqRecBaselineOptions o = TinyOptions(Backbone::kCaser);
  o.train.epochs = 4;
  o.train.learning_rate = 1e-9;  // no progress: the first validation stays best
  o.patience = 1;
  ASSERT_OK_AND_ASSIGN(SeqRecBaselineReport r, RunSeqRecBaseline(o, nullptr));
  EXPECT_LT(r.epochs.size(), 4u);
  EXPECT_EQ(r.best_epoch, 1);
}

TEST(SeqRecBaselineTest, ReadsFilesAndReportsLoaderErrors) {
  const std::string path = ::testing::TempDir() + "/tiny_lines.txt";
  {
    std::ofstream out(path);
    for (int u = 1; u <= 30; ++u) {
      for (int k = 0; k < 6; ++k) out << u << " " << 1 + (u * 7 + k * 13) % 150 << "\n";
    }
  }
  SeqRecBaselineOptions o = TinyOptions(Backbone::kSasRec);
  o.data_path = path;
  o.train.epochs = 1;
  ASSERT_OK_AND_ASSIGN(SeqRecBaselineReport r, RunSeqRecBaseline(o, nullptr));
  EXPECT_EQ(r.users, 30);
  EXPECT_EQ(r.events, 180);
  o.data_path = ::testing::TempDir() + "/no_such_file.txt";
  EXPECT_THAT(RunSeqRecBaseline(o, nullptr), StatusIs(absl::StatusCode::kNotFound));
  o.format = InteractionFormat::kMovieLens;
  o.data_path = path;
  EXPECT_THAT(RunSeqRecBaseline(o, nullptr), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseInteractionFormat("parquet"), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace qfleet::ml
