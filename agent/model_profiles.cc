// DeriveModelProfile: features from the import, accuracy from the sidecar or estimated from
// measured top-1 agreement with FP32.
#include "agent/model_profiles.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/strings.h"
#include "targets/model_store.h"

namespace autoscale {

namespace fs = std::filesystem;

namespace {

std::string Fixed(double v, int digits = 3) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Inputs [i, i + n) stacked into one [n, input_shape...] tensor.
HostTensor Stack(const std::vector<HostTensor>& inputs, size_t i, size_t n) {
  HostTensor t;
  t.shape = inputs[i].shape;
  t.shape[0] = 0;
  for (size_t k = i; k < i + n; ++k) {
    t.shape[0] += inputs[k].shape[0];
    t.data.insert(t.data.end(), inputs[k].data.begin(), inputs[k].data.end());
  }
  return t;
}

}  // namespace

Result<std::vector<HostTensor>> LoadSampleInputs(const ModelSpec& spec, const ModelSidecar& sidecar,
                                                 const AgreementOptions& o, std::string* which) {
  std::vector<HostTensor> inputs;
  const int64_t per = NumElements(spec.input_shape);
  if (sidecar.samples_dir.empty()) {
    for (int i = 0; i < o.max_samples; ++i) {
      inputs.push_back(MakeHostInput(spec, o.seed + static_cast<uint64_t>(i), 1));
    }
    if (which) {
      *which = std::to_string(inputs.size()) + " seeded inputs (seed " + std::to_string(o.seed) +
               "; the sidecar names no samples folder)";
    }
    return inputs;
  }
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(sidecar.samples_dir, ec)) {
    const std::string fname = e.path().filename().string();
    if (fname.starts_with(spec.name) && fname.ends_with(".f32") && e.is_regular_file(ec)) {
      files.push_back(e.path());
    }
  }
  if (ec) {
    return Status::InvalidArgument(sidecar.path + ": samples: cannot list '" + sidecar.samples_dir +
                                   "': " + ec.message());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    return Status::InvalidArgument(sidecar.path + ": samples: '" + sidecar.samples_dir +
                                   "' holds no " + spec.name + "*.f32 files");
  }
  if (static_cast<int>(files.size()) > o.max_samples) files.resize(o.max_samples);
  const uintmax_t want = static_cast<uintmax_t>(per) * sizeof(float);
  for (const fs::path& f : files) {
    const uintmax_t size = fs::file_size(f, ec);
    if (ec || size != want) {
      return Status::InvalidArgument(sidecar.path + ": samples: '" + f.string() + "' holds " +
                                     (ec ? std::string("?") : std::to_string(size)) +
                                     " bytes; one input of " + ShapeString(spec.input_shape) +
                                     " float32 values is " + std::to_string(want) + " bytes");
    }
    HostTensor t;
    t.shape = {1};
    t.shape.insert(t.shape.end(), spec.input_shape.begin(), spec.input_shape.end());
    t.data.resize(static_cast<size_t>(per));
    std::ifstream in(f, std::ios::binary);
    if (!in.read(reinterpret_cast<char*>(t.data.data()), static_cast<std::streamsize>(want))) {
      return Status::InvalidArgument(sidecar.path + ": samples: cannot read '" + f.string() + "'");
    }
    inputs.push_back(std::move(t));
  }
  if (which) {
    *which = std::to_string(inputs.size()) + " sample inputs from " + sidecar.samples_dir;
  }
  return inputs;
}

std::vector<int64_t> Top1(const HostTensor& output) {
  std::vector<int64_t> top;
  if (output.shape.empty() || output.shape[0] <= 0) return top;
  const int64_t rows = output.shape[0];
  const int64_t per = static_cast<int64_t>(output.data.size()) / rows;
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = output.data.data() + r * per;
    top.push_back(per > 0 ? std::max_element(row, row + per) - row : -1);
  }
  return top;
}

Result<std::vector<int64_t>> RunTop1(Target& target, const ModelSpec& spec, Precision precision,
                                     const std::vector<HostTensor>& inputs,
                                     const AgreementOptions& o) {
  std::vector<int64_t> top;
  const size_t batch = static_cast<size_t>(std::max(1, o.batch));
  for (size_t i = 0; i < inputs.size(); i += batch) {
    const size_t n = std::min(batch, inputs.size() - i);
    ASSIGN_OR_RETURN(InferenceResult r, target.Run(spec, precision, 0, Stack(inputs, i, n)));
    std::vector<int64_t> t = Top1(r.output);
    if (t.size() != n) {
      return Status::Internal(target.description().name + " answered " + std::to_string(t.size()) +
                              " outputs for " + std::to_string(n) + " inputs of '" + spec.name +
                              "'");
    }
    top.insert(top.end(), t.begin(), t.end());
  }
  return top;
}

