// The `autoscale` subcommands that live outside autoscale_main.cc: each adds itself, with its
// options, to the program's command line and returns what runs when it is chosen.
#pragma once

#include <string>

#include "apps/cli.h"
#include "core/status.h"

namespace autoscale {

// Prints "autoscale: error: ..." and returns 1.
int Fail(const Status& s);

cli::Command AddModelsCommand(CLI::App& app);
cli::Command AddProfileCommand(CLI::App& app);
cli::Command AddInferCommand(CLI::App& app);
cli::Command AddPipelineCommand(CLI::App& app);
cli::Command AddWavesCommand(CLI::App& app);

}  // namespace autoscale
