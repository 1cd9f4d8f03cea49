#pragma once
// A remote LaminDB instance over HTTP(S): lamin::connect("https://host/...") returns an Instance whose registry is a
// client of the REST API that `lamin-serve` serves (LaminHub's API shapes: generic upsert/query/batch-delete on
// registry tables, artifact upload, run lifecycle). Every Registry operation works unchanged; each call is one
// server-side transaction.
//
//   auto instance = lamin::connect("https://registry.example.org");        // API key from $LAMIN_API_KEY
//   auto a = instance->create_artifact("model.ckpt", lamin::ArtifactOptions("mnist/model.ckpt"));
//
// Authentication as LaminHub's: the API key is exchanged for an access token (`POST /api/account/jwt`) on first
// use; calls carry `Authorization: Bearer <token>`, and a 401/403 exchanges the key again once and retries.
// Feature values are written as LaminDB writes them: the client validates them and computes each value's JSON text
// and hash exactly as the SQLite backend does, upserts the `jsonvalue` rows on (feature_id, hash), then the link
// rows; removing values batch-deletes the link rows (the shared `jsonvalue` rows stay).
//
// Writes carry a client-generated idempotency key (kept across retries), so a retry after a lost response never
// creates a second record; upserts are idempotent by themselves. Connection errors, 408, 429 and 5xx are retried
// with exponential backoff and jitter.

#include <filesystem>
#include <string>

#include "lamin/arg.hpp"
#include "lamin/db/instance.hpp"

namespace lamin {

/// How a client reaches a remote instance: `RestOptions::from_environment().request_timeout_s(10).max_attempts(3)`.
struct RestOptions {
  /// API key, exchanged for an access token on first use (a server without the exchange gets the key itself as the
  /// bearer). Default: $LAMIN_API_KEY, else the first line of $LAMIN_API_KEY_FILE, else of
  /// `$XDG_CONFIG_HOME/lamin/api_key` (`~/.config/lamin/api_key`). Neither key nor token is ever logged.
  LAMIN_ARG(std::string, token) = "";
  /// CA bundle file for TLS verification. Default: $LAMIN_CA_BUNDLE, else the system's.
  LAMIN_ARG(std::string, ca_bundle) = "";
  /// TLS peer and host verification; on by default. Turn off only for tests against self-signed servers.
  LAMIN_ARG(bool, verify_tls) = true;
  /// Client certificate and its private key (PEM files), for servers that require one (mutual TLS; lamin-serve
  /// with --tls-client-ca). Both or neither. Default: $LAMIN_CLIENT_CERT and $LAMIN_CLIENT_KEY.
  LAMIN_ARG(std::string, client_cert) = "";
  LAMIN_ARG(std::string, client_key) = "";
  LAMIN_ARG(double, connect_timeout_s) = 5;
  /// Per attempt, for JSON calls. File transfers instead abort below 1 KiB/s for `request_timeout_s`.
  LAMIN_ARG(double, request_timeout_s) = 30;
  /// Attempts per call (1 = no retry) and the backoff: min(max, initial * 2^n), with full jitter.
  LAMIN_ARG(int, max_attempts) = 5;
  LAMIN_ARG(double, backoff_initial_s) = 0.1;
  LAMIN_ARG(double, backoff_max_s) = 5;
  /// Stop retrying once this much time has passed since the first attempt.
  LAMIN_ARG(double, retry_budget_s) = 60;

 public:
  /// The defaults with token, CA bundle and client certificate resolved from the environment / config file.
  static RestOptions from_environment();
};

/// True for `http://...` and `https://...`.
bool is_remote_url(const std::string& location);
/// Connects to a remote instance (checks the token and reads the instance's settings). lamin::connect(location)
/// dispatches here for URLs, with RestOptions::from_environment(), and makes the result the default instance.
Instance connect_rest(const std::string& url, const RestOptions& options = RestOptions::from_environment());
/// Copies an artifact's file to `to` (a file path): from storage for a local instance, downloaded for a remote one.
void download_file(const Instance& instance, const Artifact& artifact, const std::filesystem::path& to);

}  // namespace lamin
