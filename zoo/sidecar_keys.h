// The key tables of a user's model sidecar, NAME.yaml beside NAME.pt (core/config_schema.h):
// LoadModelSidecar (zoo/model_import.cc) checks through them and the configuration reference
// (docs/configuration.md) prints them.
#pragma once

#include <vector>

#include "core/config_schema.h"

namespace autoscale {

const KeyTable& ModelSidecarKeys();     // top level
const KeyTable& SidecarAccuracyKeys();  // accuracy
std::vector<const KeyTable*> ModelSidecarTables();

}  // namespace autoscale
