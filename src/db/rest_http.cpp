#include "rest_http.hpp"

#include <curl/curl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <thread>

#include "lamin/db/uid.hpp"
#include "lamin/error.hpp"
#include "rest_json.hpp"

namespace lamin {

namespace {
std::string first_line_of(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string line;
  if (in) std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
  return line;
}
}  // namespace

RestOptions RestOptions::from_environment() {
  RestOptions o;
  if (const char* v = std::getenv("LAMIN_API_KEY"); v && *v) {
    o.token(v);
  } else if (const char* f = std::getenv("LAMIN_API_KEY_FILE"); f && *f) {
    o.token(first_line_of(f));
  } else {
    std::filesystem::path dir;
    if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x) dir = x;
    else if (const char* h = std::getenv("HOME"); h && *h) dir = std::filesystem::path(h) / ".config";
    if (!dir.empty()) {
      std::error_code ec;
      if (std::filesystem::exists(dir / "lamin" / "api_key", ec)) o.token(first_line_of(dir / "lamin" / "api_key"));
    }
  }
  if (const char* v = std::getenv("LAMIN_CA_BUNDLE"); v && *v) o.ca_bundle(v);
  if (const char* v = std::getenv("LAMIN_CLIENT_CERT"); v && *v) o.client_cert(v);
  if (const char* v = std::getenv("LAMIN_CLIENT_KEY"); v && *v) o.client_key(v);
  return o;
}

bool is_remote_url(const std::string& location) {
  return location.rfind("http://", 0) == 0 || location.rfind("https://", 0) == 0;
}

namespace rest {
namespace {

std::once_flag g_curl_init;

struct Sink {
  std::string* text = nullptr;
  std::FILE* file = nullptr;
};

size_t write_cb(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t len = size * n;
  if (sink->file) return std::fwrite(data, 1, len, sink->file);
  if (sink->text->size() + len > (64u << 20)) return 0;  // a JSON answer over 64 MiB is not one of ours
  sink->text->append(data, len);
  return len;
}

bool retryable(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT: case CURLE_COULDNT_RESOLVE_HOST: case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR: case CURLE_RECV_ERROR: case CURLE_GOT_NOTHING: case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR: case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

/// Printable, short excerpt of an answer for error messages.
std::string excerpt(const std::string& body) {
  std::string out;
  for (char ch : body.substr(0, 160)) out += (ch >= 32 && ch < 127) ? ch : '?';
  if (body.size() > 160) out += "...";
  return out;
}

/// What one attempt brought back.
struct Answer {
  CURLcode rc = CURLE_OK;
  long status = 0;
  curl_off_t retry_after = -1;  ///< the server's Retry-After in seconds; -1: none
  std::string detail;           ///< libcurl's error buffer
  std::string text;             ///< the body; of a download, the start of an error body
};

/// A failed attempt: whether it is worth another, and why it failed.
struct Failure {
  bool retry = false;
  std::string message;
  curl_off_t retry_after = -1;
};

/// Resets the handle (its connection cache stays: the next request reuses the open connection) and sets what every
/// request has: URL, method, no redirects, timeouts, TLS and where the answer goes.
void set_up_handle(CURL* c, const std::string& url, const std::string& method, const RestOptions& o, bool transfer,
                   Sink& sink) {
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout_s() * 1000));
  if (transfer) {
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, std::max(1L, static_cast<long>(o.request_timeout_s())));
  } else {
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(o.request_timeout_s() * 1000));
  }
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, o.verify_tls() ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, o.verify_tls() ? 2L : 0L);
  if (!o.ca_bundle().empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o.ca_bundle().c_str());
  if (!o.client_cert().empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, o.client_cert().c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEY, o.client_key().c_str());
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
}

/// The headers every request sends: JSON answers wanted, and the bearer unless it is empty.
curl_slist* base_headers(const std::string& bearer) {
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  if (!bearer.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + bearer).c_str());
  return headers;
}

