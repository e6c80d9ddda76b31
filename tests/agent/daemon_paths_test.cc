// The daemon's folders: defaults it owns, never a world-writable one, never through a link.
#include "agent/daemon_paths.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "agent/service.h"
#include "test_util.h"

namespace autoscale {
namespace {

namespace fs = std::filesystem;

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_.empty()) {
      ::unsetenv(name_);
    } else {
      ::setenv(name_, old_.c_str(), 1);
    }
  }

 private:
  const char* name_;
  std::string old_;
};

TEST(DaemonPaths, DefaultsAreOwnedFoldersNeverTmp) {
  auto d = DefaultDaemonDirs();
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  if (::geteuid() == 0) {
    EXPECT_EQ(d->state, "/var/lib/autoscaled");
    EXPECT_EQ(d->runtime, "/run/autoscaled");
  } else {
    ScopedEnv state("XDG_STATE_HOME", "/home/u/.state");
    ScopedEnv run("XDG_RUNTIME_DIR", "/run/user/1000");
    auto x = DefaultDaemonDirs();
    ASSERT_TRUE(x.ok());
    EXPECT_EQ(x->state, "/home/u/.state/autoscaled");
    EXPECT_EQ(x->runtime, "/run/user/1000/autoscaled");
  }
  EXPECT_FALSE(d->state.starts_with("/tmp"));
  EXPECT_FALSE(d->runtime.starts_with("/tmp"));
}

TEST(DaemonPaths, EnsurePrivateDirCreates0700AndRefusesLinksAndSharedFolders) {
  const std::string base = testing::TempDir("daemon_paths");
  const std::string dir = base + "/a/b/autoscaled";
  ASSERT_TRUE(EnsurePrivateDir(dir).ok());
  struct stat st {};
  ASSERT_EQ(::lstat(dir.c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_TRUE(EnsurePrivateDir(dir).ok());  // again: fine

  const std::string link = base + "/link";
  fs::create_directory_symlink(dir, link);
  auto l = EnsurePrivateDir(link);
  ASSERT_FALSE(l.ok());
  EXPECT_NE(l.message().find("symbolic link"), std::string::npos) << l.message();

  const std::string shared = base + "/shared";
  fs::create_directory(shared);
  ::chmod(shared.c_str(), 0777);
  auto s = EnsurePrivateDir(shared);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("writable by other users"), std::string::npos) << s.message();

  const std::string file = testing::WriteFile(base + "/file", "x");
  EXPECT_FALSE(EnsurePrivateDir(file).ok());
}

TEST(DaemonPaths, FilesInWorldWritableFoldersAreRefused) {
  auto tmp = CheckOwnedFolder("/tmp/autoscaled.qtable", "state_file");
  ASSERT_FALSE(tmp.ok());
  EXPECT_NE(tmp.message().find("state_file /tmp/autoscaled.qtable"), std::string::npos)
      << tmp.message();
  EXPECT_NE(tmp.message().find("writable by other users"), std::string::npos) << tmp.message();
  const std::string base = testing::TempDir("daemon_paths_owned");
  EXPECT_TRUE(CheckOwnedFolder(base + "/state.qtable", "state_file").ok());
  EXPECT_FALSE(CheckOwnedFolder(base + "/missing/state.qtable", "state_file").ok());
}

// Until the engine is prepared, the service is live but not ready, and serves nothing else.
TEST(DaemonService, NotReadyUntilItHasAnEngine) {
  DaemonService service(nullptr);
  auto get = [&](const std::string& path) {
    HttpResponse got;
    HttpRequest req;
    req.method = "GET";
    req.target = path;
    service.Handle(std::move(req), Responder([&](HttpResponse r) { got = std::move(r); }));
    return got;
  };
  EXPECT_EQ(get("/v2/health/live").status, 200);
  EXPECT_EQ(get("/v2/health/live").body, "{\"live\":true}");
  HttpResponse ready = get("/v2/health/ready");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body, "{\"ready\":false}");
  EXPECT_EQ(get("/v2/models/mobilenet_v2").status, 503);
  EXPECT_FALSE(service.ready());
}

}  // namespace
}  // namespace autoscale
