// The outbox's uploader: picks the oldest pending operation, stages an upload's bytes, sends it (outbox_apply.cpp)
// and records the server's answer in its own local transaction, never inside a caller's.
#include <algorithm>

#include "lamin/error.hpp"
#include "lamin/log.hpp"
#include "outbox_registry.hpp"

namespace lamin::detail {
namespace fs = std::filesystem;
using nlohmann::json;

// --- staged bytes ----------------------------------------------------------------------------------------------
fs::path OutboxRegistry::stage_upload(const Op& op) {
  const fs::path stored = op.payload.at("file").get<std::string>();
  const fs::path staged = staged_dir(op.seq) / stored.filename();
  std::error_code ec;
  if (fs::is_regular_file(staged, ec)) return staged;
  fs::create_directories(staged.parent_path(), ec);
  fs::create_hard_link(stored, staged, ec);
  if (!ec) return staged;
  if (fs::exists(stored)) log::debug("lamin: the outbox uploads " + stored.string() + " unstaged: " + ec.message());
  return stored;
}

void OutboxRegistry::unstage(std::int64_t seq) {
  std::error_code ec;
  if (!fs::exists(staged_dir(seq), ec)) return;
  auto s = local_->database().prepare("SELECT 1 FROM lamin_outbox_op WHERE seq = ? AND state = 'pending'");
  s.bind(1, seq);
  if (!s.step()) fs::remove_all(staged_dir(seq), ec);
}

void OutboxRegistry::sweep_staged() {
  std::error_code ec;
  std::vector<std::int64_t> seqs;
  for (fs::directory_iterator it(staging_dir_, ec), end; !ec && it != end; it.increment(ec)) {
    try {
      seqs.push_back(std::stoll(it->path().filename().string()));
    } catch (const std::exception&) {
    }
  }
  for (const auto seq : seqs) unstage(seq);
}

// --- draining --------------------------------------------------------------------------------------------------
void OutboxRegistry::drain_until(Clock::time_point deadline) {
  double wait = options_.retry_min_s();
  while (Clock::now() < deadline) {
    const auto r = guarded_round(deadline);
    if (r == Round::empty) return;
    if (r == Round::transient) {
      std::this_thread::sleep_for(std::chrono::duration<double>(
          std::min(wait, std::chrono::duration<double>(deadline - Clock::now()).count())));
      wait = std::min(options_.retry_max_s(), wait * 2);
    } else {
      wait = options_.retry_min_s();
    }
  }
}

void OutboxRegistry::upload_loop() {
  double wait = options_.retry_min_s();
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (stop_) return;
    }
    const auto r = guarded_round(Clock::time_point::max());
    std::unique_lock<std::mutex> lock(mutex_);
    if (stop_) return;
    if (r == Round::empty) {
      drained_cv_.notify_all();
      wait = options_.retry_min_s();
      cv_.wait_for(lock, std::chrono::seconds(5));
    } else if (r == Round::transient) {
      wake_ = false;
      cv_.wait_for(lock, std::chrono::duration<double>(wait), [&] { return stop_ || wake_; });
      wake_ = false;
      wait = std::min(options_.retry_max_s(), wait * 2);
    } else {
      wait = options_.retry_min_s();
    }
  }
}

OutboxRegistry::Round OutboxRegistry::guarded_round(Clock::time_point deadline) noexcept {
  std::string what = "unknown error";
  try {
    return upload_some(deadline);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  try {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      last_error_ = what;
    }
    log::warn("lamin: the outbox uploader failed (" + what + "); it retries, and training goes on");
  } catch (...) {
  }
  return Round::transient;
}

bool OutboxRegistry::wait_until_idle(std::unique_lock<std::mutex>& lock, Clock::time_point deadline) {
  auto idle = [&] { return stop_ || !local_->in_transaction(); };
  if (deadline == Clock::time_point::max()) idle_cv_.wait(lock, idle);
  else idle_cv_.wait_until(lock, deadline, idle);
  return !stop_ && !local_->in_transaction();
}

