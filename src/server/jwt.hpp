#pragma once
// Access tokens for lamin-serve: LaminHub's API-key exchange (`POST /api/account/jwt` `{"api_key"}` ->
// `{"accessToken"}`) hands out HS256 JSON Web Tokens signed with a server secret; requests carry them as
// `Authorization: Bearer <jwt>`. Signatures are compared in constant time; a token past its `exp` is refused.

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace lamin::serve {

/// URL-safe base64 without padding (RFC 4648 section 5), as JWTs use it.
std::string base64url_encode(std::string_view bytes);
/// Decodes URL-safe base64 without padding; false for anything else.
bool base64url_decode(std::string_view text, std::string& out);

class TokenIssuer {
 public:
  /// `secret`: at least 32 bytes. `lifetime`: how long an issued token is valid. Throws lamin::ConfigurationError
  /// for a shorter secret or a lifetime that is not positive.
  TokenIssuer(std::string secret, std::chrono::seconds lifetime);
  /// A fresh secret from the system's CSPRNG (32 bytes). Throws lamin::Error if the CSPRNG fails.
  static std::string random_secret();

  /// A signed token for `subject`, valid from now for the lifetime.
  std::string issue(const std::string& subject) const;

  enum class Check { valid, malformed, bad_signature, expired };
  /// Checks the signature (constant time), the header (HS256 only) and `exp`.
  Check verify(std::string_view token) const;

  std::chrono::seconds lifetime() const { return lifetime_; }

 private:
  std::string sign(std::string_view signing_input) const;

  std::string secret_;
  std::chrono::seconds lifetime_;
};

}  // namespace lamin::serve
