#include "common/http.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <utility>

namespace lamin::test {

LoopbackServer::LoopbackServer(Handler handler) : handler_(std::move(handler)) {
  auto h = [this](const httplib::Request& req, httplib::Response& res) { handler_(req, res); };
  svr_.Get(".*", h);
  svr_.Post(".*", h);
  svr_.Put(".*", h);
  svr_.Patch(".*", h);
  port_ = svr_.bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { svr_.listen_after_bind(); });
  while (!svr_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

LoopbackServer::~LoopbackServer() {
  svr_.stop();
  thread_.join();
}

CountingProxy::CountingProxy(int upstream_port)
    : upstream_port_(upstream_port),
      server_([this](const httplib::Request& req, httplib::Response& res) { forward(req, res); }) {}

int CountingProxy::exchanges() {
  std::lock_guard<std::mutex> lock(mutex_);
  return exchanges_;
}

std::vector<std::string> CountingProxy::bearers() {
  std::lock_guard<std::mutex> lock(mutex_);
  return bearers_;
}

void CountingProxy::forward(const httplib::Request& req, httplib::Response& res) {
  const std::string auth = req.get_header_value("Authorization");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (req.path == "/api/account/jwt") ++exchanges_;
    else bearers_.push_back(auth.substr(auth.find(' ') + 1));
  }
  httplib::Client up("127.0.0.1", upstream_port_);
  httplib::Headers h;
  if (!auth.empty()) h.emplace("Authorization", auth);
  if (req.has_header("Idempotency-Key")) h.emplace("Idempotency-Key", req.get_header_value("Idempotency-Key"));
  const std::string type = req.get_header_value("Content-Type");
  httplib::Result r = req.method == "GET"     ? up.Get(req.target.c_str(), h)
                      : req.method == "PUT"   ? up.Put(req.target.c_str(), h, req.body, type.c_str())
                      : req.method == "PATCH" ? up.Patch(req.target.c_str(), h, req.body, type.c_str())
                                              : up.Post(req.target.c_str(), h, req.body, type.c_str());
  res.status = r ? r->status : 502;
  res.set_content(r ? r->body : std::string("{}"), "application/json");
}

// --- TcpProxy ----------------------------------------------------------------------------------------------------
namespace {

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

/// Writes all of `data`; false when the peer is gone.
bool send_all(int fd, const char* data, ssize_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, data, static_cast<std::size_t>(n), MSG_NOSIGNAL);
    if (w <= 0) return false;
    data += w;
    n -= w;
  }
  return true;
}

}  // namespace

TcpProxy::TcpProxy(int upstream_port) : upstream_port_(upstream_port) {
  listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = loopback(0);
  socklen_t len = sizeof a;
  if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listener_, 64) != 0 ||
      ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    throw std::runtime_error("TcpProxy: cannot listen on 127.0.0.1");
  }
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

TcpProxy::~TcpProxy() {
  stop_ = true;
  ::shutdown(listener_, SHUT_RDWR);
  acceptor_.join();
  ::close(listener_);
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& t : pumps_) t.join();
}

void TcpProxy::accept_loop() {
  while (!stop_) {
    pollfd p{listener_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const int client = ::accept(listener_, nullptr, nullptr);
    if (client < 0) continue;
    std::lock_guard<std::mutex> lock(mutex_);
    pumps_.emplace_back([this, client] { pump(client); });
  }
}

void TcpProxy::pump(int client) {
  const int upstream = ::socket(AF_INET, SOCK_STREAM, 0);
  const sockaddr_in a = loopback(upstream_port_);
  if (::connect(upstream, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
    ::close(upstream);
    ::close(client);
    return;
  }
  char buf[1 << 16];
  while (!stop_) {
    pollfd p[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
    if (::poll(p, 2, 50) <= 0) continue;
    if (p[0].revents != 0) {
      const ssize_t n = ::recv(client, buf, sizeof buf, 0);
      if (n <= 0 || !send_all(upstream, buf, n)) break;
    }
    if (p[1].revents != 0) {
      const ssize_t n = ::recv(upstream, buf, sizeof buf, 0);
      if (n <= 0) break;
      if (lose_) {
        ++lost_;
        break;
      }
      if (!send_all(client, buf, n)) break;
    }
  }
  ::close(upstream);
  ::close(client);
}

}  // namespace lamin::test
