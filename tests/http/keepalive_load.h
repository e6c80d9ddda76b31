// N keep-alive clients on raw loopback TCP sockets, for the stop-under-load tests (tests/http,
// tests/worker): each writes requests back to back on one connection, the body in two halves with
// a pause between (so that a stop finds requests half received), and reads each response. A
// request counts as written once its last byte is in the socket; every written request must get
// a complete response. A connection the server has closed (seen before writing) is replaced; the
// clients end when a connect is refused, or at the deadline or request count.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace autoscale::testing {

struct KeepAliveLoadOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  int clients = 32;
  std::function<std::string()> request;  // the request's bytes (head and body)
  int split_pause_ms = 3;                // between the halves of each request
  std::chrono::milliseconds max_duration{30000};
  int max_requests_per_client = 100000;
};

struct KeepAliveLoadResult {
  std::atomic<int> written{0};
  std::atomic<int> ok{0};           // 200
  std::atomic<int> unavailable{0};  // 503
  std::atomic<int> other{0};        // any other status
  std::atomic<int> lost{0};         // written in full, no complete response
  std::mutex mu;
  std::vector<std::string> lost_how;  // guarded by mu
};

namespace load_detail {

inline int Connect(const std::string& host, uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

inline bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Whether the server has closed (or reset) the connection: a peek that sees end of stream.
inline bool ClosedByPeer(int fd) {
  char c;
  const ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

struct Response {
  int status = 0;  // 0: none complete
  bool close = false;
  std::string why;  // when incomplete
};

inline Response ReadResponse(int fd) {
  Response r;
  std::string in;
  char buf[16384];
  size_t head_end = std::string::npos;
  size_t need = std::string::npos;
  while (true) {
    if (head_end == std::string::npos) {
      head_end = in.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::string head = in.substr(0, head_end);
        for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const size_t cl = head.find("content-length:");
        const size_t len = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 15));
        need = head_end + 4 + len;
        r.close = head.find("connection: close") != std::string::npos;
        if (in.size() >= 12) r.status = std::atoi(in.substr(9, 3).c_str());
      }
    }
    if (need != std::string::npos && in.size() >= need) return r;
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      r.why = n == 0 ? "end of stream" : std::string("recv: ") + std::strerror(errno);
      r.why += " after " + std::to_string(in.size()) + " response bytes";
      r.status = 0;
      return r;
    }
    in.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace load_detail

// Runs the clients until each ends (see above); `during` runs on the calling thread meanwhile
// (it stops the server) with the result so far.
inline void RunKeepAliveLoad(const KeepAliveLoadOptions& o, KeepAliveLoadResult& result,
                             const std::function<void(KeepAliveLoadResult&)>& during) {
  using namespace load_detail;
  const auto deadline = std::chrono::steady_clock::now() + o.max_duration;
  std::vector<std::thread> clients;
  for (int c = 0; c < o.clients; ++c) {
    clients.emplace_back([&] {
      int fd = -1;
      for (int i = 0; i < o.max_requests_per_client && std::chrono::steady_clock::now() < deadline;
           ++i) {
        if (fd >= 0 && ClosedByPeer(fd)) {
          ::close(fd);
          fd = -1;
        }
        if (fd < 0) {
          fd = Connect(o.host, o.port);
          if (fd < 0) break;  // refused: the server has stopped
        }
        const std::string req = o.request();
        const size_t head = req.find("\r\n\r\n") + 4;
        const size_t half = head + (req.size() - head) / 2;
        bool ok = WriteAll(fd, req.data(), half);
        if (ok && o.split_pause_ms > 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(o.split_pause_ms));
        }
        ok = ok && WriteAll(fd, req.data() + half, req.size() - half);
        if (!ok) {  // not written in full: the server had closed; nothing is owed
          ::close(fd);
          fd = -1;
          continue;
        }
        result.written++;
        const Response r = ReadResponse(fd);
        if (r.status == 0) {
          result.lost++;
          std::lock_guard<std::mutex> lock(result.mu);
          result.lost_how.push_back(r.why);
        } else if (r.status == 200) {
          result.ok++;
        } else if (r.status == 503) {
          result.unavailable++;
        } else {
          result.other++;
        }
        if (r.status == 0 || r.close) {
          ::close(fd);
          fd = -1;
        }
      }
      if (fd >= 0) ::close(fd);
    });
  }
  during(result);
  for (auto& t : clients) t.join();
}

}  // namespace autoscale::testing
