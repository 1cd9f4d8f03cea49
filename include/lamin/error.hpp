#pragma once
// lamin::Error and its few derived kinds. Every error lamin-cpp raises is one of these.
//
// Where Lightning or LaminDB has a message for the same mistake, the message uses the same words, so that a search
// for the Python message finds the C++ one too.

#include <stdexcept>
#include <string>

namespace lamin {

/// Root of lamin-cpp's exception family.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
  /// A stable, short name of the kind ("configuration", "validation", ...), for messages and tests.
  virtual const char* kind() const noexcept { return "error"; }
};

/// Invalid settings: Lightning's `MisconfigurationException` and `ValueError`s raised for bad arguments.
class ConfigurationError : public Error {
 public:
  using Error::Error;
  const char* kind() const noexcept override { return "configuration"; }
};

/// A value that does not satisfy a schema: a bad key, a wrong dtype, an unknown feature (LaminDB's `ValidationError`).
class ValidationError : public Error {
 public:
  using Error::Error;
  const char* kind() const noexcept override { return "validation"; }
};

/// A record or file that was asked for and does not exist.
class NotFoundError : public Error {
 public:
  using Error::Error;
  const char* kind() const noexcept override { return "not_found"; }
};

/// Stored data that is inconsistent or corrupt: a torn checkpoint, a database from a newer schema, a broken invariant.
class IntegrityError : public Error {
 public:
  using Error::Error;
  const char* kind() const noexcept override { return "integrity"; }
};

/// A filesystem failure: an unwritable folder, a full disk, a failed rename.
class StorageError : public Error {
 public:
  using Error::Error;
  const char* kind() const noexcept override { return "storage"; }
};

/// A failure talking to a remote registry.
class NetworkError : public Error {
 public:
  using Error::Error;
  const char* kind() const noexcept override { return "network"; }
};

}  // namespace lamin
