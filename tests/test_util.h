// Helpers shared by the simulator tests.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace autoscale::testing {

inline std::string ConfigRoot() { return std::string(AUTOSCALE_SOURCE_DIR) + "/configs"; }
// A file under tests/sim/testdata.
inline std::string TestData(const std::string& name) {
  return std::string(AUTOSCALE_SOURCE_DIR) + "/tests/sim/testdata/" + name;
}

// A fresh folder for one test's files.
inline std::string TempDir(const std::string& name) {
  const char* env = std::getenv("AUTOSCALE_TEST_TMP");
  std::filesystem::path base = env ? env : std::filesystem::temp_directory_path().string();
  auto dir = base / ("autoscale_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

// Writes `text` to `path`, creating missing parent folders.
inline std::string WriteFile(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path) << text;
  return path;
}

}  // namespace autoscale::testing
