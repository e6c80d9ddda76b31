// The key tables of device, network and model profiles (core/config_schema.h): the loaders in
// env/profiles.cc and env/layer_predictor.cc check and read through them, and the configuration
// reference (docs/configuration.md) prints them.
#pragma once

#include <vector>

#include "core/config_schema.h"

namespace autoscale {

// configs/devices/NAME.yaml.
const KeyTable& DeviceProfileKeys();   // top level
const KeyTable& TargetProfileKeys();   // targets[]
const KeyTable& GmacsKeys();           // targets[].gmacs_per_s
const KeyTable& PrecisionRateKeys();   // targets[].gmacs_per_s.CLASS
const KeyTable& LevelKeys();           // targets[].levels[]
const KeyTable& InterferenceKeys();    // targets[].interference
const KeyTable& WaveKeys();            // targets[].waves
const KeyTable& PipelineKeys();        // targets[].pipeline
const KeyTable& MeasuredMsKeys();      // targets[].measured_ms.MODEL
const KeyTable& LayerModelKeys();      // layer_models.TARGET
const KeyTable& LayerFitKeys();        // layer_models.TARGET.PRECISION
// configs/networks/NAME.yaml.
const KeyTable& NetworkProfileKeys();  // top level
const KeyTable& CurvePointKeys();      // curve[]
const KeyTable& RadioPowerKeys();      // power
// configs/models/NAME.yaml.
const KeyTable& ModelProfileKeys();    // top level
const KeyTable& LayerCountKeys();      // layers
const KeyTable& ModelAccuracyKeys();   // accuracy

// Each kind's tables in the order the reference lists them.
std::vector<const KeyTable*> DeviceProfileTables();
std::vector<const KeyTable*> NetworkProfileTables();
std::vector<const KeyTable*> ModelProfileTables();

}  // namespace autoscale
