// Python's `os.path` on POSIX, for the paths Lightning derives from user input.
#include <pwd.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "python.hpp"

namespace lamin::detail {

namespace fs = std::filesystem;

std::string python_expanduser(const std::string& path) {
  if (path.empty() || path[0] != '~') return path;
  const auto slash = path.find('/');
  const std::string user = path.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
  std::string home;
  if (user.empty()) {
    if (const char* env = std::getenv("HOME")) {
      home = env;
    } else if (const passwd* pw = getpwuid(getuid())) {
      home = pw->pw_dir;
    } else {
      return path;
    }
  } else {
    const passwd* pw = getpwnam(user.c_str());
    if (pw == nullptr) return path;
    home = pw->pw_dir;
  }
  while (home.size() > 1 && home.back() == '/') home.pop_back();
  const std::string rest = slash == std::string::npos ? "" : path.substr(slash);
  if (home == "/" && !rest.empty()) return rest;
  return home + rest;
}

namespace {

std::string strip_trailing_separators(std::string text) {
  while (text.size() > 1 && text.back() == '/') text.pop_back();
  return text;
}

}  // namespace

std::string python_realpath(const std::string& path) {
  std::error_code ec;
  fs::path resolved = fs::weakly_canonical(fs::absolute(path, ec), ec);
  if (ec) resolved = fs::absolute(path).lexically_normal();
  return strip_trailing_separators(resolved.string());
}

std::string python_abspath(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  if (ec) p = fs::path(path);
  std::string text = p.lexically_normal().string();
  return strip_trailing_separators(text);
}

std::string python_expandvars(const std::string& path) {
  // os.path.expandvars: `$name` / `${name}` with name in [A-Za-z0-9_]; unknown variables are left as they are.
  std::string out;
  std::size_t i = 0;
  auto is_name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  while (i < path.size()) {
    if (path[i] != '$') {
      out.push_back(path[i++]);
      continue;
    }
    if (i + 1 < path.size() && path[i + 1] == '{') {
      const std::size_t close = path.find('}', i + 2);
      if (close != std::string::npos) {
        const std::string name = path.substr(i + 2, close - i - 2);
        bool valid = !name.empty();
        for (char c : name) valid = valid && is_name_char(c);
        if (const char* value = valid ? std::getenv(name.c_str()) : nullptr) {
          out += value;
          i = close + 1;
          continue;
        }
      }
      out.push_back(path[i++]);
      continue;
    }
    std::size_t j = i + 1;
    while (j < path.size() && is_name_char(path[j])) ++j;
    const std::string name = path.substr(i + 1, j - i - 1);
    if (const char* value = name.empty() ? nullptr : std::getenv(name.c_str())) {
      out += value;
      i = j;
    } else {
      out.push_back(path[i++]);
    }
  }
  return out;
}

std::string python_normpath(const std::string& path) {
  if (path.empty()) return ".";
  return strip_trailing_separators(fs::path(path).lexically_normal().string());
}

std::string python_path_join(const std::string& a, const std::string& b) {
  if (!b.empty() && b.front() == '/') return b;
  if (a.empty() || a.back() == '/') return a + b;
  return a + "/" + b;
}

std::string python_basename(const std::string& path) {
  const auto pos = path.rfind('/');
  return pos == std::string::npos ? path : path.substr(pos + 1);
}

}  // namespace lamin::detail
