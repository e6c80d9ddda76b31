// Configuration files of every kind, recognised by their content rather than their folder, and
// checked as the program that reads them would load them (`autoscale check-config`,
// `autoscaled --check`).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/status.h"

namespace autoscale {

enum class ConfigKind {
  kExperiment,   // `autoscale sim FILE`
  kConditions,   // named networks, loads and requests (configs/scenarios/)
  kDevice,       // configs/devices/
  kNetwork,      // configs/networks/
  kModel,        // configs/models/
  kModelSidecar, // NAME.yaml beside a user's NAME.pt
  kDaemon,       // `autoscaled --config FILE`
};
inline constexpr ConfigKind kAllConfigKinds[] = {
    ConfigKind::kExperiment, ConfigKind::kConditions,   ConfigKind::kDevice, ConfigKind::kNetwork,
    ConfigKind::kModel,      ConfigKind::kModelSidecar, ConfigKind::kDaemon};

// "experiment", "conditions", "device profile", "network profile", "model profile",
// "model sidecar", "daemon config".
std::string_view ConfigKindName(ConfigKind kind);

// The top-level keys that tell `kind` apart (keys of no other kind; `targets (a list)` for a
// device profile, `targets (a map)` for the daemon); empty for condition files, which hold only
// networks, loads and requests.
std::vector<std::string> TellTaleKeys(ConfigKind kind);

// The kind of a parsed document, from its top-level keys: each kind has keys no other kind has
// (an experiment's grid and policies, a device profile's list of targets, a network profile's
// curve, a model profile's macs, a sidecar's input_shape, the daemon's map of targets and
// listen); a file of networks, loads and requests alone holds conditions. The kind whose own
// keys the file has most of wins, so that a misspelt key still finds its kind (whose loader then
// names it). InvalidArgument "FILE:LINE:COL: ..." when the document is not a map, is empty, or
// its keys fit no kind or two kinds equally; the message names the keys it saw.
Result<ConfigKind> DetectConfigKind(const ConfigNode& root);

// Loads `path` as the program that reads its kind would, short of running anything: an
// experiment as `autoscale sim` does (every profile, condition file, trace, table and size
// limit); a condition file with its traces; a profile or sidecar by its loader; a daemon config
// by CheckDaemonConfig. `config_root` is where the devices/, networks/ and models/ a daemon
// config names are; empty: where autoscaled looks (beside the file, then the shipped configs). `*kind`, when not null, gets the kind's name once it is known
// (empty when the file cannot be read or its kind told). Errors name file, line and column.
Status CheckConfigFile(const std::string& path, const std::string& config_root,
                       std::string* kind);

// autoscaled's configuration checked without starting anything (`autoscaled --check FILE`): the
// file itself (ParseDaemonConfig), its device profile (a devices/ name under `config_root` or a
// path; empty `config_root`: beside the file, then the shipped configs, as autoscaled looks them
// up), that every bound target is one of the device's, that every model is a user's model in
// model_dir (NAME.pt with a valid sidecar) or a shipped profile, and the policy and its params
// on the device (a Q-table it names included). What needs the real machine (backends, the
// worker, /proc, the listen address) is left to start-up.
Status CheckDaemonConfig(const std::string& path, const std::string& config_root);

}  // namespace autoscale
