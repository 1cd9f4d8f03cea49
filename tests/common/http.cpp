#include "common/http.hpp"

#include <chrono>
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

}  // namespace lamin::test
