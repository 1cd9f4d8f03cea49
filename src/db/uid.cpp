#include "lamin/db/uid.hpp"

#include <openssl/rand.h>

#include "lamin/error.hpp"

namespace lamin {

std::string base62_uid(std::size_t n) {
  std::string out;
  out.reserve(n);
  unsigned char buf[64];
  while (out.size() < n) {
    if (RAND_bytes(buf, sizeof(buf)) != 1) throw ConfigurationError("cannot draw random bytes for a uid");
    for (unsigned char b : buf) {
      if (b >= 248) continue;  // 248 = 4 * 62: reject to keep the draw uniform
      out.push_back(kBase62Alphabet[b % 62]);
      if (out.size() == n) break;
    }
  }
  return out;
}

unsigned long long base62_decode(std::string_view text) {
  unsigned long long v = 0;
  for (char c : text) {
    const auto pos = kBase62Alphabet.find(c);
    if (pos == std::string_view::npos) throw ValidationError("'" + std::string(text) + "' is not base62");
    v = v * 62 + pos;
  }
  return v;
}

std::string increment_version_suffix(std::string_view suffix, std::size_t width) {
  unsigned long long v = base62_decode(suffix) + 1;
  std::string out;
  while (v > 0) {
    out.insert(out.begin(), kBase62Alphabet[v % 62]);
    v /= 62;
  }
  if (out.size() > width) throw ValidationError("version suffix '" + std::string(suffix) + "' cannot be incremented");
  out.insert(out.begin(), width - out.size(), '0');
  return out;
}

}  // namespace lamin
