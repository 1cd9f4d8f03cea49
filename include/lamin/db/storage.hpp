#pragma once
// Storage locations, users, and the instance an artifact lives in.

#include <cstdint>
#include <filesystem>
#include <string>

namespace lamin {

/// A row of `lamindb_storage`: a root under which artifact files live (`<root>/.lamindb/<uid><suffix>`).
struct Storage {
  std::int64_t id = 0;
  std::string uid;   ///< 12 characters.
  std::string root;  ///< Absolute path without trailing slash (local), or `s3://bucket[/prefix]`.
  std::string type;  ///< "local", "s3", "gs", ...
  std::string instance_uid;
};

/// A row of `lamindb_user`.
struct User {
  std::int64_t id = 0;
  std::string uid;     ///< 8 characters; "00000000" for the anonymous user.
  std::string handle;  ///< "anonymous" by default.
};

/// Where an instance lives and who writes to it.
struct InstanceInfo {
  std::filesystem::path root;     ///< The instance folder (the storage root).
  std::filesystem::path db_path;  ///< `<root>/.lamindb/lamin.db`.
  Storage storage;                ///< The default storage (the instance's own root).
  User user;                      ///< The user records are created by.
};

}  // namespace lamin