/// Performs the request set up on `c` into `answer`; frees `headers` and `mime`, and closes a download's file
/// (reading the start of an error body back into answer.text).
void perform_once(CURL* c, curl_slist* headers, curl_mime* mime, Sink& sink, Answer& answer) {
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  char detail[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, detail);
  answer.rc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  answer.detail = detail;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &answer.status);
  curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &answer.retry_after);
  curl_slist_free_all(headers);
  if (mime) curl_mime_free(mime);
  if (sink.file) {
    std::fflush(sink.file);
    if (answer.status >= 400) {  // the error body went to the file: read its start back
      std::rewind(sink.file);
      char buf[4096];
      answer.text.assign(buf, std::fread(buf, 1, sizeof buf, sink.file));
    }
    std::fclose(sink.file);
  }
}

/// A request that never got an answer: libcurl's reason, with a hint for TLS trust and client certificates.
Failure transfer_failure(const Answer& answer, const RestOptions& o) {
  Failure f{retryable(answer.rc), answer.detail.empty() ? curl_easy_strerror(answer.rc) : answer.detail,
            answer.retry_after};
  if (answer.rc == CURLE_PEER_FAILED_VERIFICATION) {
    f.message += " (the server's TLS certificate is not trusted here: set LAMIN_CA_BUNDLE, or "
                 "RestOptions::ca_bundle, to the PEM file of the CA that signed it)";
  } else if (answer.rc == CURLE_SSL_CACERT_BADFILE) {
    f.message += " (the CA bundle '" + o.ca_bundle() + "' cannot be read)";
  } else if (answer.rc == CURLE_SSL_CERTPROBLEM) {
    f.message += " (the client certificate '" + o.client_cert() + "' or its key cannot be used)";
  }
  return f;
}

/// A 408, 429 or 5xx: "HTTP 503: <the server's message, else the start of its answer>", retried.
Failure status_failure(const Answer& answer) {
  Failure f{true, "HTTP " + std::to_string(answer.status), answer.retry_after};
  try {
    auto j = nlohmann::json::parse(answer.text);
    f.message += ": " + j.at("error").at("message").get<std::string>();
  } catch (...) {
    if (!answer.text.empty()) f.message += ": " + excerpt(answer.text);
  }
  return f;
}

/// Throws the lamin::Error that a rejecting answer (a 4xx not retried) names: the kind of lamin-serve's JSON error,
/// else one that follows the status.
[[noreturn]] void throw_rejection(const std::string& method, const std::string& path, const Answer& answer,
                                  const RestOptions& o) {
  const long status = answer.status;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(answer.text);
  } catch (...) {
    // Not lamin-serve's answer (a proxy's page, a wrong URL): the kind follows the status, as below.
    const std::string message =
        "lamin: " + method + " " + path + ": HTTP " + std::to_string(status) + ": " + excerpt(answer.text);
    if (status == 401 || status == 403) throw ConfigurationError(message);
    if (status == 404) throw NotFoundError(message);
    throw ValidationError(message);
  }
  std::string kind = "error", message = "HTTP " + std::to_string(status);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    kind = j["error"].value("kind", kind);
    message = j["error"].value("message", message);
  }
  if (kind == "client_certificate") {
    message += o.client_cert().empty()
                   ? " (set LAMIN_CLIENT_CERT and LAMIN_CLIENT_KEY, or RestOptions::client_cert and client_key, "
                     "to a certificate that the server's client CA signed, and its key)"
                   : " (the client certificate is '" + o.client_cert() + "')";
  }
  if (status == 401 || status == 403) kind = "configuration";
  if (status == 413) kind = "validation";
  throw_kind(kind, message);
}

