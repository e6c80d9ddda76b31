// apps/signals.h, how autoscaled and autoscale-worker take SIGTERM and SIGINT: in main, by
// sigwait(), whichever thread the kernel hands the signal to.
#include "apps/signals.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

namespace autoscale {
namespace {

// A thread a library starts before main() (OpenBLAS starts its pool when it is loaded) does not
// block the signals; one that arrives while main is not in sigwait() goes to such a thread.
// Before, the default action then ended the process undrained (autoscale-worker exited 143 on
// a SIGTERM right after it started serving, under load); now it reaches main's sigwait().
TEST(Signals, ASignalTakenByAThreadThatDoesNotBlockItReachesMain) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::atomic<bool> stop{false};
    std::thread library([&stop] {
      while (!stop) ::usleep(1000);
    });
    const sigset_t signals = BlockTerminationSignals();
    ::kill(::getpid(), SIGTERM);  // main blocks it and does not wait yet: `library` takes it
    ::usleep(100 * 1000);
    const int sig = WaitForSignal(signals);
    stop = true;
    library.join();
    ::_exit(sig == SIGTERM ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "ended by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace autoscale
