#ifndef QFLEET_TESTS_CLOUD_METRICS_HTTP_GET_H_
#define QFLEET_TESTS_CLOUD_METRICS_HTTP_GET_H_

// A tiny blocking HTTP client for metrics tests: sends `request` raw to
// 127.0.0.1:port and returns everything the server sends until it closes
// ("" if the connection fails).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <regex>
#include <string>

namespace qfleet::cloud {

inline std::string HttpExchange(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

inline std::string HttpGet(int port, const std::string& path) {
  return HttpExchange(port, "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
}

// True when every line of `text` is a comment (# HELP / # TYPE) or a sample
// `name{label="value",...} number` of the Prometheus text format 0.0.4.
inline bool IsPrometheusText(const std::string& text, std::string* bad_line) {
  static const std::regex kSample(
      R"re([a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? )re"
      R"re(([-+]?[0-9.eE+-]+|\+Inf|-Inf|NaN))re");
  static const std::regex kComment(R"re(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*)re");
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    if (!std::regex_match(line, kSample) && !std::regex_match(line, kComment)) {
      *bad_line = line;
      return false;
    }
  }
  return true;
}

}  // namespace qfleet::cloud

#endif  // QFLEET_TESTS_CLOUD_METRICS_HTTP_GET_H_