/// After attempt `attempt` of `call` ("GET https://host/path") failed: sleeps for the backoff (exponential with
/// full jitter, or the server's Retry-After), or throws lamin::NetworkError when the failure is not retryable or
/// the attempts or the retry budget are spent.
void wait_for_retry(const RestOptions& o, const std::string& call, const Failure& failure, int attempt,
                    std::chrono::steady_clock::time_point start) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!failure.retry || attempt >= std::max(1, o.max_attempts())) {
    throw NetworkError("lamin: " + call + " failed" +
                       (failure.retry ? " after " + std::to_string(attempt) + " attempts" : std::string()) + ": " +
                       failure.message);
  }
  double delay = std::min(o.backoff_max_s(), o.backoff_initial_s() * double(1u << std::min(attempt - 1, 20)));
  delay = std::uniform_real_distribution<double>(0, delay)(rng);  // full jitter
  if (failure.retry_after > 0) delay = std::min(o.backoff_max_s(), double(failure.retry_after));
  if (elapsed + delay > o.retry_budget_s()) {
    throw NetworkError("lamin: " + call + " failed after " + std::to_string(attempt) + " attempts (retry budget of " +
                       std::to_string(int(o.retry_budget_s())) + " s spent): " + failure.message);
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(delay));
}

}  // namespace

HttpClient::HttpClient(std::string base_url, RestOptions options)
    : base_url_(std::move(base_url)), options_(std::move(options)) {
  while (!base_url_.empty() && base_url_.back() == '/') base_url_.pop_back();
  if (options_.client_cert().empty() != options_.client_key().empty()) {
    throw ConfigurationError("lamin: a client certificate and its key go together: set both LAMIN_CLIENT_CERT and "
                             "LAMIN_CLIENT_KEY (RestOptions::client_cert and client_key), or neither");
  }
  for (const std::string* f : {&options_.client_cert(), &options_.client_key()}) {
    std::error_code ec;
    if (!f->empty() && !std::filesystem::is_regular_file(*f, ec)) {
      const std::string what = f == &options_.client_cert() ? "certificate" : "key";
      throw ConfigurationError("lamin: cannot read the TLS client " + what + " '" + *f + "'");
    }
  }
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
  if (!curl_) throw NetworkError("lamin: libcurl: could not create a handle");
}

HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

template <typename Setup>
std::string HttpClient::perform(const std::string& method, const std::string& path, Setup&& setup, bool transfer) {
  std::lock_guard<std::mutex> lock(mutex_);
  return perform_locked(method, path, setup, transfer, true);
}

std::string HttpClient::bearer_locked() {
  if (options_.token().empty() || raw_key_) return options_.token();
  if (access_token_.empty()) {
    // LaminHub's exchange: the API key for an access token, sent on every later call
    const std::string payload = nlohmann::json{{"api_key", options_.token()}}.dump();
    std::string text;
    try {
      text = perform_locked(
          "POST", "/api/account/jwt",
          [&](CURL* c, curl_slist*& headers, Sink&, curl_mime*&) {
            headers = curl_slist_append(headers, "Content-Type: application/json");
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload.c_str());
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
          },
          false, false);
    } catch (const NotFoundError&) {
      raw_key_ = true;  // a server without the exchange takes the API key itself
      return options_.token();
    }
    const auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded())
      throw NetworkError("lamin: " + base_url_ + "/api/account/jwt: the server's answer is not JSON: " + excerpt(text));
    if (!j.is_object() || !j.contains("accessToken") || !j["accessToken"].is_string() ||
        j["accessToken"].get_ref<const std::string&>().empty())
      throw NetworkError("lamin: " + base_url_ + "/api/account/jwt did not answer with an access token");
    access_token_ = j["accessToken"].get<std::string>();
  }
  return access_token_;
}

