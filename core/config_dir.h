// Where the shipped configuration (devices, networks, models, scenarios, experiments, daemon) is.
#pragma once

#include <string>

#include "core/status.h"

namespace autoscale {

// $AUTOSCALE_CONFIG_DIR when set (it must hold a devices/ folder), else found relative to the
// running program: PREFIX/share/autoscale/configs beside an installed PREFIX/bin/PROGRAM, or
// share/autoscale/configs in a build tree (CMake links it there). Never a path compiled in.
Result<std::string> ShippedConfigDir();

}  // namespace autoscale
