#pragma once
// lamin-serve's transport: the HTTP or HTTPS (optionally mutual-TLS) server object, and the check of a request's
// client certificate.

#include <memory>
#include <string>

#include <httplib.h>

#include "config.hpp"

namespace lamin::serve {

/// HTTP, or HTTPS with the configured certificate chain and key. Throws lamin::ConfigurationError for TLS files
/// that cannot be read or loaded, or a build without TLS support.
std::unique_ptr<httplib::Server> make_server(const Config& config);

/// With --tls-client-ca: why the request's TLS client certificate is not accepted ("" when it is, and for
/// GET /health).
std::string client_certificate_refusal(const Config& config, const httplib::Request& req);

}  // namespace lamin::serve
