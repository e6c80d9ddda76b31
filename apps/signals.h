// SIGTERM/SIGINT handling shared by the servers (autoscaled, autoscale-worker): the signals are
// blocked in every thread and taken by sigwait() in main, which then drains and exits.
#pragma once

#include <pthread.h>
#include <signal.h>

namespace autoscale {

// Blocks SIGTERM and SIGINT (call before any thread starts, so that every thread inherits the
// mask) and ignores SIGPIPE (a peer closing a socket is an error code, not a signal).
inline sigset_t BlockTerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  return signals;
}

// Waits for one of `signals` and returns it.
inline int WaitForSignal(const sigset_t& signals) {
  int sig = 0;
  sigwait(&signals, &sig);
  return sig;
}

}  // namespace autoscale
