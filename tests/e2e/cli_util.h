// Running the `autoscale` binary from end-to-end tests.
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace autoscale {

// What one command printed (stdout and stderr together) and its exit code.
struct CliRun {
  int code;
  std::string output;  // stdout and stderr together
};

// Runs `command` through the shell with stdout and stderr together.
inline CliRun Shell(const std::string& command) {
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

inline CliRun Cli(const std::string& args) {
  return Shell(std::string(AUTOSCALE_BINARY) + " " + args);
}

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace autoscale
