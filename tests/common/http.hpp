#pragma once
// In-process HTTP servers for the server tests (cpp-httplib): a server that answers with a handler, a proxy to
// lamin-serve that notes the credentials each request carried, and a byte-level proxy that can lose the server's
// answers. No LibTorch.

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

namespace lamin::test {

/// An in-process HTTP server on 127.0.0.1 that answers every GET/POST/PUT/PATCH with `handler`.
class LoopbackServer {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  explicit LoopbackServer(Handler handler);
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  Handler handler_;
  httplib::Server svr_;
  std::thread thread_;
  int port_ = 0;
};

/// Forwards every request to lamin-serve on `upstream_port`, counts key exchanges and remembers every bearer it saw.
class CountingProxy {
 public:
  explicit CountingProxy(int upstream_port);
  std::string url() const { return server_.url(); }
  int exchanges();
  std::vector<std::string> bearers();

 private:
  void forward(const httplib::Request& req, httplib::Response& res);

  int upstream_port_;
  std::mutex mutex_;
  int exchanges_ = 0;
  std::vector<std::string> bearers_;
  LoopbackServer server_;  // last: stopped first, before the members its handler uses
};

/// Forwards TCP connections on 127.0.0.1 to `upstream_port` byte for byte. While answers are lost, a connection is
/// closed as soon as the server starts answering: the server has done the work, the client never hears of it (as
/// when a server dies between its commit and its reply).
class TcpProxy {
 public:
  explicit TcpProxy(int upstream_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void lose_answers(bool on) { lose_ = on; }
  /// Connections closed on an answer so far.
  int lost() const { return lost_; }

 private:
  void accept_loop();
  void pump(int client);

  int upstream_port_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> lose_{false};
  std::atomic<int> lost_{0};
  std::mutex mutex_;
  std::vector<std::thread> pumps_;
  std::thread acceptor_;
};

}  // namespace lamin::test