// --- one operation at a time -----------------------------------------------------------------------------------
OutboxRegistry::Round OutboxRegistry::upload_some(Clock::time_point deadline) {
  bool progress = false;
  while (Clock::now() < deadline) {
    Op op;
    fs::path file;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (stop_) return Round::progress;
      if (!wait_until_idle(lock, deadline)) return progress ? Round::progress : Round::transient;
      auto s = local_->database().prepare(
          "SELECT seq, op, payload, key FROM lamin_outbox_op WHERE state = 'pending' ORDER BY seq LIMIT 1");
      if (!s.step()) return progress ? Round::progress : Round::empty;
      op.seq = s.int64(0);
      op.op = s.text(1);
      op.payload = json::parse(s.text(2));
      op.key = s.text(3);
      picked_seq_ = op.seq;
      if (op.op == "artifact") file = stage_upload(op);
    }
    std::string failure;
    IdMaps maps;
    try {
      if (!remote_) remote_ = std::make_unique<rest::RestRegistry>(url_, options_.rest());
      maps = apply(op, file);
    } catch (const NetworkError& e) {
      return transient(op, e.what(), deadline);
    } catch (const ConfigurationError& e) {  // 401/403: a token problem, retried after a fix
      remote_.reset();
      return transient(op, e.what(), deadline);
    } catch (const Error& e) {
      failure = e.what();
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!record(op, maps, failure, deadline)) return Round::progress;  // sent again later with the same key
    progress = true;
  }
  return Round::progress;
}

bool OutboxRegistry::record(const Op& op, const IdMaps& maps, const std::string& failure,
                            Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!wait_until_idle(lock, deadline)) return false;
  auto& db = local_->database();
  // Recording an answer need not wait for the disk (the caller's writes do): if a crash loses the record, the
  // operation is sent again with its idempotency key and the server answers as the first time.
  db.set_pragma("synchronous", "NORMAL");
  struct RestoreSync {
    sqlite::Database& db;
    ~RestoreSync() {
      try {
        db.set_pragma("synchronous", "FULL");
      } catch (...) {
      }
    }
  } restore{db};
  Transaction tx(*local_);
  auto st = db.prepare(
      "SELECT state, coalesce(json_extract(payload, '$.retract'), 0) FROM lamin_outbox_op WHERE seq = ?");
  st.bind(1, op.seq);
  const bool row = st.step();
  const std::string state = row ? st.text(0) : "";
  const bool retracted = row && st.int64(1) != 0;  // deleted locally; sent again only to learn what to delete
  if (state == "pending") {
    if (failure.empty() && retracted && !maps.empty()) {
      enqueue("delete_remote_artifact", {{"uid", std::get<3>(maps.front())}});
    } else if (failure.empty()) {
      for (const auto& [kind, local_id, remote_id, remote_uid] : maps) map_id(kind, local_id, remote_id, remote_uid);
    }
    auto u = db.prepare("UPDATE lamin_outbox_op SET state = ?, error = ?, attempts = attempts + 1 WHERE seq = ?");
    u.bind(1, !failure.empty() ? "failed" : retracted ? "superseded" : "done");
    if (failure.empty()) u.bind(2, nullptr);
    else u.bind(2, failure);
    u.bind(3, op.seq);
    u.run();
  }
  tx.commit();
  unstage(op.seq);
  if (state == "pending" && !failure.empty())
    log::warn("lamin: the server rejected queued " + op.op + " #" + std::to_string(op.seq) + ": " + failure);
  last_error_.clear();
  return true;
}

OutboxRegistry::Round OutboxRegistry::transient(const Op& op, const std::string& message,
                                                Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mutex_);
  last_error_ = message;
  if (!wait_until_idle(lock, deadline)) return Round::transient;
  auto u = local_->database().prepare("UPDATE lamin_outbox_op SET attempts = attempts + 1, error = ? WHERE seq = ?");
  u.bind(1, message).bind(2, op.seq);
  u.run();
  unstage(op.seq);
  return Round::transient;
}

}  // namespace lamin::detail
