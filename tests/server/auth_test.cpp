// LaminHub's authentication on lamin-serve: the API key exchanged for an HS256 JWT (`POST /api/account/jwt`),
// bearer tokens checked for signature and expiry, and a client that exchanges, sends the token, and refreshes an
// expired one without the caller noticing.
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "common/files.hpp"
#include "common/http.hpp"
#include "common/process.hpp"
#include "common/serve.hpp"
#include "lamin/db.hpp"

namespace lamin::test {
namespace {

using nlohmann::json;

fs::path keys_file(const TempDir& tmp) {
  return write_file(tmp / "keys", std::string(kToken) + "\n\nsecond-api-key-0123456789\n");
}

std::string exchange(int port, const std::string& key, int* status = nullptr) {
  auto r = httplib::Client("127.0.0.1", port).Post("/api/account/jwt", json{{"api_key", key}}.dump(), "application/json");
  EXPECT_TRUE(r);
  if (!r) return "";
  if (status) *status = r->status;
  const json j = json::parse(r->body);
  return j.contains("accessToken") ? j["accessToken"].get<std::string>() : std::string();
}

int settings_status(int port, const std::string& bearer, std::string* body = nullptr) {
  auto r = httplib::Client("127.0.0.1", port).Get("/instances/settings", {{"Authorization", "Bearer " + bearer}});
  if (!r) return -1;
  if (body) *body = r->body;
  return r->status;
}

/// One part of a JWT, decoded (URL-safe base64 without padding).
std::string decode_part(std::string part) {
  for (auto& ch : part) ch = ch == '-' ? '+' : ch == '_' ? '/' : ch;
  while (part.size() % 4) part += '=';
  std::string out;
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::uint32_t acc = 0;
  int bits = 0;
  for (char ch : part) {
    if (ch == '=') break;
    acc = (acc << 6) | std::uint32_t(alphabet.find(ch));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}
std::string encode_part(const std::string& bytes) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char ch : bytes) {
    acc = (acc << 8) | ch;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += alphabet[(acc << (6 - bits)) & 63];
  return out;
}
std::vector<std::string> split(const std::string& token) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (std::size_t dot; (dot = token.find('.', start)) != std::string::npos; start = dot + 1)
    parts.push_back(token.substr(start, dot - start));
  parts.push_back(token.substr(start));
  return parts;
}

TEST(Auth, AnApiKeyIsExchangedForAnHs256TokenThatOpensEveryRoute) {
  TempDir tmp;
  ServeProcess server(tmp / "served", keys_file(tmp));
  server.start();
  int status = 0;
  const std::string token = exchange(server.port(), kToken, &status);
  EXPECT_EQ(status, 200);
  const auto parts = split(token);
  ASSERT_EQ(parts.size(), 3u) << token;
  EXPECT_EQ(json::parse(decode_part(parts[0])), json::parse(R"({"alg": "HS256", "typ": "JWT"})"));
  const json payload = json::parse(decode_part(parts[1]));
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(payload.at("exp").get<double>(), double(now + 3600), 5.0);  // the default lifetime: one hour
  EXPECT_EQ(decode_part(parts[1]).find(kToken), std::string::npos);      // the key is not in the token
  EXPECT_EQ(settings_status(server.port(), token), 200);
  EXPECT_EQ(settings_status(server.port(), kToken), 200);  // simple clients: the key itself
  EXPECT_EQ(settings_status(server.port(), exchange(server.port(), "second-api-key-0123456789")), 200);  // every line
  // the client exchanges and works as before
  auto remote = connect_rest(server.url(), rest_options());
  remote->create_feature(FeatureOptions("epoch", "int"));
  EXPECT_EQ(remote->features().size(), 1u);
}

TEST(Auth, ABadKeyIs401AndNeverAppearsInErrors) {
  TempDir tmp;
  ServeProcess server(tmp / "served", keys_file(tmp));
  server.start();
  int status = 0;
  EXPECT_EQ(exchange(server.port(), "not-the-key-0123456789", &status), "");
  EXPECT_EQ(status, 401);
  EXPECT_EQ(exchange(server.port(), "", &status), "");
  EXPECT_EQ(status, 401);
  httplib::Client c("127.0.0.1", server.port());
  for (const char* body : {"{}", R"({"api_key": 5})", "[1]", "{", R"({"api_key": "x", "more": 1})"}) {
    auto r = c.Post("/api/account/jwt", body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 422) << body;
    EXPECT_TRUE(json::parse(r->body).contains("error"));
  }
  try {
    connect_rest(server.url(), rest_options("not-the-key-0123456789"));
    FAIL() << "no error";
  } catch (const ConfigurationError& e) {
    EXPECT_EQ(std::string(e.what()).find("not-the-key"), std::string::npos) << e.what();
  }
}

TEST(Auth, TamperedOrForeignTokensAre401) {
  TempDir tmp;
  ServeProcess server(tmp / "served", keys_file(tmp));
  server.start();
  ServeProcess other(tmp / "other", keys_file(tmp));
  other.start();
  const std::string token = exchange(server.port(), kToken);
  auto parts = split(token);
  ASSERT_EQ(parts.size(), 3u);
  std::string body;
  // a later expiry with the old signature
  json payload = json::parse(decode_part(parts[1]));
  payload["exp"] = payload["exp"].get<std::int64_t>() + 86400;
  EXPECT_EQ(settings_status(server.port(), parts[0] + "." + encode_part(payload.dump()) + "." + parts[2], &body), 401);
  EXPECT_NE(body.find("signature"), std::string::npos) << body;
  // one character of the signature changed
  std::string sig = parts[2];
  sig[5] = sig[5] == 'A' ? 'B' : 'A';
  EXPECT_EQ(settings_status(server.port(), parts[0] + "." + parts[1] + "." + sig), 401);
  // no signature, "alg": "none", garbage, another server's token
  EXPECT_EQ(settings_status(server.port(), parts[0] + "." + parts[1] + "."), 401);
  EXPECT_EQ(settings_status(server.port(), encode_part(R"({"alg":"none","typ":"JWT"})") + "." + parts[1] + "."), 401);
  EXPECT_EQ(settings_status(server.port(), "a.b.c"), 401);
  EXPECT_EQ(settings_status(server.port(), exchange(other.port(), kToken)), 401);
  EXPECT_EQ(settings_status(server.port(), token), 200);
}


TEST(Auth, TheClientRefreshesAnExpiredTokenTransparently) {
  TempDir tmp;
  ServeProcess server(tmp / "served", keys_file(tmp), {"--token-lifetime", "2"});
  server.start();
  const std::string first = exchange(server.port(), kToken);
  auto a = connect_rest(server.url(), rest_options())->create_artifact(write_file(tmp / "a.ckpt", "a"), ArtifactOptions("a.ckpt"));
  CountingProxy proxy(server.port());
  auto remote = connect_rest(proxy.url(), rest_options());
  const auto f = remote->create_feature(FeatureOptions("epoch", "int"));
  EXPECT_EQ(proxy.exchanges(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(3200));
  std::string body;
  EXPECT_EQ(settings_status(server.port(), first, &body), 401);  // tokens of this server are expired by now
  EXPECT_NE(body.find("expired"), std::string::npos) << body;
  remote->add_values(a, {{f, 3}});  // refreshed on the 401, retried, no error
  EXPECT_EQ(remote->get_values(a)["epoch"], 3);
  EXPECT_EQ(proxy.exchanges(), 2);
  const auto bearers = proxy.bearers();
  ASSERT_FALSE(bearers.empty());
  for (const auto& b : bearers) {
    EXPECT_EQ(split(b).size(), 3u);  // always a token, never the key itself
    EXPECT_NE(b, kToken);
  }
}

TEST(Auth, AnUploadRejectedForAStaleTokenIsRetriedCleanly) {
  // The server restarts with a new secret: the client's token is stale. The upload is answered 401 before its body
  // is read; the server closes that connection, so the refresh and the retried upload are not read from the rest
  // of the rejected body (which would come back as a garbled request).
  TempDir tmp;
  ServeProcess server(tmp / "served", keys_file(tmp));
  server.start();
  const int port = server.port();
  auto remote = connect_rest(server.url(), rest_options());
  remote->create_feature(FeatureOptions("epoch", "int"));  // exchanged a token, connection kept alive
  server.kill(SIGKILL);
  server.start(port);
  remote->create_feature(FeatureOptions("step", "int"));  // a new connection, the stale token refreshed
  const auto a = remote->create_artifact(write_file(tmp / "big.ckpt", std::string(1 << 20, 'w')),
                                         ArtifactOptions("big.ckpt"));
  server.kill(SIGKILL);
  server.start(port);
  const auto b = remote->create_artifact(write_file(tmp / "big2.ckpt", std::string(1 << 20, 'v')),
                                         ArtifactOptions("big2.ckpt"));
  EXPECT_EQ(remote->artifacts().count(), 2);
  EXPECT_NE(a.uid, b.uid);
}

TEST(Auth, TokensSignedWithASecretFileOutliveARestart) {
  TempDir tmp;
  const fs::path secret = write_file(tmp / "secret", std::string(48, 's'));
  const fs::path keys = keys_file(tmp);
  std::string token;
  int port = 0;
  {
    ServeProcess server(tmp / "served", keys, {"--jwt-secret-file", secret.string()});
    server.start();
    port = server.port();
    token = exchange(port, kToken);
  }
  ServeProcess again(tmp / "served", keys, {"--jwt-secret-file", secret.string()});
  again.start(port);
  EXPECT_EQ(settings_status(port, token), 200);
  ServeProcess fresh(tmp / "served2", keys);  // a random secret: the old token means nothing
  fresh.start();
  EXPECT_EQ(settings_status(fresh.port(), token), 401);
  // a short secret is refused at start
  const auto [rc, out] = run_command(std::string(LAMIN_SERVE_PATH) + " --instance " + (tmp / "x").string() +
                                     " --init --port 0 --token-file " + keys.string() + " --jwt-secret-file " +
                                     write_file(tmp / "short", "short").string());
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("32 bytes"), std::string::npos) << out;
}

}  // namespace
}  // namespace lamin::test
