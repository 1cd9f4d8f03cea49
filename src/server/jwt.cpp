#include "jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <nlohmann/json.hpp>

#include "lamin/error.hpp"

namespace lamin::serve {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int value_of(char ch) {
  if (ch >= 'A' && ch <= 'Z') return ch - 'A';
  if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9') return ch - '0' + 52;
  if (ch == '-') return 62;
  if (ch == '_') return 63;
  return -1;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// The only header this server writes and accepts.
const std::string kHeader = R"({"alg":"HS256","typ":"JWT"})";

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t(static_cast<unsigned char>(bytes[i])) << 16) |
                            (std::uint32_t(static_cast<unsigned char>(bytes[i + 1])) << 8) |
                            std::uint32_t(static_cast<unsigned char>(bytes[i + 2]));
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = std::uint32_t(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) v |= std::uint32_t(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    if (rest == 2) out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

bool base64url_decode(std::string_view text, std::string& out) {
  out.clear();
  if (text.size() % 4 == 1) return false;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char ch : text) {
    const int v = value_of(ch);
    if (v < 0) return false;
    acc = (acc << 6) | std::uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return (acc & ((1u << bits) - 1)) == 0;  // no stray bits: one text per byte string
}

TokenIssuer::TokenIssuer(std::string secret, std::chrono::seconds lifetime)
    : secret_(std::move(secret)), lifetime_(lifetime) {
  if (secret_.size() < 32) throw ConfigurationError("the token secret must have at least 32 bytes");
  if (lifetime_.count() <= 0) throw ConfigurationError("the token lifetime must be positive");
}

std::string TokenIssuer::random_secret() {
  std::string s(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(s.size())) != 1)
    throw Error("cannot draw a random token secret");
  return s;
}

std::string TokenIssuer::sign(std::string_view signing_input) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
            reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac, &len))
    throw Error("HMAC-SHA256 failed");
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(mac), len));
}

std::string TokenIssuer::issue(const std::string& subject) const {
  const std::int64_t now = unix_now();
  const nlohmann::json payload = {
      {"iss", "lamin-serve"}, {"sub", subject}, {"iat", now}, {"exp", now + lifetime_.count()}};
  const std::string input = base64url_encode(kHeader) + "." + base64url_encode(payload.dump());
  return input + "." + sign(input);
}

TokenIssuer::Check TokenIssuer::verify(std::string_view token) const {
  if (token.size() > 4096) return Check::malformed;
  const auto first = token.find('.');
  const auto last = token.rfind('.');
  if (first == std::string_view::npos || first == last) return Check::malformed;
  const std::string_view input = token.substr(0, last), signature = token.substr(last + 1);
  const std::string expected = sign(input);
  if (signature.size() != expected.size() || CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) != 0)
    return Check::bad_signature;
  std::string header, payload_text;
  if (!base64url_decode(token.substr(0, first), header) || header != kHeader) return Check::malformed;
  if (!base64url_decode(input.substr(first + 1), payload_text)) return Check::malformed;
  const auto payload = nlohmann::json::parse(payload_text, nullptr, false);
  if (!payload.is_object() || !payload.contains("exp") || !payload["exp"].is_number_integer()) return Check::malformed;
  if (payload["exp"].get<std::int64_t>() <= unix_now()) return Check::expired;
  return Check::valid;
}

}  // namespace lamin::serve
