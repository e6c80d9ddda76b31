// File helpers: bounded whole-file reads and atomic writes (learned state and reports are never
// left half-written: write a fresh temporary file beside the target, flush it and its folder to
// disk, rename over).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/status.h"

namespace autoscale {

// The default cap of ReadFile: no configuration, trace, table or model sidecar the project reads
// whole is near it (the largest shipped trace is under 1 MB; a Mahimahi trace of an hour is ~40
// MB).
inline constexpr size_t kMaxReadFileBytes = size_t{64} << 20;

// Reads a regular file whole. Refuses, with the path in the message, anything else (a directory,
// a device such as /dev/zero, a FIFO) and files larger than `max_bytes`, checked before and while
// reading, so that no read allocates more than `max_bytes`.
Result<std::string> ReadFile(const std::string& path, size_t max_bytes = kMaxReadFileBytes);

// Writes `contents` to `path` atomically: a reader sees the old file or the new one, never a mix.
// The temporary file is created exclusively (O_EXCL, a random name, mode 0600 before the final
// `mode`) in `path`'s folder, so a planted file or symbolic link there is never opened or written
// through; it is fsynced, renamed over `path` (rename replaces a link at `path` itself, never its
// target), and the folder is fsynced so the rename survives a crash.
Status WriteFileAtomic(const std::string& path, std::string_view contents, unsigned mode = 0644);

// Creates a directory and its parents; OK when it exists.
Status MakeDirs(const std::string& path);

}  // namespace autoscale
