// The key tables of policies' `params` (core/config_schema.h), in an experiment's `policies`
// entries and the daemon's `policy`: the factories check and read through them, and the
// configuration reference (docs/configuration.md) prints them.
#pragma once

#include <vector>

#include "core/config_schema.h"

namespace autoscale {

const KeyTable& QLearningKeys();        // q_learning params
const KeyTable& QLearningBucketKeys();  // q_learning params.buckets
const KeyTable& StaticPolicyKeys();     // static params
// `reward` of an experiment and of the daemon's configuration (policies/reward.h).
const KeyTable& RewardKeys();

// In the order the reference lists them.
std::vector<const KeyTable*> PolicyParamTables();

}  // namespace autoscale
