// File helpers against hostile file systems: a planted link where the temporary file or the
// target would be, devices and FIFOs given as files, files over the cap.
#include "core/file_util.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "test_util.h"

namespace autoscale {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  auto r = ReadFile(path);
  return r.ok() ? *r : "<" + r.status().message() + ">";
}

TEST(ReadFile, RefusesDevicesFifosFoldersAndOversizedFiles) {
  const std::string dir = testing::TempDir("read_file_hostile");
  for (const char* dev : {"/dev/zero", "/dev/urandom"}) {
    auto r = ReadFile(dev);
    ASSERT_FALSE(r.ok()) << dev;
    EXPECT_NE(r.status().message().find("not a regular file"), std::string::npos)
        << r.status().message();
    EXPECT_NE(r.status().message().find(dev), std::string::npos);
  }
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto f = ReadFile(fifo);  // must not block waiting for a writer
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("FIFO"), std::string::npos) << f.status().message();
  EXPECT_FALSE(ReadFile(dir).ok());

  const std::string big = testing::WriteFile(dir + "/big", std::string(4096, 'x'));
  auto capped = ReadFile(big, 4095);
  ASSERT_FALSE(capped.ok());
  EXPECT_NE(capped.status().message().find("4096 bytes, over the limit of 4095"), std::string::npos)
      << capped.status().message();
  auto fits = ReadFile(big, 4096);
  ASSERT_TRUE(fits.ok()) << fits.status().ToString();
  EXPECT_EQ(fits->size(), 4096u);
  EXPECT_EQ(ReadFile(dir + "/missing").status().code(), StatusCode::kNotFound);
}

// The Q-table used to be written to STATE.tmp.<pid> with O_CREAT|O_TRUNC: another user could
// plant that name as a link and the daemon overwrote the link's target.
TEST(WriteFileAtomic, NeverWritesThroughAPlantedLink) {
  const std::string dir = testing::TempDir("write_atomic_links");
  const std::string victim = testing::WriteFile(dir + "/victim", "precious\n");
  const std::string state = dir + "/state.qtable";
  // Links at every name the old scheme could use, and at the target itself.
  for (int pid : {static_cast<int>(::getpid()), 1, 2, 100}) {
    fs::create_symlink(victim, state + ".tmp." + std::to_string(pid));
  }
  fs::create_symlink(victim, state);
  ASSERT_TRUE(WriteFileAtomic(state, "q-table v1\n").ok());
  EXPECT_EQ(Slurp(victim), "precious\n");
  // The link at the target is replaced by the new file, not followed.
  EXPECT_FALSE(fs::is_symlink(state));
  EXPECT_EQ(Slurp(state), "q-table v1\n");
  // No temporary file is left behind; the planted links are untouched.
  int tmp_files = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("state.qtable.tmp.") && !fs::is_symlink(e.symlink_status())) ++tmp_files;
  }
  EXPECT_EQ(tmp_files, 0);
  struct stat st {};
  ASSERT_EQ(::stat(state.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  ASSERT_TRUE(WriteFileAtomic(state, "private\n", 0600).ok());
  ASSERT_EQ(::stat(state.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(WriteFileAtomic, ReportsAFolderItCannotWrite) {
  auto s = WriteFileAtomic("/proc/no_such_folder/x", "y");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/proc/no_such_folder/x.tmp."), std::string::npos) << s.message();
}

}  // namespace
}  // namespace autoscale
