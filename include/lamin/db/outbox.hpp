#pragma once
// Registration that never waits on the network: a remote instance behind a durable local outbox.
//
//   auto instance = lamin::connect_buffered("https://registry.example.org", "runs/42/lamin-outbox");
//   auto a = instance->create_artifact("epoch=3.ckpt", lamin::ArtifactOptions("mnist/epoch=3.ckpt"));  // local
//   instance->add_values(a, {{"val_loss", 0.031}});                                                  // local
//   auto status = lamin::flush(instance, 30);   // bounded wait at the end of training
//
// The outbox folder is a lamin-cpp SQLite instance (the local state) with a queue table in the same database.
// Every write is applied to the local state and queued in ONE local transaction, so a call returns as soon as the
// file is stored locally (hard link or copy, as ArtifactOptions says) and its records are queued; nothing is sent
// on the caller's thread. A background thread uploads the queue in order to the server, each operation with the
// idempotency key it was queued with, so a retry or a replay after a crash (of this process or the server) is
// applied exactly once. Connection errors, timeouts, 401/403, 408, 429 and 5xx keep an operation pending (retried
// with backoff); other 4xx mark it failed (kept, shown by `lamin status`, with the server's message).
//
// An upload keeps its bytes until the server acknowledges it: as it starts, the stored file is hard-linked under
// .lamindb/outbox-uploads/, so deleting the artifact locally (an evicted checkpoint) cannot take them away. An
// artifact deleted before its upload started never reaches the server: its upload and every queued operation on
// it are marked superseded, in the deleting transaction. The uploader never writes inside a caller's transaction
// (it waits for it to end), and no error of its own ends the process: it is reported and retried.
//
// Consistency model: reads through this instance (queries, get_values, describe, find_*) answer from the local
// state: everything written through this outbox, uploaded or not, with local ids and uids (the server assigns its
// own ids and artifact uids; the outbox keeps the mapping). Runs keep their uid on the server, so checkpoint keys
// derived from the run uid name the same run there. Records other clients put on the server are not visible here;
// read them with lamin::connect(url). A feature named in add_values that the local state lacks is fetched from the
// server (when reachable) first.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "lamin/arg.hpp"
#include "lamin/db/instance.hpp"
#include "lamin/db/rest.hpp"

namespace lamin {

/// How a buffered instance uploads: `OutboxOptions().rest(RestOptions::from_environment().max_attempts(2))`.
struct OutboxOptions {
  /// How the uploader reaches the server.
  LAMIN_ARG(RestOptions, rest) = RestOptions::from_environment();
  /// Wait between upload rounds after a transient failure: doubles from min to max.
  LAMIN_ARG(double, retry_min_s) = 0.2;
  LAMIN_ARG(double, retry_max_s) = 10;
  /// Start the background uploader (off for `lamin status`).
  LAMIN_ARG(bool, background) = true;
};

struct OutboxStatus {
  std::string remote_url;
  std::filesystem::path dir;
  std::int64_t pending = 0;  ///< queued, not yet acknowledged by the server
  std::int64_t failed = 0;   ///< rejected by the server (4xx other than auth/rate limits), kept in the queue
  std::int64_t done = 0;
  /// never sent: the artifact they upload or annotate was deleted locally first (an evicted checkpoint)
  std::int64_t superseded = 0;
  std::string last_error;    ///< the last transient error (server down, ...), empty after a success
  std::vector<std::string> failures;  ///< "op #seq: message" for the first failed operations
  bool drained() const { return pending == 0; }
};
/// A one-paragraph description ("3 pending, 0 failed; last error: ...").
std::string to_string(const OutboxStatus& status);

/// Opens (or creates) the outbox folder `dir` for the remote instance `url`: an Instance that writes locally and
/// uploads in the background. An outbox belongs to one remote URL (a different URL throws ConfigurationError).
Instance connect_buffered(const std::string& url, const std::filesystem::path& dir,
                          const OutboxOptions& options = {});
/// Waits up to `timeout_s` seconds for the uploader to drain the queue of a buffered instance. Returns the status
/// and, when something is still pending, logs a warning saying how to drain it later (`lamin sync`). For any
/// other instance: returns an empty status at once.
OutboxStatus flush(const Instance& instance, double timeout_s);
/// `lamin sync`: drains the outbox at `dir` in this thread (for at most `timeout_s`), e.g. after the training
/// process died. Safe while another process drains the same outbox.
OutboxStatus sync_outbox(const std::filesystem::path& dir, double timeout_s, const OutboxOptions& options = {});
/// `lamin status`: what is pending in the outbox at `dir`. No network.
OutboxStatus outbox_status(const std::filesystem::path& dir);

}  // namespace lamin
