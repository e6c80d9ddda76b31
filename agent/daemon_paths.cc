#include "agent/daemon_paths.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace autoscale {

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] == '/' ? std::string(v) : std::string();  // absolute paths only
}

std::string ModeText(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

// Who may add, remove or replace names in a folder with this stat besides its owner.
Status CheckFolderStat(const std::string& dir, const struct stat& st, const std::string& what) {
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument(what + ": " + dir + " is not a folder");
  const uid_t me = ::geteuid();
  if (st.st_uid != me && st.st_uid != 0) {
    return Status::InvalidArgument(what + ": folder " + dir + " belongs to uid " +
                                   std::to_string(st.st_uid) + ", not to this user (uid " +
                                   std::to_string(me) + ") or root");
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    return Status::InvalidArgument(
        what + ": folder " + dir + " (mode " + ModeText(st.st_mode) +
        ") is writable by other users, who could plant a link or squat a name there; use a "
        "folder only this user can write (or `default`)");
  }
  return Status::Ok();
}

}  // namespace

Result<DaemonDirs> DefaultDaemonDirs() {
  DaemonDirs d;
  if (::geteuid() == 0) {
    d.state = "/var/lib/autoscaled";
    d.runtime = "/run/autoscaled";
    return d;
  }
  std::string state_home = Env("XDG_STATE_HOME");
  if (state_home.empty()) {
    const std::string home = Env("HOME");
    if (home.empty()) {
      return Status::InvalidArgument(
          "no folder for the daemon's state: neither XDG_STATE_HOME nor HOME is set (absolute); "
          "set one, or give state_file and listen explicitly");
    }
    state_home = home + "/.local/state";
  }
  d.state = state_home + "/autoscaled";
  const std::string runtime = Env("XDG_RUNTIME_DIR");
  d.runtime = runtime.empty() ? d.state : runtime + "/autoscaled";
  return d;
}

Status EnsurePrivateDir(const std::string& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) {
      return Status::IoError(dir + ": cannot inspect: " + std::strerror(errno));
    }
    const std::string parent = std::filesystem::path(dir).parent_path().string();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec) return Status::IoError(parent + ": cannot create: " + ec.message());
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::IoError(dir + ": cannot create: " + std::strerror(errno));
    }
    if (::lstat(dir.c_str(), &st) != 0) {
      return Status::IoError(dir + ": cannot inspect: " + std::strerror(errno));
    }
  }
  if (S_ISLNK(st.st_mode)) {
    return Status::InvalidArgument(dir +
                                   " is a symbolic link; the daemon's folder must be a "
                                   "real folder it owns");
  }
  if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument(dir + " exists and is not a folder");
  if (st.st_uid != ::geteuid()) {
    return Status::InvalidArgument(dir + " belongs to uid " + std::to_string(st.st_uid) +
                                   ", not to this user (uid " + std::to_string(::geteuid()) + ")");
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    return Status::InvalidArgument(dir + " (mode " + ModeText(st.st_mode) +
                                   ") is writable by other users");
  }
  return Status::Ok();
}

Status CheckOwnedFolder(const std::string& path, const std::string& what) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? std::string(".") : parent.string();
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    return Status::InvalidArgument(what + ": folder " + dir + " of " + path +
                                   " cannot be used: " + std::strerror(errno));
  }
  return CheckFolderStat(dir, st, what + " " + path);
}

}  // namespace autoscale
