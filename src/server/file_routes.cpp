// lamin-serve's artifact file routes: POST /instances/{id}/artifacts/upload (multipart/form-data: the file and its
// `kwargs`, streamed to a temporary folder under <root>/.lamindb/.uploads/ outside the registry lock) and
// GET /instances/{id}/artifacts/{uid}/file (streamed from storage).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>

#include "db/rest_json.hpp"
#include "lamin/db/uid.hpp"
#include "lamin/error.hpp"
#include "server.hpp"

namespace lamin::serve {

namespace fs = std::filesystem;
namespace rest = lamin::rest;
using nlohmann::json;

namespace {

const char kBadFileName[] = "invalid file name in the upload";

bool valid_file_name(const std::string& n) {
  if (n.empty() || n.size() > 255 || n == "." || n == ".." ||
      n.find_first_of(std::string("/\\\0", 3)) != std::string::npos)
    return false;
  return std::none_of(n.begin(), n.end(), [](unsigned char ch) { return ch < 32; });
}

// An upload's form parts, as the multipart reader streams them: `file` to a file in `dir`, `kwargs` to memory.
struct UploadParts {
  fs::path dir;
  fs::path file;
  std::ofstream out;
  std::string kwargs_text, part;
  std::string bad_message;  // set: the upload is refused with it

  bool refuse(std::string message) {
    bad_message = std::move(message);
    return false;
  }
  bool on_header(const httplib::MultipartFormData& f) {
    part = f.name;
    if (f.name == "file") {
      if (!file.empty() || !valid_file_name(f.filename)) return refuse(kBadFileName);
      file = dir / f.filename;
      out.open(file, std::ios::binary);
      return static_cast<bool>(out);
    }
    if (f.name != "kwargs") return refuse("unexpected form part '" + f.name.substr(0, 64) + "'");
    return true;
  }
  bool on_data(const char* data, size_t n) {
    if (part == "file") {
      out.write(data, static_cast<std::streamsize>(n));
      return static_cast<bool>(out);
    }
    if (kwargs_text.size() + n > 65536) return refuse("kwargs too large");
    kwargs_text.append(data, n);
    return true;
  }
};

}  // namespace

void Server::add_file_routes(const std::string& I) {
  svr_->Post(I + "/artifacts/upload",
             [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
               upload(req, res, reader);
             });
  svr_->Get(I + "/artifacts/([^/]+)/file",
            [this](const httplib::Request& req, httplib::Response& res) { download(req, res); });
}

void Server::upload(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
  // An answer given before the whole body was read must close the connection: on a kept-alive connection the
  // unread rest of the body would be parsed as the next request.
  bool consumed = false;
  struct CloseUnlessConsumed {
    httplib::Response& res;
    const bool& consumed;
    ~CloseUnlessConsumed() {
      if (!consumed) res.set_header("Connection", "close");
    }
  } close_unless_consumed{res, consumed};
  if (!authorized(req, res)) return;
  const fs::path dir = uploads_ / lamin::base62_uid(16);
  try {
    check_instance(req.matches[1]);
    const std::string key = idempotency_key(req);
    if (!req.is_multipart_form_data()) throw HttpError(400, "validation", "expected multipart/form-data");
    fs::create_directories(dir);
    UploadParts parts;
    parts.dir = dir;
    reader([&](const httplib::MultipartFormData& f) { return parts.on_header(f); },
           [&](const char* data, size_t n) { return parts.on_data(data, n); });
    parts.out.close();
    const bool bad = !parts.bad_message.empty();
    consumed = !bad && static_cast<bool>(parts.out);
    if (bad) throw HttpError(400, "validation", parts.bad_message);
    if (parts.file.empty()) throw HttpError(400, "validation", "missing form part 'file'");
    if (!parts.out) throw HttpError(500, "storage", "cannot write the upload");
    json kwargs;
    try {
      kwargs = json::parse(parts.kwargs_text.empty() ? std::string("{}") : parts.kwargs_text);
    } catch (const json::parse_error& e) {
      throw HttpError(400, "validation", std::string("invalid JSON in kwargs: ") + e.what());
    }
    run_op(res, key, [&] {
      auto options = rest::artifact_options_from_json(kwargs);
      options.storage_mode(lamin::StorageMode::link);  // the temporary upload is never modified again
      auto a = reg().create_artifact(parts.file, options);
      return json{{"body", {{"artifact", rest::to_json(a)}}}};
    });
  } catch (const std::exception& e) {
    send_exception(res, e);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

void Server::download(const httplib::Request& req, httplib::Response& res) {
  if (!authorized(req, res)) return;
  try {
    check_instance(req.matches[1]);
    const std::string uid = req.matches[2];
    static const std::regex ok("[0-9A-Za-z]{20}");
    if (!std::regex_match(uid, ok)) throw HttpError(400, "validation", "invalid artifact uid");
    fs::path path;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto a = reg().find_artifact(uid);
      if (!a || a->uid != uid) throw HttpError(404, "not_found", "no artifact with uid " + uid);
      path = fs::weakly_canonical(reg().storage_path(*a));
    }
    const std::string p = path.string(), r = (root_ / ".lamindb").string() + "/";
    if (p.compare(0, r.size(), r) != 0) throw HttpError(403, "forbidden", "path outside the storage root");
    auto in = std::make_shared<std::ifstream>(path, std::ios::binary);
    if (!*in) throw HttpError(404, "not_found", "the artifact's file is missing");
    const auto size = fs::file_size(path);
    res.status = 200;
    res.set_content_provider(size, "application/octet-stream",
                             [in](size_t offset, size_t length, httplib::DataSink& sink) {
                               char buf[1 << 16];
                               in->seekg(static_cast<std::streamoff>(offset));
                               in->read(buf, static_cast<std::streamsize>(std::min(length, sizeof buf)));
                               const auto got = in->gcount();
                               if (got <= 0) return false;
                               return sink.write(buf, static_cast<size_t>(got));
                             });
  } catch (const HttpError& e) {
    send_error(res, e.status(), e.kind(), e.what());
  } catch (const std::exception& e) {
    // Unlike the JSON routes, every other failure here, a registry error too, is answered 500.
    send_error(res, 500, "error", e.what());
  }
}

}  // namespace lamin::serve
