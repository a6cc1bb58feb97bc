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

  static ApiException internal(String message) {
    return new ApiException(500, "server_error", "internal_error", message);
  }
}
