// SIGTERM/SIGINT handling shared by the servers (autoscaled, autoscale-worker): the signals are
// blocked in every thread and taken by sigwait() in main, which then drains and exits.
#pragma once

#include <pthread.h>
#include <signal.h>

namespace autoscale {

namespace signals_internal {
inline pthread_t main_thread;
// A thread that libraries started before main() (OpenBLAS starts its pool when it is loaded)
// does not block the signals, so the kernel hands it one that arrives while main is not in
// sigwait(): instead of the default action (the process dies, undrained), pass it on to main,
// which blocks it until sigwait() takes it. pthread_kill is async-signal-safe.
inline void ForwardToMain(int sig) { pthread_kill(main_thread, sig); }
}  // namespace signals_internal

// Blocks SIGTERM and SIGINT (call from main before any thread of its own starts, so that every
// such thread inherits the mask), routes them to main from threads that do not block them, and
// ignores SIGPIPE (a peer closing a socket is an error code, not a signal).
inline sigset_t BlockTerminationSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  signals_internal::main_thread = pthread_self();
  struct sigaction forward {};
  forward.sa_handler = signals_internal::ForwardToMain;
  sigemptyset(&forward.sa_mask);
  forward.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &forward, nullptr);
  sigaction(SIGINT, &forward, nullptr);
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
