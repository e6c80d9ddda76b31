// The key tables of experiments and condition (scenario) files (core/config_schema.h): the
// loaders in sim/experiment.cc and sim/scenario.cc check and read through them, and the
// configuration reference (docs/configuration.md) prints them.
#pragma once

#include <vector>

#include "core/config_schema.h"

namespace autoscale {

// An experiment (configs/experiments/*.yaml).
const KeyTable& ExperimentKeys();         // top level
const KeyTable& WorldKeys();              // world
const KeyTable& GridKeys();               // grid
const KeyTable& ReferenceKeys();          // references
const KeyTable& PolicyEntryKeys();        // policies[] given as a map
// Conditions: a condition file (configs/scenarios/*.yaml) and an experiment's inline ones.
const KeyTable& ConditionFileKeys();      // a condition file's top level
const KeyTable& NetworkConditionKeys();   // networks.NAME
const KeyTable& LinkKeys();               // networks.NAME.wifi, networks.NAME.cellular
const KeyTable& LoadConditionKeys();      // loads.NAME
const KeyTable& RequestConditionKeys();   // requests.NAME
// A quantity given as a map, in one of three forms told apart by a key: `trace`, `on`, else
// a mean-reverting random walk.
const KeyTable& TraceQuantityKeys();
const KeyTable& OnOffQuantityKeys();
const KeyTable& OuQuantityKeys();

// In the order the reference lists them.
std::vector<const KeyTable*> ExperimentTables();
std::vector<const KeyTable*> ConditionTables();

}  // namespace autoscale
