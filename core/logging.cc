#include "core/logging.h"

#include <spdlog/sinks/stdout_sinks.h>

#include <mutex>

namespace autoscale {
namespace {

std::mutex& Mu() {
  static std::mutex mu;
  return mu;
}

bool& Configured() {
  static bool configured = false;
  return configured;
}

// Under Mu(): replaces the default logger (spdlog's writes to stdout, which is for results).
void Install(const std::string& program, spdlog::level::level_enum level) {
  auto logger =
      std::make_shared<spdlog::logger>(program, std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z [%l] %n: %v");
  logger->set_level(level);
  logger->flush_on(spdlog::level::trace);  // a line is out before the process may be killed
  spdlog::set_default_logger(std::move(logger));
  Configured() = true;
}

}  // namespace

const std::vector<std::string>& LogLevelNames() {
  static const std::vector<std::string> names = {"trace", "debug",    "info", "warning",
                                                 "error", "critical", "off"};
  return names;
}

spdlog::logger& Log() {
  {
    std::lock_guard<std::mutex> lock(Mu());
    if (!Configured()) Install("autoscale", spdlog::level::info);
  }
  return *spdlog::default_logger_raw();
}

Status SetUpLogging(const std::string& program, std::string_view level) {
  const auto& names = LogLevelNames();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == level) {
      std::lock_guard<std::mutex> lock(Mu());
      Install(program, static_cast<spdlog::level::level_enum>(i));
      return Status::Ok();
    }
  }
  return Status::InvalidArgument("unknown log level '" + std::string(level) +
                                 "' (levels: trace, debug, info, warning, error, critical, off)");
}

}  // namespace autoscale
