#include "zoo/zoo.h"

#include <algorithm>
#include <functional>
#include <map>

#include "core/strings.h"

namespace autoscale {
namespace {

// conv (no bias) + batch-norm + activation: the unit of most modern CNNs.
int ConvBn(Graph& g, int in, int out, int kh, int kw, int sh, int sw, int ph, int pw,
           int groups = 1, float eps = 1e-5f, bool relu6 = false, bool act = true) {
  int x = g.Conv(in, out, kh, kw, sh, sw, ph, pw, groups, false);
  x = g.BatchNorm(x, eps);
  if (!act) return x;
  return relu6 ? g.Relu6(x) : g.Relu(x);
}
int ConvBn(Graph& g, int in, int out, int k, int stride = 1, int pad = 0, float eps = 1e-5f) {
  return ConvBn(g, in, out, k, k, stride, stride, pad, pad, 1, eps);
}
// Global average pool, flatten, 1000-way fully-connected classifier.
Graph Classifier(Graph g, int x) {
  x = g.GlobalAvgPool(x);
  x = g.Flatten(x);
  g.Linear(x, 1000, "fc");
  return g;
}

// MobileNet v1 1.0-224, paper Table 1 (Howard et al. 2017).
Graph MobileNetV1() {
  Graph g("mobilenet_v1", {3, 224, 224});
  int x = ConvBn(g, 0, 32, 3, 3, 2, 2, 1, 1);
  const int cfg[][2] = {{64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1},  {512, 2}, {512, 1},
                        {512, 1}, {512, 1}, {512, 1}, {512, 1}, {1024, 2}, {1024, 1}};
  int c = 32;
  for (const auto& [out, s] : cfg) {
    x = ConvBn(g, x, c, 3, 3, s, s, 1, 1, c);  // depthwise
    x = ConvBn(g, x, out, 1, 1, 1, 1, 0, 0);   // pointwise
    c = out;
  }
  return Classifier(std::move(g), x);
}

// MobileNet v2 1.0-224 (torchvision.models.mobilenet_v2).
Graph MobileNetV2() {
  Graph g("mobilenet_v2", {3, 224, 224});
  int x = ConvBn(g, 0, 32, 3, 3, 2, 2, 1, 1, 1, 1e-5f, true);
  int c = 32;
  const int cfg[][4] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                        {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  for (const auto& [t, out, n, s] : cfg) {
    for (int i = 0; i < n; ++i) {
      const int stride = i == 0 ? s : 1;
      const int hidden = c * t;
      int y = x;
      if (t != 1) y = ConvBn(g, y, hidden, 1, 1, 1, 1, 0, 0, 1, 1e-5f, true);
      y = ConvBn(g, y, hidden, 3, 3, stride, stride, 1, 1, hidden, 1e-5f, true);
      y = ConvBn(g, y, out, 1, 1, 1, 1, 0, 0, 1, 1e-5f, false, false);  // linear bottleneck
      x = (stride == 1 && c == out) ? g.AddOp(x, y) : y;
      c = out;
    }
  }
  x = ConvBn(g, x, 1280, 1, 1, 1, 1, 0, 0, 1, 1e-5f, true);
  return Classifier(std::move(g), x);
}

// SqueezeNet 1.1 (torchvision.models.squeezenet1_1): convolutions carry biases, no batch-norm.
int Fire(Graph& g, int x, int squeeze, int e1, int e3) {
  int s = g.Relu(g.Conv(x, squeeze, 1, 1, 0, 1, true));
  int a = g.Relu(g.Conv(s, e1, 1, 1, 0, 1, true));
  int b = g.Relu(g.Conv(s, e3, 3, 1, 1, 1, true));
  return g.Concat({a, b});
}
Graph SqueezeNet11() {
  Graph g("squeezenet_1_1", {3, 224, 224});
  int x = g.Relu(g.Conv(0, 64, 3, 2, 0, 1, true));
  x = g.MaxPool(x, 3, 2, 0, true);
  x = Fire(g, x, 16, 64, 64);
  x = Fire(g, x, 16, 64, 64);
  x = g.MaxPool(x, 3, 2, 0, true);
  x = Fire(g, x, 32, 128, 128);
  x = Fire(g, x, 32, 128, 128);
  x = g.MaxPool(x, 3, 2, 0, true);
  x = Fire(g, x, 48, 192, 192);
  x = Fire(g, x, 48, 192, 192);
  x = Fire(g, x, 64, 256, 256);
  x = Fire(g, x, 64, 256, 256);
  x = g.Relu(g.Conv(x, 1000, 1, 1, 0, 1, true, "classifier"));
  x = g.GlobalAvgPool(x);
  g.Flatten(x);
  return g;
}

// ResNet-18 / ResNet-50 (torchvision.models.resnet18 / resnet50, v1.5: stride in the 3x3).
Graph ResNet(const std::string& name, bool bottleneck, const int (&blocks)[4]) {
  Graph g(name, {3, 224, 224});
  int x = ConvBn(g, 0, 64, 7, 2, 3);
  x = g.MaxPool(x, 3, 2, 1);
  int c = 64;
  const int expansion = bottleneck ? 4 : 1;
  for (int stage = 0; stage < 4; ++stage) {
    const int width = 64 << stage;
    for (int b = 0; b < blocks[stage]; ++b) {
      const int stride = (b == 0 && stage > 0) ? 2 : 1;
      const int out = width * expansion;
      int y;
      if (bottleneck) {
        y = ConvBn(g, x, width, 1);
        y = ConvBn(g, y, width, 3, stride, 1);
        y = ConvBn(g, y, out, 1, 1, 1, 1, 0, 0, 1, 1e-5f, false, false);
      } else {
        y = ConvBn(g, x, width, 3, stride, 1);
        y = ConvBn(g, y, out, 3, 3, 1, 1, 1, 1, 1, 1e-5f, false, false);
      }
      int shortcut = x;
      if (stride != 1 || c != out) {
        shortcut = ConvBn(g, x, out, 1, 1, stride, stride, 0, 0, 1, 1e-5f, false, false);
      }
      x = g.Relu(g.AddOp(y, shortcut));
      c = out;
    }
  }
  return Classifier(std::move(g), x);
}

// GoogLeNet (torchvision.models.googlenet, aux classifiers off). Its "5x5" branch uses a 3x3
// convolution, as torchvision's does.
int InceptionV1Block(Graph& g, int x, int c1, int c3r, int c3, int c5r, int c5, int pool) {
  constexpr float kEps = 1e-3f;
  int b1 = ConvBn(g, x, c1, 1, 1, 0, kEps);
  int b2 = ConvBn(g, ConvBn(g, x, c3r, 1, 1, 0, kEps), c3, 3, 1, 1, kEps);
  int b3 = ConvBn(g, ConvBn(g, x, c5r, 1, 1, 0, kEps), c5, 3, 1, 1, kEps);
  int b4 = ConvBn(g, g.MaxPool(x, 3, 1, 1, true), pool, 1, 1, 0, kEps);
  return g.Concat({b1, b2, b3, b4});
}
Graph InceptionV1() {
  constexpr float kEps = 1e-3f;
  Graph g("inception_v1", {3, 224, 224});
  int x = ConvBn(g, 0, 64, 7, 2, 3, kEps);
  x = g.MaxPool(x, 3, 2, 0, true);
  x = ConvBn(g, x, 64, 1, 1, 0, kEps);
  x = ConvBn(g, x, 192, 3, 1, 1, kEps);
  x = g.MaxPool(x, 3, 2, 0, true);
  x = InceptionV1Block(g, x, 64, 96, 128, 16, 32, 32);
  x = InceptionV1Block(g, x, 128, 128, 192, 32, 96, 64);
  x = g.MaxPool(x, 3, 2, 0, true);
  x = InceptionV1Block(g, x, 192, 96, 208, 16, 48, 64);
  x = InceptionV1Block(g, x, 160, 112, 224, 24, 64, 64);
  x = InceptionV1Block(g, x, 128, 128, 256, 24, 64, 64);
  x = InceptionV1Block(g, x, 112, 144, 288, 32, 64, 64);
  x = InceptionV1Block(g, x, 256, 160, 320, 32, 128, 128);
  x = g.MaxPool(x, 2, 2, 0, true);
  x = InceptionV1Block(g, x, 256, 160, 320, 32, 128, 128);
  x = InceptionV1Block(g, x, 384, 192, 384, 48, 128, 128);
  return Classifier(std::move(g), x);
}

// Inception v3 (torchvision.models.inception_v3, aux classifier off), 299x299.
constexpr float kV3Eps = 1e-3f;
int C(Graph& g, int x, int out, int kh, int kw, int sh = 1, int pw_h = 0, int pw_w = 0) {
  return ConvBn(g, x, out, kh, kw, sh, sh, pw_h, pw_w, 1, kV3Eps);
}
int InceptionA(Graph& g, int x, int pool_features) {
  int b1 = C(g, x, 64, 1, 1);
  int b5 = C(g, C(g, x, 48, 1, 1), 64, 5, 5, 1, 2, 2);
  int b3 = C(g, C(g, C(g, x, 64, 1, 1), 96, 3, 3, 1, 1, 1), 96, 3, 3, 1, 1, 1);
  int bp = C(g, g.AvgPool(x, 3, 1, 1), pool_features, 1, 1);
  return g.Concat({b1, b5, b3, bp});
}
int InceptionB(Graph& g, int x) {
  int b3 = C(g, x, 384, 3, 3, 2);
  int bd = C(g, C(g, C(g, x, 64, 1, 1), 96, 3, 3, 1, 1, 1), 96, 3, 3, 2);
  int bp = g.MaxPool(x, 3, 2);
  return g.Concat({b3, bd, bp});
}
int InceptionC(Graph& g, int x, int c7) {
  int b1 = C(g, x, 192, 1, 1);
  int b7 = C(g, C(g, C(g, x, c7, 1, 1), c7, 1, 7, 1, 0, 3), 192, 7, 1, 1, 3, 0);
  int bd = C(g, x, c7, 1, 1);
  bd = C(g, bd, c7, 7, 1, 1, 3, 0);
  bd = C(g, bd, c7, 1, 7, 1, 0, 3);
  bd = C(g, bd, c7, 7, 1, 1, 3, 0);
  bd = C(g, bd, 192, 1, 7, 1, 0, 3);
  int bp = C(g, g.AvgPool(x, 3, 1, 1), 192, 1, 1);
  return g.Concat({b1, b7, bd, bp});
}
int InceptionD(Graph& g, int x) {
  int b3 = C(g, C(g, x, 192, 1, 1), 320, 3, 3, 2);
  int b7 = C(g, x, 192, 1, 1);
  b7 = C(g, b7, 192, 1, 7, 1, 0, 3);
  b7 = C(g, b7, 192, 7, 1, 1, 3, 0);
  b7 = C(g, b7, 192, 3, 3, 2);
  int bp = g.MaxPool(x, 3, 2);
  return g.Concat({b3, b7, bp});
}
int InceptionE(Graph& g, int x) {
  int b1 = C(g, x, 320, 1, 1);
  int b3 = C(g, x, 384, 1, 1);
  b3 = g.Concat({C(g, b3, 384, 1, 3, 1, 0, 1), C(g, b3, 384, 3, 1, 1, 1, 0)});
  int bd = C(g, C(g, x, 448, 1, 1), 384, 3, 3, 1, 1, 1);
  bd = g.Concat({C(g, bd, 384, 1, 3, 1, 0, 1), C(g, bd, 384, 3, 1, 1, 1, 0)});
  int bp = C(g, g.AvgPool(x, 3, 1, 1), 192, 1, 1);
  return g.Concat({b1, b3, bd, bp});
}
Graph InceptionV3() {
  Graph g("inception_v3", {3, 299, 299});
  int x = C(g, 0, 32, 3, 3, 2);
  x = C(g, x, 32, 3, 3);
  x = C(g, x, 64, 3, 3, 1, 1, 1);
  x = g.MaxPool(x, 3, 2);
  x = C(g, x, 80, 1, 1);
  x = C(g, x, 192, 3, 3);
  x = g.MaxPool(x, 3, 2);
  x = InceptionA(g, x, 32);
  x = InceptionA(g, x, 64);
  x = InceptionA(g, x, 64);
  x = InceptionB(g, x);
  x = InceptionC(g, x, 128);
  x = InceptionC(g, x, 160);
  x = InceptionC(g, x, 160);
  x = InceptionC(g, x, 192);
  x = InceptionD(g, x);
  x = InceptionE(g, x);
  x = InceptionE(g, x);
  return Classifier(std::move(g), x);
}

// VGG-16, configuration D (torchvision.models.vgg16, no batch-norm).
Graph Vgg16() {
  Graph g("vgg16", {3, 224, 224});
  int x = 0;
  const int cfg[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};
  for (int c : cfg) x = c == 0 ? g.MaxPool(x, 2, 2) : g.Relu(g.Conv(x, c, 3, 1, 1, 1, true));
  x = g.Flatten(x);  // torchvision's AdaptiveAvgPool2d(7) is the identity at 224x224
  x = g.Relu(g.Linear(x, 4096, "fc6"));
  x = g.Relu(g.Linear(x, 4096, "fc7"));
  g.Linear(x, 1000, "fc8");
  return g;
}

// Hello Edge keyword-spotting LSTM (ML-KWS-for-MCU models.py create_lstm_model, LSTM3):
// 49 frames x 10 MFCC -> LSTM(500 cells, peepholes, projection 188) -> last step -> 12 labels.
Graph KwsLstm() {
  Graph g("kws_lstm", {49, 10});
  int x = g.Lstm(0, 500, 188, true);
  g.Linear(x, 12, "fc");
  return g;
}

const std::map<std::string, std::function<Graph()>>& Builders() {
  static const auto* builders = new std::map<std::string, std::function<Graph()>>{
      {"mobilenet_v1", MobileNetV1},
      {"mobilenet_v2", MobileNetV2},
      {"squeezenet_1_1", SqueezeNet11},
      {"resnet18",
       [] {
         return ResNet("resnet18", false, {2, 2, 2, 2});
       }},
      {"resnet50",
       [] {
         return ResNet("resnet50", true, {3, 4, 6, 3});
       }},
      {"inception_v1", InceptionV1},
      {"inception_v3", InceptionV3},
      {"vgg16", Vgg16},
      {"kws_lstm", KwsLstm},
  };
  return *builders;
}

}  // namespace

std::vector<std::string> ZooModelNames() {
  std::vector<std::string> names;
  for (const auto& [name, _] : Builders()) names.push_back(name);
  return names;
}

bool IsZooModel(const std::string& name) { return Builders().count(name) > 0; }

Result<Graph> BuildZooModel(const std::string& name) {
  auto it = Builders().find(name);
  if (it == Builders().end()) {
    const std::vector<std::string> names = ZooModelNames();
    std::string msg = "unknown zoo model '" + name + "'";
    const std::string near = NearestName(name, names);
    if (!near.empty()) msg += " (did you mean '" + near + "'?)";
    return Status::NotFound(msg + "; the zoo has: " + JoinNames(names));
  }
  Graph g = it->second();
  RETURN_IF_ERROR(g.Finalize());
  return g;
}

}  // namespace autoscale
