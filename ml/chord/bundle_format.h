#ifndef QFLEET_ML_CHORD_BUNDLE_FORMAT_H_
#define QFLEET_ML_CHORD_BUNDLE_FORMAT_H_

// Tensor names of the model bundle a CHORD coordinator serves
// (cloud/chord/chord_service.h BundleContainer writes it, the device's
// DeviceBundleFromContainer in chord_device.h reads it). Both sides need
// them, so they live below cloud/ and device/.

namespace qfleet::ml::chord {

// Prefix of the user encoder's tensors in the model container a CHORD
// coordinator serves; the backbone's tensors keep their own names.
inline constexpr char kEncoderPrefix[] = "chord_encoder.";

// Marks a bundle whose devices send the backbone's own query as their user
// embedding (hypernet.query_input): a 1-element tensor of this name takes
// the encoder's place.
inline constexpr char kBackboneQueryMarker[] = "chord_backbone_query";

}  // namespace qfleet::ml::chord

#endif  // QFLEET_ML_CHORD_BUNDLE_FORMAT_H_
