#pragma once
// lamin::serve::HttpError: a lamin::Error that carries the HTTP status and error kind lamin-serve answers it with.

#include <string>

#include "lamin/error.hpp"

namespace lamin::serve {

/// An error answered with `status()` and `{"error": {"kind", "message"}}`.
class HttpError : public Error {
 public:
  HttpError(int status, std::string kind, const std::string& message)
      : Error(message), status_(status), kind_(std::move(kind)) {}
  int status() const noexcept { return status_; }
  const char* kind() const noexcept override { return kind_.c_str(); }

 private:
  int status_;
  std::string kind_;
};

}  // namespace lamin::serve
