#pragma once
// HttpClient: JSON calls, streamed multipart uploads and downloads over one reused libcurl handle, with bearer
// auth (the API key exchanged for an access token on first use, exchanged again once on a 401/403), TLS
// verification, timeouts and retries (exponential backoff with full jitter) on connection errors, 408, 429 and
// 5xx. Private to lamin-cpp.

#include <filesystem>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "lamin/db/rest.hpp"

namespace lamin::rest {

class HttpClient {
 public:
  HttpClient(std::string base_url, RestOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// `method` path (relative to the base URL) with an optional JSON body. A non-empty `idempotency_key` is sent as
  /// `Idempotency-Key`. Returns the parsed JSON answer of a 2xx. Throws the lamin::Error the server's JSON error
  /// names for other 4xx, lamin::NetworkError when retries are exhausted or the answer is not JSON.
  nlohmann::json call(const std::string& method, const std::string& path, const nlohmann::json* body,
                      const std::string& idempotency_key = "");
  /// Multipart POST: part `kwargs` (JSON text) and part `file` streamed from disk (never read whole).
  nlohmann::json upload(const std::string& path, const std::filesystem::path& file, const std::string& filename,
                        const nlohmann::json& kwargs, const std::string& idempotency_key);
  /// GET streamed into `to` (through a temporary file, renamed into place).
  void download(const std::string& path, const std::filesystem::path& to);

  const std::string& base_url() const { return base_url_; }
  const RestOptions& options() const { return options_; }

 private:
  template <typename Setup>
  std::string perform(const std::string& method, const std::string& path, Setup&& setup, bool transfer);
  template <typename Setup>
  std::string perform_locked(const std::string& method, const std::string& path, Setup&& setup, bool transfer,
                             bool auth);
  /// The bearer to send: the access token (exchanged for the API key on first use), or the API key itself where
  /// the server has no exchange. REQUIRES: mutex_ held.
  std::string bearer_locked();

  std::string base_url_;
  RestOptions options_;
  void* curl_ = nullptr;  // CURL*
  std::mutex mutex_;
  std::string access_token_;  // never logged
  bool raw_key_ = false;
};

}  // namespace lamin::rest
