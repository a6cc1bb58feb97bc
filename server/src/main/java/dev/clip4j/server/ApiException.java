package dev.clip4j.server;

/**
 * A refusal the server answers with {@code status} and OpenAI's error body {@code {"error":
 * {"message", "type", "code"}}}. Messages never echo request bodies or credentials.
 */
final class ApiException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  final int status;
  final String type;
  final String code;
  /** Seconds for a Retry-After header, or -1 for none. */
  final int retryAfterSeconds;

  ApiException(int status, String type, String code, String message) {
    this(status, type, code, message, -1);
  }

  ApiException(int status, String type, String code, String message, int retryAfterSeconds) {
    super(message, null, false, false);
    this.status = status;
    this.type = type;
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  static ApiException badRequest(String code, String message) {
    return new ApiException(400, "invalid_request_error", code, message);
  }

  static ApiException unauthorized() {
    return new ApiException(401, "invalid_request_error", "invalid_api_key",
        "missing or invalid API key: send 'Authorization: Bearer KEY'");
  }

  static ApiException notFound(String code, String message) {
    return new ApiException(404, "invalid_request_error", code, message);
  }

  static ApiException methodNotAllowed(String method, String route) {
    return new ApiException(405, "invalid_request_error", "method_not_allowed", method + " is not allowed on " + route);
  }

  static ApiException tooLarge(String message) {
    return new ApiException(413, "invalid_request_error", "request_too_large", message);
  }

  static ApiException overloaded(String message) {
    return new ApiException(429, "overloaded_error", "overloaded", message, 1);
  }

  static ApiException timeout(String message) {
    return new ApiException(504, "timeout_error", "request_timeout", message);
  }

  static ApiException unavailable(String message) {
    return new ApiException(503, "unavailable_error", "unavailable", message, 1);
  }

  /**
   * A refusal the HTTP layer made (Jetty: a malformed request, a URI or headers over its limits,
   * an unsupported HTTP version, ...) with its status, in the same shape as the API's own.
   */
  static ApiException forStatus(int status, String message) {
    return switch (status) {
      case 400 -> badRequest("bad_request", message);
      case 404 -> notFound("not_found", message);
      case 405 -> new ApiException(405, "invalid_request_error", "method_not_allowed", message);
      case 408 -> new ApiException(408, "timeout_error", "request_timeout", message);
      case 413 -> tooLarge(message);
      case 414 -> new ApiException(414, "invalid_request_error", "uri_too_long", message);
      case 429 -> overloaded(message);
      case 431 -> new ApiException(431, "invalid_request_error", "headers_too_large", message);
      case 503 -> unavailable(message);
      case 505 -> new ApiException(505, "invalid_request_error", "http_version_not_supported", message);
      default -> status >= 500 ? new ApiException(status, "server_error", "http_" + status, message)
          : new ApiException(status, "invalid_request_error", "http_" + status, message);
    };
  }

  static ApiException internal(String message) {
    return new ApiException(500, "server_error", "internal_error", message);
  }
}
