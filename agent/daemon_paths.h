// Where autoscaled keeps its learned state and its socket: folders the daemon owns, never a
// world-writable one (another local user could plant a link or squat the name there).
//
//   state:   root: /var/lib/autoscaled   others: $XDG_STATE_HOME/autoscaled, else
//            $HOME/.local/state/autoscaled
//   runtime: root: /run/autoscaled       others: $XDG_RUNTIME_DIR/autoscaled, else the state
//            folder
// The configuration asks for them with `state_file: default` and `listen: default`.
#pragma once

#include <string>

#include "core/status.h"

namespace autoscale {

struct DaemonDirs {
  std::string state;    // e.g. /var/lib/autoscaled
  std::string runtime;  // e.g. /run/autoscaled
};

// The folders for this user, from the effective uid and the environment (not created).
Result<DaemonDirs> DefaultDaemonDirs();

// Creates `dir` (mode 0700, parents as needed) unless it exists, and checks that it is a real
// folder (not a link), owned by this user and writable by nobody else.
Status EnsurePrivateDir(const std::string& dir);

// For a file the daemon writes or creates (`what`: "state_file", "listen"): its folder must exist
// and be writable only by this user or root: no other user may create, replace or link names in
// it (a sticky world-writable /tmp is refused too: a name can be squatted there).
Status CheckOwnedFolder(const std::string& path, const std::string& what);

}  // namespace autoscale