Result<ModelProfile> DeriveModelProfile(const ModelSpec& spec, const ProfileMeasurers& measurers,
                                        const AgreementOptions& o) {
  if (spec.torchscript_path.empty()) {
    return Status::InvalidArgument("model '" + spec.name +
                                   "' is not a user's model file; its profile is configs/models/" +
                                   spec.name + ".yaml");
  }
  const std::string& file = spec.torchscript_path;
  if (!spec.features) {
    return Status::Unavailable("'" + file +
                               "': no features: this program cannot import TorchScript (a build "
                               "without libtorch, or InstallTorchScriptImporter() not called)");
  }
  if (!spec.features->complete) {
    std::string ops;
    for (size_t i = 0; i < spec.features->uncounted.size() && i < 5; ++i) {
      if (i) ops += "; ";
      ops += spec.features->uncounted[i];
    }
    if (spec.features->uncounted.size() > 5) {
      ops += "; and " + std::to_string(spec.features->uncounted.size() - 5) + " more";
    }
    return Status::InvalidArgument(
        "'" + file + "': its features are incomplete (the import could not count: " + ops +
        "), so its latency and energy would be predicted short; the simulator and the daemon's "
        "cost model need every layer counted");
  }
  const std::string sidecar_path = fs::path(file).replace_extension(".yaml").string();
  ASSIGN_OR_RETURN(ModelSidecar sidecar, LoadModelSidecar(sidecar_path));

  ModelProfile p = ProfileFromFeatures(*spec.features, spec);
  p.name = spec.name;
  p.task = "user model";
  p.derived_from = file;
  const int f32 = static_cast<int>(Precision::kFp32);
  double fp32_acc = -1;
  if (auto it = sidecar.accuracy.find("fp32"); it != sidecar.accuracy.end()) {
    fp32_acc = it->second;
    p.accuracy[f32] = fp32_acc;
    p.accuracy_source[f32] = "sidecar: " + sidecar.accuracy_source;
  } else {
    p.accuracy[f32] = 0;
    p.accuracy_unknown = sidecar_path + " states no fp32 accuracy (add `accuracy: {fp32: TOP1, " +
                         "source: \"where it comes from\"}`); until then requests with an " +
                         "accuracy floor above 0 are refused for '" + spec.name + "'";
    p.accuracy_source[f32] = "unknown: " + sidecar_path + " states none";
  }

  // The other precisions: stated, else measured against FP32 on sample inputs.
  std::vector<HostTensor> inputs;
  std::string inputs_which;
  std::vector<int64_t> reference_top1;
  bool reference_done = false;
  Status reference_status;
  for (Precision prec : {Precision::kFp16, Precision::kInt8}) {
    const int pi = static_cast<int>(prec);
    const std::string pname(PrecisionName(prec));
    if (auto it = sidecar.accuracy.find(pname); it != sidecar.accuracy.end()) {
      p.accuracy[pi] = it->second;
      p.accuracy_source[pi] = "sidecar: " + sidecar.accuracy_source;
      continue;
    }
    Target* runner = nullptr;
    std::string why_not;  // each measuring target's reason
    for (Target* t : measurers.targets) {
      if (t == nullptr) continue;
      const Status st = t->available() ? t->Supports(spec, prec)
                                       : Status::Unavailable(t->description().unavailable_reason);
      if (st.ok()) {
        runner = t;
        break;
      }
      why_not += why_not.empty() ? " (" : "; ";
      why_not += t->description().name;
      why_not += ": ";
      why_not += st.message();
    }
    if (!why_not.empty()) why_not += ")";
    if (runner == nullptr || measurers.reference == nullptr) {
      p.accuracy_source[pi] = "not offered: the sidecar states no " + pname +
                              " accuracy and no target here runs '" + spec.name + "' at " + pname +
                              " to measure it" + (runner == nullptr ? why_not : "");
      continue;
    }
    if (!reference_done) {
      reference_done = true;
      auto in = LoadSampleInputs(spec, sidecar, o, &inputs_which);
      if (!in.ok()) return in.status();
      inputs = std::move(in).value();
      auto ref = RunTop1(*measurers.reference, spec, Precision::kFp32, inputs, o);
      if (!ref.ok()) {
        reference_status = ref.status();
      } else {
        reference_top1 = std::move(ref).value();
      }
    }
    if (!reference_status.ok()) {
      return reference_status.WithPrefix("'" + file + "': fp32 on " +
                                         measurers.reference->description().name);
    }
    auto top = RunTop1(*runner, spec, prec, inputs, o);
    if (!top.ok()) {
      // Offered by the target but failing: not offered, and said so (the caller prints it).
      p.accuracy_source[pi] = "not offered: measuring " + pname + " on " +
                              runner->description().name + " failed: " + top.status().message();
      continue;
    }
    size_t agree = 0;
    for (size_t i = 0; i < top->size(); ++i) agree += (*top)[i] == reference_top1[i];
    const double agreement =
        inputs.empty() ? 0.0 : static_cast<double>(agree) / static_cast<double>(inputs.size());
    p.agreement[pi] = agreement;
    p.accuracy_estimated[pi] = true;
    std::string how = "top-1 agreement " + Fixed(agreement) + " (" + std::to_string(agree) + "/" +
                      std::to_string(inputs.size()) + ") of " + pname + " on " +
                      runner->description().name + " with fp32 on " +
                      measurers.reference->description().name + ", " + inputs_which;
    if (fp32_acc >= 0) {
      p.accuracy[pi] = fp32_acc * agreement;
      p.accuracy_source[pi] = "estimated: fp32 " + Fixed(fp32_acc) + " x " + how;
    } else {
      p.accuracy[pi] = 0;
      p.accuracy_source[pi] = "unknown (no fp32 accuracy to scale); " + how;
    }
  }
  return p;
}

std::string DescribeAccuracy(const ModelProfile& profile) {
  std::string out;
  for (Precision prec : {Precision::kFp32, Precision::kFp16, Precision::kInt8}) {
    const int pi = static_cast<int>(prec);
    if (!out.empty()) out += "\n";
    out += "  ";
    out += PrecisionName(prec);
    out += ": ";
    if (profile.HasPrecision(prec)) {
      out += Fixed(profile.Accuracy(prec));
      out += " (";
      out += profile.accuracy_source[pi].empty() ? "profile" : profile.accuracy_source[pi];
      out += ")";
    } else {
      out += "-";
      if (!profile.accuracy_source[pi].empty()) {
        out += " (";
        out += profile.accuracy_source[pi];
        out += ")";
      }
    }
  }
  return out;
}

}  // namespace autoscale
