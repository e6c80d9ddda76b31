#include "schema/config_reference.h"

#include <vector>

#include "agent/daemon_config.h"
#include "core/strings.h"
#include "env/profile_keys.h"
#include "policies/policy_keys.h"
#include "schema/config_check.h"
#include "sim/experiment_keys.h"
#include "zoo/sidecar_keys.h"

namespace autoscale {

namespace {

struct Section {
  std::string title;
  std::string intro;
  std::vector<const KeyTable*> tables;
  std::vector<ConfigKind> kinds;  // the kinds check-config tells apart that it describes
};

std::vector<Section> Sections() {
  return {
      {"Experiments",
       "`autoscale sim FILE` (shipped: configs/experiments/). Its inline `networks`, `loads` and "
       "`requests` are conditions as in a condition file, and each policy's `params` are "
       "described under Policy parameters.",
       ExperimentTables(),
       {ConfigKind::kExperiment}},
      {"Conditions",
       "Networks, co-runner loads and request streams by name (shipped: configs/scenarios/), in "
       "a condition file an experiment's `conditions` names or inline in the experiment. A "
       "QUANTITY is a number, or a map in one of the three forms below (told apart by a `trace` "
       "or an `on` key), within the range its key gives.",
       ConditionTables(),
       {ConfigKind::kConditions}},
      {"Device profiles", "configs/devices/NAME.yaml, or a path in an experiment or the daemon.",
       DeviceProfileTables(),
       {ConfigKind::kDevice}},
      {"Network profiles", "configs/networks/NAME.yaml.", NetworkProfileTables(),
       {ConfigKind::kNetwork}},
      {"Model profiles", "configs/models/NAME.yaml: the shipped networks.", ModelProfileTables(),
       {ConfigKind::kModel}},
      {"Model sidecars",
       "NAME.yaml beside a user's TorchScript model NAME.pt; the model's features come from the "
       "file itself.",
       ModelSidecarTables(),
       {ConfigKind::kModelSidecar}},
      {"Policy parameters",
       "The `params` of a policy in an experiment's `policies` or the daemon's `policy`, and the "
       "`reward` both take.",
       PolicyParamTables(),
       {}},
      {"Daemon configuration",
       "`autoscaled --config FILE` (example: configs/daemon/loopback.yaml); `autoscaled --check "
       "FILE` checks one without starting anything.",
       DaemonConfigTables(),
       {ConfigKind::kDaemon}},
  };
}

std::string Anchor(const std::string& title) {
  std::string out;
  for (char c : title) {
    if (c == ' ') {
      out += '-';
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') {
      out += c;
    } else if (c >= 'A' && c <= 'Z') {
      out += static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

}  // namespace

std::vector<const KeyTable*> AllKeyTables() {
  std::vector<const KeyTable*> out;
  for (const Section& s : Sections()) out.insert(out.end(), s.tables.begin(), s.tables.end());
  return out;
}

std::string ConfigReferenceMarkdown() {
  const std::vector<Section> sections = Sections();
  std::string out;
  out += "# Configuration reference\n\n";
  out += "<!-- Generated from the key tables the loaders check files against; do not edit. "
         "Regenerate with `";
  out += kConfigReferenceCommand;
  out += "`. -->\n\n";
  out +=
      "Every configuration file is YAML, checked when it is loaded: an error names the file, "
      "line, column and key path and says what was expected; an unknown key is an error that "
      "suggests the nearest valid one; a key given twice is an error. Units are in the key "
      "names. An optional key left empty (`key:` or `key: ~`) takes its default. Relative "
      "paths are relative to the file that holds them. Ranges are closed: [0, 1] includes 0 "
      "and 1.\n\n";
  out +=
      "`autoscale check-config FILE...` checks files of every kind below, wherever they lie: "
      "it tells a file's kind by its top-level keys (the kind whose own keys it has most of) "
      "and loads it as the program that reads it would.\n\n";
  out += "| kind | told apart by |\n|---|---|\n";
  for (ConfigKind kind : kAllConfigKinds) {
    std::vector<std::string> keys = TellTaleKeys(kind);
    std::string tell = keys.empty() ? "only networks, loads and requests" : JoinNames(keys);
    out += "| " + std::string(ConfigKindName(kind)) + " | " + tell + " |\n";
  }
  out += "\nContents:\n";
  for (const Section& s : sections) {
    out += "- [" + s.title + "](#" + Anchor(s.title) + ")\n";
  }
  for (const Section& s : sections) {
    out += "\n## " + s.title + "\n\n" + s.intro + "\n";
    for (const KeyTable* t : s.tables) {
      out += "\n";
      out += t->Markdown(3);
    }
  }
  return out;
}

}  // namespace autoscale
