#include "core/config_dir.h"

#include <cstdlib>
#include <filesystem>

namespace autoscale {

Result<std::string> ShippedConfigDir() {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (const char* env = std::getenv("AUTOSCALE_CONFIG_DIR"); env && *env) {
    if (!fs::is_directory(fs::path(env) / "devices", ec)) {
      return Status::NotFound(std::string("AUTOSCALE_CONFIG_DIR=") + env +
                              " has no devices/ folder: it must name the shipped configs folder "
                              "(PREFIX/share/autoscale/configs)");
    }
    return fs::path(env).lexically_normal().string();
  }
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec)
    return Status::Internal("cannot find the running program (/proc/self/exe): " + ec.message());
  std::string looked;
  for (const fs::path& p : {exe.parent_path() / "../share/autoscale/configs",
                            exe.parent_path() / "share/autoscale/configs"}) {
    const fs::path dir = p.lexically_normal();
    if (fs::is_directory(dir / "devices", ec)) return dir.string();
    looked += (looked.empty() ? "" : ", ") + dir.string();
  }
  return Status::NotFound("the shipped configs are not where this program looks (" + looked +
                          "): install with `cmake --install`, or set AUTOSCALE_CONFIG_DIR to the "
                          "configs folder");
}

}  // namespace autoscale
