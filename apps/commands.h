// The `autoscale` subcommands that live outside autoscale_main.cc.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace autoscale {

// Where the shipped configs are: $AUTOSCALE_CONFIG_DIR, beside the executable, or the source tree.
std::string ConfigDir();
// Prints "autoscale: error: ..." and returns 1.
int Fail(const Status& s);

int ModelsCommand(const std::vector<std::string>& args);
int ProfileCommand(const std::vector<std::string>& args);
int InferCommand(const std::vector<std::string>& args);

}  // namespace autoscale
