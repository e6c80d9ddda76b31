// File helpers: whole-file reads and atomic writes (learned state and reports are never left
// half-written: write a temporary file beside the target, flush it to disk, rename over).
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace autoscale {

Result<std::string> ReadFile(const std::string& path);
// Writes `contents` to `path` atomically: a reader sees the old file or the new one, never a mix.
Status WriteFileAtomic(const std::string& path, std::string_view contents);
// Creates a directory and its parents; OK when it exists.
Status MakeDirs(const std::string& path);

}  // namespace autoscale
