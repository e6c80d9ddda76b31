// HttpServer: round trips, keep-alive, size caps, malformed and truncated requests, Unix socket
// permissions, loopback-only default, dropped responders and the drain on Stop. Raw sockets on
// the client side, so that the bytes on the wire are exactly what each test says.
#include <sys/stat.h>

#include <chrono>
#include <future>
#include <thread>

#include "gtest/gtest.h"
#include "targets/http/beast.h"
#include "targets/http/http.h"
#include "test_util.h"

namespace autoscale {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Echoes method, path and body length; "/slow" answers from another thread after 200 ms;
// "/drop" drops the responder.
void EchoHandler(HttpRequest&& req, Responder respond) {
  if (req.path() == "/slow") {
    std::thread([r = std::move(respond)]() mutable {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      HttpResponse res;
      res.body = "slow";
      r(std::move(res));
    }).detach();
    return;
  }
  if (req.path() == "/drop") return;
  HttpResponse res;
  res.content_type = "text/plain";
  res.body = req.method + " " + std::string(req.path()) + " " + std::to_string(req.body.size());
  const std::string* h = req.Header("x-test");
  if (h != nullptr) res.body += " x-test=" + *h;
  respond(std::move(res));
}

std::unique_ptr<HttpServer> StartServer(HttpServerOptions options = {}) {
  if (options.listen == "127.0.0.1:8000") options.listen = "127.0.0.1:0";
  auto server = HttpServer::Start(options, EchoHandler);
  EXPECT_TRUE(server.ok()) << server.status().message();
  return server.ok() ? std::move(server).value() : nullptr;
}

// Sends raw bytes and reads until the server closes or `responses` responses have arrived
// (counted by "HTTP/1.1 " status lines; enough for these small bodies).
std::string Exchange(const Endpoint& ep, const std::string& bytes, int responses = 1,
                     bool half_close = false) {
  asio::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(asio::ip::make_address(ep.host), ep.port));
  asio::write(s, asio::buffer(bytes));
  if (half_close) s.shutdown(tcp::socket::shutdown_send);
  std::string out;
  char buf[4096];
  boost::system::error_code ec;
  auto count = [&] {
    int n = 0;
    for (size_t p = out.find("HTTP/1.1 "); p != std::string::npos; p = out.find("HTTP/1.1 ", p + 1))
      ++n;
    return n;
  };
  while (true) {
    size_t n = s.read_some(asio::buffer(buf), ec);
    out.append(buf, n);
    if (ec) break;
    if (count() >= responses && out.find("\r\n\r\n") != std::string::npos) {
      // Small bodies arrive with their header; one more short read is not needed.
      const size_t body_at = out.rfind("\r\n\r\n");
      const size_t cl = out.rfind("Content-Length: ");
      if (cl != std::string::npos) {
        size_t len = std::stoul(out.substr(cl + 16));
        if (out.size() >= body_at + 4 + len) break;
      }
    }
  }
  return out;
}

std::string Get(const std::string& path) { return "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"; }

TEST(HttpServer, AnswersAndKeepsConnectionsAlive) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  EXPECT_GT(server->endpoint().port, 0);
  std::string two = Get("/a") +
                    "POST /b?q=1 HTTP/1.1\r\nHost: x\r\nX-Test: yes\r\n"
                    "Content-Length: 5\r\n\r\nhello";
  std::string out = Exchange(server->endpoint(), two, 2);
  EXPECT_NE(out.find("GET /a 0"), std::string::npos) << out;
  EXPECT_NE(out.find("POST /b 5 x-test=yes"), std::string::npos) << out;
  EXPECT_NE(out.find("Server: autoscale"), std::string::npos);
}

TEST(HttpServer, OversizedBodyGets413AndServerKeepsServing) {
  HttpServerOptions o;
  o.max_body_bytes = 1000;
  auto server = StartServer(o);
  ASSERT_NE(server, nullptr);
  std::string big =
      "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + std::string(5000, 'a');
  std::string out = Exchange(server->endpoint(), big);
  EXPECT_NE(out.find("HTTP/1.1 413"), std::string::npos) << out;
  EXPECT_NE(out.find("{\"error\":"), std::string::npos) << out;
  EXPECT_NE(out.find("5000 bytes"), std::string::npos) << out;
  // Chunked bodies are capped as they arrive.
  std::string chunked = "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) chunked += "1f4\r\n" + std::string(500, 'b') + "\r\n";
  chunked += "0\r\n\r\n";
  EXPECT_NE(Exchange(server->endpoint(), chunked).find("HTTP/1.1 413"), std::string::npos);
  EXPECT_NE(Exchange(server->endpoint(), Get("/ok")).find("GET /ok 0"), std::string::npos);
}

TEST(HttpServer, MalformedRequestsGet400) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  for (const std::string& bad :
       {std::string("GARBAGE\r\n\r\n"), std::string("GET / HTTP/9.9\r\n\r\n"),
        std::string("POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"),
        std::string("GET / HTTP/1.1\r\nBad Header\r\n\r\n")}) {
    std::string out = Exchange(server->endpoint(), bad);
    EXPECT_NE(out.find("HTTP/1.1 400"), std::string::npos) << bad << " -> " << out;
    EXPECT_NE(out.find("malformed HTTP request"), std::string::npos) << out;
  }
  EXPECT_NE(Exchange(server->endpoint(), Get("/still")).find("GET /still 0"), std::string::npos);
}

