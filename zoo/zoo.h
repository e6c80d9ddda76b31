// The model zoo: the networks that configs/models describe, as graphs with deterministic
// seeded weights (nothing is downloaded). Architectures follow the torchvision definitions
// (MobileNet v2, SqueezeNet 1.1, ResNet-18/50, GoogLeNet, Inception v3, VGG-16), the
// MobileNet paper's Table 1 (v1), and the Hello Edge keyword-spotting LSTM.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "zoo/graph.h"

namespace autoscale {

// Names as in configs/models: mobilenet_v1, mobilenet_v2, squeezenet_1_1, resnet18, resnet50,
// inception_v1, inception_v3, vgg16, kws_lstm. Sorted.
std::vector<std::string> ZooModelNames();
bool IsZooModel(const std::string& name);

// A finalized graph; an unknown name is an error listing the zoo.
Result<Graph> BuildZooModel(const std::string& name);

}  // namespace autoscale