template <typename Setup>
std::string HttpClient::perform_locked(const std::string& method, const std::string& path, Setup&& setup,
                                       bool transfer, bool auth) {
  CURL* c = static_cast<CURL*>(curl_);
  bool refreshed = false;
  const auto start = std::chrono::steady_clock::now();
  const std::string url = base_url_ + path;
  for (int attempt = 1;; ++attempt) {
    const std::string bearer = auth ? bearer_locked() : std::string();  // may itself use the handle
    Answer answer;
    Sink sink{&answer.text, nullptr};
    set_up_handle(c, url, method, options_, transfer, sink);
    curl_slist* headers = base_headers(bearer);
    curl_mime* mime = nullptr;
    setup(c, headers, sink, mime);
    perform_once(c, headers, mime, sink, answer);

    Failure failure;
    if (answer.rc != CURLE_OK) {
      failure = transfer_failure(answer, options_);
    } else if (answer.status == 408 || answer.status == 429 || answer.status >= 500) {
      failure = status_failure(answer);
    } else if ((answer.status == 401 || answer.status == 403) && auth && !access_token_.empty() && !refreshed) {
      refreshed = true;  // the access token expired or was revoked: exchange the API key again, once
      access_token_.clear();
      --attempt;
      continue;
    } else if (answer.status >= 400) {
      throw_rejection(method, path, answer, options_);
    } else {
      return std::move(answer.text);
    }
    wait_for_retry(options_, method + " " + url, failure, attempt, start);
  }
}

nlohmann::json HttpClient::call(const std::string& method, const std::string& path, const nlohmann::json* body,
                                const std::string& idempotency_key) {
  const std::string payload = body ? body->dump() : std::string();
  const std::string text = perform(
      method, path,
      [&](CURL* c, curl_slist*& headers, Sink&, curl_mime*&) {
        if (body) {
          headers = curl_slist_append(headers, "Content-Type: application/json");
          curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload.c_str());
          curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
        } else if (method != "GET") {
          curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
          curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(0));
        }
        if (!idempotency_key.empty()) headers = curl_slist_append(headers, ("Idempotency-Key: " + idempotency_key).c_str());
      },
      false);
  try {
    return nlohmann::json::parse(text);
  } catch (const std::exception&) {
    throw NetworkError("lamin: " + method + " " + base_url_ + path + ": the server's answer is not JSON: " + excerpt(text));
  }
}

nlohmann::json HttpClient::upload(const std::string& path, const std::filesystem::path& file,
                                  const std::string& filename, const nlohmann::json& kwargs,
                                  const std::string& idempotency_key) {
  const std::string kw = kwargs.dump();
  const std::string text = perform(
      "POST", path,
      [&](CURL* c, curl_slist*& headers, Sink&, curl_mime*& mime) {
        mime = curl_mime_init(c);
        curl_mimepart* part = curl_mime_addpart(mime);
        curl_mime_name(part, "kwargs");
        curl_mime_data(part, kw.c_str(), kw.size());
        curl_mime_type(part, "application/json");
        part = curl_mime_addpart(mime);
        curl_mime_name(part, "file");
        if (curl_mime_filedata(part, file.c_str()) != CURLE_OK) throw NotFoundError("lamin: No such file: '" + file.string() + "'");
        curl_mime_filename(part, filename.c_str());
        curl_mime_type(part, "application/octet-stream");
        curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
        headers = curl_slist_append(headers, "Expect:");
        if (!idempotency_key.empty()) headers = curl_slist_append(headers, ("Idempotency-Key: " + idempotency_key).c_str());
      },
      true);
  try {
    return nlohmann::json::parse(text);
  } catch (const std::exception&) {
    throw NetworkError("lamin: upload to " + base_url_ + path + ": the server's answer is not JSON: " + excerpt(text));
  }
}

void HttpClient::download(const std::string& path, const std::filesystem::path& to) {
  const auto tmp = to.parent_path() / (".lamin-download-" + base62_uid(12) + ".tmp");
  try {
    perform(
        "GET", path,
        [&](CURL*, curl_slist*&, Sink& sink, curl_mime*&) {
          sink.file = std::fopen(tmp.c_str(), "w+b");
          if (!sink.file) throw StorageError("lamin: cannot write '" + tmp.string() + "'");
        },
        true);
    std::filesystem::rename(tmp, to);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

}  // namespace rest
}  // namespace lamin