TEST(HttpServer, TruncatedBodyIsDroppedAndServerKeepsServing) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  // Announces 100 bytes, sends 10, then closes its side.
  std::string out = Exchange(server->endpoint(),
                             "POST /t HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123456789", 1, true);
  EXPECT_EQ(out.find("POST /t"), std::string::npos) << out;  // never handed to the handler
  EXPECT_NE(Exchange(server->endpoint(), Get("/after")).find("GET /after 0"), std::string::npos);
}

TEST(HttpServer, StalledRequestIsClosedAfterTheReadTimeout) {
  HttpServerOptions o;
  o.read_timeout_ms = 200;
  auto server = StartServer(o);
  ASSERT_NE(server, nullptr);
  const auto start = std::chrono::steady_clock::now();
  std::string out =
      Exchange(server->endpoint(), "POST /t HTTP/1.1\r\nContent-Length: 100\r\n\r\n0123");
  EXPECT_EQ(out, "");  // closed, never handed to the handler
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_NE(Exchange(server->endpoint(), Get("/after")).find("GET /after 0"), std::string::npos);
}

TEST(HttpServer, HugeHeaderGets431) {
  HttpServerOptions o;
  o.max_header_bytes = 1024;
  auto server = StartServer(o);
  ASSERT_NE(server, nullptr);
  std::string out = Exchange(server->endpoint(),
                             "GET / HTTP/1.1\r\nX-Big: " + std::string(4000, 'h') + "\r\n\r\n");
  EXPECT_NE(out.find("HTTP/1.1 431"), std::string::npos) << out;
}

TEST(HttpServer, RefusesNonLoopbackUnlessAllowed) {
  HttpServerOptions o;
  o.listen = "0.0.0.0:0";
  auto refused = HttpServer::Start(o, EchoHandler);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("not a loopback"), std::string::npos);
  o.allow_remote = true;
  auto allowed = HttpServer::Start(o, EchoHandler);
  EXPECT_TRUE(allowed.ok()) << allowed.status().message();
}

TEST(HttpServer, BadEndpointsAreLocatedErrors) {
  for (const char* bad : {"8000", "localhost:http", "localhost:70000", "[::1:80", "unix:", ""}) {
    auto e = Endpoint::Parse(bad);
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_NE(e.status().message().find("expected HOST:PORT"), std::string::npos);
  }
  auto e = Endpoint::Parse("http://127.0.0.1:8000/");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->ToString(), "127.0.0.1:8000");
  EXPECT_TRUE(e->IsLocal());
  auto v6 = Endpoint::Parse("[::1]:9");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->ToString(), "[::1]:9");
}

TEST(HttpServer, UnixSocketHasMode0600AndIsRemovedOnStop) {
  const std::string path = autoscale::testing::TempDir("http_unix") + "/d.sock";
  HttpServerOptions o;
  o.listen = "unix:" + path;
  auto server = StartServer(o);
  ASSERT_NE(server, nullptr);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  asio::io_context ioc;
  asio::local::stream_protocol::socket s(ioc);
  s.connect(asio::local::stream_protocol::endpoint(path));
  asio::write(s, asio::buffer(Get("/u")));
  std::string out;
  char buf[1024];
  boost::system::error_code ec;
  while (out.find("GET /u 0") == std::string::npos && !ec) {
    out.append(buf, s.read_some(asio::buffer(buf), ec));
  }
  EXPECT_NE(out.find("GET /u 0"), std::string::npos) << out;
  // A second server on a live socket is refused.
  auto second = HttpServer::Start(o, EchoHandler);
  EXPECT_FALSE(second.ok());
  server->Stop(std::chrono::milliseconds(100));
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(HttpServer, DroppedResponderAnswers500) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  std::string out = Exchange(server->endpoint(), Get("/drop"));
  EXPECT_NE(out.find("HTTP/1.1 500"), std::string::npos) << out;
  // The count drops when the write completes, which may be just after the client has read it.
  for (int i = 0; i < 1000 && server->in_flight() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(server->in_flight(), 0);
}

TEST(HttpServer, StopDrainsRequestsInFlight) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  const Endpoint ep = server->endpoint();
  auto reply = std::async(std::launch::async, [ep] { return Exchange(ep, Get("/slow")); });
  while (server->in_flight() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  server->Stop(std::chrono::seconds(5));  // returns once /slow has been answered
  std::string out = reply.get();
  EXPECT_NE(out.find("HTTP/1.1 200"), std::string::npos) << out;
  EXPECT_NE(out.find("slow"), std::string::npos);
  EXPECT_NE(out.find("Connection: close"), std::string::npos) << out;
  // New connections are refused after Stop.
  asio::io_context ioc;
  tcp::socket s(ioc);
  boost::system::error_code ec;
  s.connect(tcp::endpoint(asio::ip::make_address(ep.host), ep.port), ec);
  EXPECT_TRUE(ec);
}

}  // namespace
}  // namespace autoscale
