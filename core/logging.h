// The servers' log (autoscaled, autoscale-worker): spdlog to stderr, one line per event with a
// timestamp, level and program: "2026-12-02T13:05:01.123+0000 [warning] autoscaled: ...".
#pragma once

#include <spdlog/spdlog.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace autoscale {

// The process's logger. Before SetUpLogging it is named "autoscale" and logs at info.
spdlog::logger& Log();

// Names the process's logger PROGRAM and sets its level: one of LogLevelNames().
Status SetUpLogging(const std::string& program, std::string_view level);

// trace, debug, info, warning, error, critical, off.
const std::vector<std::string>& LogLevelNames();

}  // namespace autoscale
