#ifndef QFLEET_SIM_SEQREC_SIM_H_
#define QFLEET_SIM_SEQREC_SIM_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/seqrec/ranking_metrics.h"
#include "cloud/chord/chord_setup.h"

namespace qfleet::apps {

// qfleet-sim --task seqrec: CHORD through the real coordinator. The cloud
// side (backbone, user encoder, hypernetworks, static allocation) is
// prepared by PrepareChord and handed to an in-process coordinator, which
// serves the frozen backbone + encoder as its model and plans through
// RequestPlan. Every evaluated user is a virtual device, a real gRPC client
// with its own token: it registers, pulls one eval task per method (an eval
// campaign, one round per method), downloads and verifies the model, encodes
// its own recent items, asks for its plan, decodes it for its budget, ranks
// its held-out item against its 100 negatives with its own per-channel
// weights, and reports. The table comes from the coordinator's round
// summaries of those reports.
struct SeqRecSimOptions {
  SeqRecSimOptions() {
    // CHORD training as documented in docs/notebook/2026-12-07-chord.md: next-item BCE +
    // FP32-logit distillation + bit penalty, 3 epochs of Adam at 1e-3.
    setup.train.distill_weight = 1.0;
    setup.train.learning_rate = 1e-3;
    setup.train.epochs = 3;
  }
  ml::chord::ChordSetupOptions setup;
  int devices = 1000;      // evaluated users = virtual devices
  uint64_t eval_seed = 1;  // which users and their negatives
  std::vector<std::string> methods = {"fp32", "rtn2", "rtn3", "rtn4", "rtn8",
                                      "static", "chord-mean", "chord"};
  int workers = 32;             // RPC threads
  int channels = 4;             // HTTP/2 connections shared by the devices
  int64_t batch_devices = 256;  // devices ranked per batched forward
  int timing_devices = 8;       // devices that also time the full-model apply
  std::string db;               // coordinator database (default: temporary)
  bool insecure = false;
  double round_deadline_s = 3600;
  bool progress = true;
};

struct SeqRecMethodRow {
  std::string name;
  uint64_t round = 0;
  uint64_t reports = 0;
  double avg_bits = 32;
  double low_bits = 32;    // plans: mean width of the lowest tier as devices decoded it
  double hr5 = 0, hr10 = 0, ndcg5 = 0, ndcg10 = 0;
  double plan_bytes = 0;   // per device
  double model_bytes = 0;  // FP32 backbone
  double plan_gen_ms = 0;  // cloud, per generated plan
  double apply_ms = 0;     // device: decode + budget + quantize the full model
  double cached_share = 0; // plans served from SQLite without generation
  double seconds = 0;      // wall time of the round
  // What each device reported (device order, the same users in every
  // method): for paired comparisons of two methods.
  std::vector<double> device_ndcg10, device_hr10;
};

struct SeqRecSimResult {
  int devices = 0;
  int64_t channels = 0;
  int64_t layers = 0;          // quantizable layers (embedding tables included)
  double prepare_seconds = 0;  // cloud: backbone + CHORD (trained or loaded)
  double register_seconds = 0;
  double total_seconds = 0;
  uint64_t plans_stored = 0;   // chord plans in the coordinator's SQLite
  std::vector<SeqRecMethodRow> rows;
  // chord against chord-mean on the same devices (both rows present).
  std::optional<seqrec::PairedDifference> chord_vs_mean_ndcg10, chord_vs_mean_hr10;
};

// --quick: a small synthetic run for tests (300 users, 200 items, 64
// devices, 10 backbone epochs, 1 CHORD epoch); keeps what `explicit_*` says
// the user set.
void ApplySeqRecQuick(SeqRecSimOptions& options, bool explicit_epochs, bool explicit_chord_epochs,
                      bool explicit_devices);

absl::StatusOr<SeqRecSimResult> RunSeqRecSim(const SeqRecSimOptions& options, std::ostream& progress);
std::string FormatSeqRecTable(const SeqRecSimResult& result);
std::string SeqRecToJson(const SeqRecSimResult& result);

// True when argv selects --task seqrec; SeqRecSimMain parses its flags.
bool SelectsSeqRecTask(int argc, char** argv);
int SeqRecSimMain(int argc, char** argv);

}  // namespace qfleet::apps

#endif  // QFLEET_SIM_SEQREC_SIM_H_
