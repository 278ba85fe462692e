// The qfleet-agent daemon's CHORD evaluation path, through the real
// coordinator: Agent instances holding one user's interactions each pull
// eval tasks, download the served bundle, request their plans, quantize the
// whole backbone per channel and report. Their reported metrics must equal
// what the simulator's batched device path (per-channel gather from
// quantized tables, PersonalizedBackbone) computes for the same users from
// the plans the coordinator stored.
#include <functional>
#include <map>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "apps/admin_client.h"
#include "sim/local_coordinator.h"
#include "common/plan_codec.h"
#include "common/seqrec/eval_sampler.h"
#include "common/seqrec/ranking_metrics.h"
#include "common/status_matchers.h"
#include "device/agent.h"
#include "device/fleet_client.h"
#include "device/seqrec_eval.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ml/chord/chord_device.h"
#include "sim/chord_eval.h"
#include "cloud/chord/chord_service.h"
#include "cloud/chord/chord_setup.h"
#include "ml/chord/user_weights.h"
#include "ml/seqrec/seqrec_batches.h"

namespace qfleet::apps {
namespace {

namespace ch = ml::chord;

// false: the trained user encoder; true: the backbone's own query
// (UseBackboneQuery), where each agent sends its FP32 backbone's query.
class SeqRecAgentTest : public ::testing::TestWithParam<bool> {};

TEST_P(SeqRecAgentTest, AgentsEvaluateThroughTheCoordinatorAsTheSimulatorDoes) {
  const bool query = GetParam();
  ch::ChordSetupOptions so;
  so.synthetic.num_users = 200;
  so.synthetic.num_items = 150;
  so.epochs = 3;
  so.train.epochs = 1;
  so.train.distill_weight = 1.0;
  so.train.learning_rate = 1e-3;
  so.sensitivity_users = 32;
  so.hessian_samples = 1;
  so.seed = 5;
  if (query) ch::UseBackboneQuery(so);
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ch::ChordSetup> setup, ch::PrepareChord(so));
  ASSERT_OK_AND_ASSIGN(torch::Tensor mean, ch::MeanUserEmbedding(*setup->chord, *setup->model, setup->split,
                                                                 seqrec::EvalStage::kValidation));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ch::ChordPlanner> planner,
                       ch::ChordPlanner::Create(setup->chord, mean, setup->static_bits));
  LocalCoordinatorOptions lo;
  lo.open_enrollment = true;
  lo.insecure = true;
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<LocalCoordinator> local,
                       StartLocalCoordinator(lo, std::make_unique<ch::FrozenBundleBackend>(
                                                     ch::BundleContainer(*setup->model, *setup->chord))));
  local->coordinator->SetPlanGenerator(std::move(planner));
  const std::string address = local->server->address();
  AdminClient admin(MakeChannel(address, local->security), 30000, local->admin_token);
  ASSERT_OK(admin.WaitConnected(address));

  seqrec::EvalSampleOptions eo;
  eo.max_users = 6;
  eo.seed = 2;
  ASSERT_OK_AND_ASSIGN(seqrec::EvalSample sample,
                       seqrec::BuildEvalSample(setup->split, seqrec::EvalStage::kTest, eo));
  const int64_t n = sample.NumUsers();
  std::vector<std::unique_ptr<device::FleetClient>> clients;
  std::vector<std::unique_ptr<device::Agent>> agents;
  for (int64_t i = 0; i < n; ++i) {
    clients.push_back(std::make_unique<device::FleetClient>(MakeChannel(address, local->security)));
    device::AgentOptions ao;
    ao.device_name = "rec-" + std::to_string(sample.users[i]);
    ASSERT_OK_AND_ASSIGN(device::SeqRecDeviceData d,
                         device::SeqRecDeviceDataFor(setup->split, sample, sample.users[i]));
    ao.seqrec = d;
    agents.push_back(std::make_unique<device::Agent>(clients.back().get(), ao));
    ASSERT_OK(agents.back()->Register());
  }
  admin::v1::CampaignConfig campaign;
  const std::vector<std::string> methods = {"fp32", "rtn2", "chord"};
  campaign.set_rounds(methods.size());
  campaign.set_min_devices(static_cast<uint32_t>(n));
  campaign.set_round_deadline_s(120);
  campaign.set_strategy("eval");
  campaign.set_budget_bits(3.0);
  for (const auto& m : methods) campaign.add_eval_methods(m);
  ASSERT_OK_AND_ASSIGN(auto started, admin.StartRounds(campaign));

  std::map<std::string, nlohmann::json> summaries;
  for (size_t k = 0; k < methods.size(); ++k) {
    const uint64_t round = started.first_round() + k;
    for (int tries = 0; tries < 600; ++tries) {
      if (tries > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      for (auto& a : agents) ASSERT_OK(a->RunOnce().status());
      auto got = admin.GetRound(round);
      if (absl::IsNotFound(got.status())) continue;  // not opened yet
      ASSERT_OK(got.status());
      const auto& info = *got;
      if (info.round().state() == "done") {
        summaries[methods[k]] = nlohmann::json::parse(info.round().detail());
        break;
      }
      ASSERT_NE(info.round().state(), "failed") << info.round().detail();
    }
    ASSERT_EQ(summaries.count(methods[k]), 1u) << methods[k] << " never finished";
    EXPECT_EQ(summaries[methods[k]]["reports"], n) << methods[k];
  }
  for (auto& a : agents) EXPECT_EQ(a->stats().tasks_done.load(), methods.size());

  // The simulator's path for the same users: FP32, uniform 2 bits, and
  // each device's stored chord plan decoded for 3 bits.
  ASSERT_OK_AND_ASSIGN(cloud::ModelBlob served, local->coordinator->GetModel(0));
  ASSERT_OK_AND_ASSIGN(TensorContainer container, DecodeContainer(*served.bytes));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ch::DeviceBundle> bundle,
                       ch::DeviceBundleFromContainer(container, setup->model->config()));
  ASSERT_OK_AND_ASSIGN(ch::QuantTables tables, ch::QuantTables::Create(bundle->catalog, {32, 2, 3, 4, 8}));
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<ch::PersonalizedBackbone> view,
                       ch::PersonalizedBackbone::Create(bundle->backbone, bundle->catalog));
  const int64_t channels = bundle->catalog.total_channels();
  auto expected = [&](const std::function<int(int64_t i, int64_t c)>& width) {
    torch::NoGradGuard no_grad;
    torch::Tensor bits = torch::empty({n, channels}, torch::kLong);
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t c = 0; c < channels; ++c) bits[i][c] = width(i, c);
    }
    const int64_t neg = sample.num_negatives;
    torch::Tensor cand = torch::empty({n, neg + 1}, torch::kLong);
    torch::Tensor uid = torch::empty({n}, torch::kLong);
    for (int64_t i = 0; i < n; ++i) {
      cand[i][0] = sample.targets[i];
      for (int64_t j = 0; j < neg; ++j) cand[i][j + 1] = sample.negatives[i * neg + j];
      uid[i] = sample.users[i];
    }
    auto index = ch::WidthIndexForBits(tables, bits);
    EXPECT_OK(index.status());
    ch::UserWeights w = ch::UserWeights::Hard(bundle->catalog, tables, *index);
    torch::Tensor hist = ml::MakeEvalHistories(setup->split, sample.users, sample.stage,
                                                   view->HistoryLength());
    torch::Tensor s = view->Score(w, hist, uid, cand).contiguous();
    double ndcg = 0;
    for (int64_t i = 0; i < n; ++i) {
      std::vector<float> negs(s[i].data_ptr<float>() + 1, s[i].data_ptr<float>() + neg + 1);
      ndcg += seqrec::NdcgAt(seqrec::RankAmongNegatives(s[i][0].item<float>(), negs), 10);
    }
    return ndcg / static_cast<double>(n);
  };
  EXPECT_NEAR(summaries["fp32"]["ndcg10"].get<double>(), expected([](int64_t, int64_t) { return 32; }), 1e-9);
  EXPECT_NEAR(summaries["rtn2"]["ndcg10"].get<double>(), expected([](int64_t, int64_t) { return 2; }), 1e-9);
  std::vector<std::vector<int>> chord_bits;
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t id = clients[i]->device_id();
    ASSERT_OK_AND_ASSIGN(std::optional<cloud::PlanRecord> plan,
                         local->coordinator->store().LatestPlanForDevice(id));
    ASSERT_TRUE(plan.has_value());
    EXPECT_EQ(plan->method, "chord");
    if (query) {
      // The agent sent its FP32 backbone's query: the stored plan is the
      // cloud's plan from the same query.
      const std::vector<int32_t> one = {sample.users[i]};
      ASSERT_OK_AND_ASSIGN(torch::Tensor q, ch::UserEmbeddings(*setup->chord, *setup->model, setup->split,
                                                               one, sample.stage));
      ASSERT_OK_AND_ASSIGN(std::vector<PrecisionPlan> want, setup->chord->GeneratePlans(q, 0));
      ASSERT_OK_AND_ASSIGN(PrecisionPlan got, DecodePlan(plan->bytes));
      EXPECT_EQ(got.codes, want[0].codes) << "device " << i;
    }
    ASSERT_OK_AND_ASSIGN(ch::DecodedPlan d, ch::DecodeDevicePlan(*bundle, plan->bytes, {}, 3.0,
                                                                 so.decode));
    EXPECT_LE(d.avg_bits, 3.0 + 1e-9);
    chord_bits.push_back(d.channel_bits);
  }
  EXPECT_NEAR(summaries["chord"]["ndcg10"].get<double>(),
              expected([&](int64_t i, int64_t c) { return chord_bits[i][c]; }), 1e-9);
  EXPECT_LE(summaries["chord"]["avg_bits"].get<double>(), 3.0 + 1e-9);
  EXPECT_GT(summaries["chord"]["plan_bytes"].get<double>(), channels / 4.0);
  EXPECT_GT(summaries["chord"]["apply_ms"].get<double>(), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Embeddings, SeqRecAgentTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "BackboneQuery" : "Encoder"; });

TEST(SeqRecAgentDataTest, BadDeviceDataIsRefusedBeforeRegistering) {
  device::SeqRecDeviceData d;
  d.history = {1, 2, 3};
  d.held_out = 4;
  d.negatives = {5, 6};
  EXPECT_OK(device::ValidateSeqRecDeviceData(d));
  for (auto mutate : std::vector<std::function<void(device::SeqRecDeviceData&)>>{
           [](auto& x) { x.history.clear(); }, [](auto& x) { x.held_out = 0; },
           [](auto& x) { x.negatives = {4}; }, [](auto& x) { x.negatives.clear(); },
           [](auto& x) { x.history = {0}; }, [](auto& x) { x.backbone = "gru4rec"; },
           [](auto& x) { x.budget_bits = 9; }}) {
    device::SeqRecDeviceData bad = d;
    mutate(bad);
    EXPECT_EQ(device::ValidateSeqRecDeviceData(bad).code(), absl::StatusCode::kInvalidArgument);
  }
}

}  // namespace
}  // namespace qfleet::apps
