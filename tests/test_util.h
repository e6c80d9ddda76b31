// Helpers shared by the simulator tests.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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

// Runs a shell command; its exit status (-1 when it did not exit) and stdout + stderr.
struct ShellResult {
  int code = -1;
  std::string out;
};
inline ShellResult RunShell(const std::string& command) {
  ShellResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline bool HaveProgram(const std::string& name) {
  return RunShell("command -v " + name + " > /dev/null").code == 0;
}

// True when Debian's python3-torchvision can script networks (scripts/install-deps.sh).
inline bool HaveTorchvision() {
  return std::system("/usr/bin/python3 -c 'import torchvision' > /dev/null 2>&1") == 0;
}

// A folder holding torchvision networks scripted by scripts/torchvision_models.py (NAME.pt,
// NAME.yaml, NAME.input.f32, NAME.output.f32, NAME.counts.json), shared by every test binary
// of the build and kept between runs (the script skips what it already wrote; a lock keeps
// parallel tests from writing at once). "" when python3-torchvision is absent or the script
// fails (its log is then DIR/script.log).
inline std::string TorchvisionModels(const std::vector<std::string>& names) {
  if (!HaveTorchvision()) return "";
  const char* env = std::getenv("AUTOSCALE_TEST_TMP");
  std::filesystem::path base = env ? env : std::filesystem::temp_directory_path().string();
  const std::string dir = (base / "torchvision").string();
  std::filesystem::create_directories(dir);
  std::string cmd = "flock " + dir + "/.lock " + std::string(AUTOSCALE_SOURCE_DIR) +
                    "/scripts/torchvision_models.py " + dir;
  for (const auto& n : names) {
    cmd += ' ';
    cmd += n;
  }
  cmd += " >> " + dir + "/script.log 2>&1";
  return std::system(cmd.c_str()) == 0 ? dir : "";
}

// Scripts a small module for tests: `body` is Python defining `model` (an nn.Module) and `shape`
// (its input shape without the batch). Writes DIR/NAME.pt, the sidecar DIR/NAME.yaml with
// input_shape, and torch's output for a seeded input (DIR/NAME.input.f32, DIR/NAME.output.f32).
// False when python3-torch is absent or the script fails (its log is DIR/NAME.py.log).
inline bool ScriptModule(const std::string& dir, const std::string& name, const std::string& body) {
  const std::string base = dir + "/" + name;
  std::ofstream(base + ".py") << "import torch\ntorch.manual_seed(3)\n"
                              << body << "\nm = torch.jit.script(model.eval())\n"
                              << "m.save('" << base << ".pt')\n"
                              << "open('" << base << ".yaml', 'w').write('input_shape: [%s]\\n' % "
                              << "', '.join(map(str, shape)))\n"
                              << "x = torch.rand(1, *shape) * 2 - 1\n"
                              << "x.numpy().astype('<f4').tofile('" << base << ".input.f32')\n"
                              << "with torch.no_grad():\n    y = m(x)\n"
                              << "y.numpy().astype('<f4').tofile('" << base << ".output.f32')\n";
  return std::system(("/usr/bin/python3 " + base + ".py > " + base + ".py.log 2>&1").c_str()) == 0;
}

// Raw little-endian float32 values of a file.
inline std::vector<float> ReadFloats(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return {};
  std::vector<float> v(static_cast<size_t>(in.tellg()) / sizeof(float));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * 4));
  return v;
}

}  // namespace autoscale::testing
