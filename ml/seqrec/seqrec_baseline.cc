#include "ml/seqrec/seqrec_baseline.h"

#include <chrono>
#include <optional>

#include <torch/torch.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "common/seqrec/leave_one_out.h"
#include "common/seqrec/movielens.h"
#include "common/status_macros.h"
#include "ml/model_io.h"
#include "ml/seqrec/seqrec_factory.h"
#include "ml/seqrec/seqrec_eval.h"
#include "ml/seqrec/seqrec_factory.h"

namespace qfleet::ml {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Tracks the best validation result and the weights that produced it.
struct BestSnapshot {
  double ndcg10 = -1;
  int epoch = 0;
  seqrec::RankingMetrics valid;
  TensorContainer weights;
};

}  // namespace

absl::StatusOr<InteractionFormat> ParseInteractionFormat(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "lines") return InteractionFormat::kUserItemLines;
  if (lower == "movielens") return InteractionFormat::kMovieLens;
  return absl::InvalidArgumentError(
      absl::StrFormat("unknown format '%s' (expected lines or movielens)", name));
}

absl::StatusOr<seqrec::Interactions> LoadInteractions(const std::string& path,
                                                      InteractionFormat format,
                                                      const seqrec::SyntheticOptions& synthetic) {
  if (path.empty()) return seqrec::GenerateSynthetic(synthetic);
  if (format == InteractionFormat::kMovieLens) return seqrec::LoadMovieLensFile(path);
  return seqrec::LoadUserItemFile(path);
}

absl::StatusOr<SeqRecBaselineReport> RunSeqRecBaseline(
    const SeqRecBaselineOptions& options, const std::function<void(const std::string&)>& log) {
  auto say = [&](const std::string& line) {
    if (log) log(line);
  };
  if (options.threads > 0) torch::set_num_threads(options.threads);
  ASSIGN_OR_RETURN(seqrec::Interactions data,
                   LoadInteractions(options.data_path, options.format, options.synthetic));
  ASSIGN_OR_RETURN(seqrec::LeaveOneOutSplit split, seqrec::SplitLeaveOneOut(data));
  ASSIGN_OR_RETURN(seqrec::EvalSample valid_sample,
                   seqrec::BuildEvalSample(split, seqrec::EvalStage::kValidation, options.eval));
  ASSIGN_OR_RETURN(seqrec::EvalSample test_sample,
                   seqrec::BuildEvalSample(split, seqrec::EvalStage::kTest, options.eval));

  SeqRecBaselineReport report;
  report.users = data.num_users;
  report.items = data.num_items;
  report.events = data.NumEvents();
  report.evaluated_users = valid_sample.NumUsers();
  report.model = options.model;
  report.model.num_items = split.num_items;
  report.model.num_users = split.num_users;
  say(absl::StrFormat("data: %s, %d users, %d items, %d interactions; evaluating %d users",
                      options.data_path.empty() ? "synthetic" : options.data_path, report.users,
                      report.items, report.events, report.evaluated_users));
  std::shared_ptr<SeqRecModel> model;
  if (options.init_path.empty()) {
    ASSIGN_OR_RETURN(model, MakeSeqRecModel(report.model, options.model_seed));
  } else {
    ASSIGN_OR_RETURN(model, LoadSeqRecModel(options.init_path, report.model));
    const SeqRecConfig& c = model->config();
    if (c.backbone != report.model.backbone || c.num_items != report.model.num_items ||
        (c.backbone == Backbone::kCaser && c.num_users != report.model.num_users)) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s (%s) does not fit this data (%d users, %d items)", options.init_path, c.ToString(),
          report.model.num_users, report.model.num_items));
    }
    report.model = c;
    say("continuing from " + options.init_path);
  }
  say("model: " + report.model.ToString());

  BestSnapshot best;
  absl::Status eval_error;
  int evals_without_gain = 0;
  bool out_of_patience = false;
  // Validates the current weights; false stops training (error or patience).
  auto validate = [&](int epoch) -> bool {
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<seqrec::RankingMetrics> m = EvaluateSeqRec(*model, split, valid_sample);
    report.eval_seconds += SecondsSince(start);
    if (!m.ok()) {
      eval_error = m.status();
      return false;
    }
    report.epochs.back().validated = true;
    report.epochs.back().valid = *m;
    say(absl::StrFormat("epoch %d valid %s", epoch, m->ToString()));
    if (m->ndcg10 > best.ndcg10) {
      best = {m->ndcg10, epoch, *m, ModuleToContainer(*model)};
      evals_without_gain = 0;
    } else if (options.patience > 0 && ++evals_without_gain >= options.patience) {
      out_of_patience = true;
      return false;
    }
    return true;
  };

  SeqRecTrainOptions train = options.train;
  train.on_epoch = [&](const SeqRecEpochStats& e) {
    report.epochs.push_back({e.epoch, e.loss, e.seconds, false, {}});
    report.train_seconds += e.seconds;
    say(absl::StrFormat("epoch %d loss %.4f (%.1f s)", e.epoch, e.loss, e.seconds));
    const bool due = (options.eval_every > 0 && e.epoch % options.eval_every == 0) ||
                     e.epoch == train.epochs;
    return due ? validate(e.epoch) : true;
  };
  RETURN_IF_ERROR(TrainSeqRec(*model, split, train).status());
  RETURN_IF_ERROR(eval_error);
  if (report.epochs.empty()) return absl::InternalError("training ran no epoch");
  if (!report.epochs.back().validated && !out_of_patience) {
    validate(report.epochs.back().epoch);  // stopped by max_steps between validations
    RETURN_IF_ERROR(eval_error);
  }

  RETURN_IF_ERROR(LoadContainer(best.weights, *model));
  report.best_epoch = best.epoch;
  report.valid = best.valid;
  const auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(report.test, EvaluateSeqRec(*model, split, test_sample));
  report.eval_seconds += SecondsSince(start);
  say(absl::StrFormat("best epoch %d test %s", best.epoch, report.test.ToString()));
  if (!options.save_path.empty()) {
    RETURN_IF_ERROR(SaveSeqRecModel(*model, options.save_path));
    say("saved " + options.save_path);
  }
  return report;
}

}  // namespace qfleet::ml
