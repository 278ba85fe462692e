#ifndef QFLEET_CLOUD_METRICS_METRICS_HTTP_SERVER_H_
#define QFLEET_CLOUD_METRICS_METRICS_HTTP_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <atomic>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace qfleet::cloud {

// A minimal HTTP/1.1 responder for Prometheus scrapes, on one background
// thread with POSIX sockets: `GET /metrics` (any query string) answers 200
// with `render()` as "text/plain; version=0.0.4"; any other method or path
// is 404, a malformed request line 400; every response closes the
// connection. Up to kMaxConnections connections are served at once, each on
// its own short-lived thread (more are answered 503 at once); a client has
// kHeaderTimeoutMs to send its request headers (capped at 8 KiB) and
// writes time out after 5 s, so one slow or hostile client delays no other
// scrape. Plaintext and unauthenticated: bind it to loopback or a private
// interface.
class MetricsHttpServer {
 public:
  static constexpr int kMaxConnections = 8;
  static constexpr int kHeaderTimeoutMs = 2000;

  // Listens on "HOST:PORT" (IPv4, IPv6 in brackets, or a name; port 0 picks
  // a free one). InvalidArgument for a malformed address, Unavailable if it
  // cannot be bound. `render` is called on the server thread for each
  // scrape and must be thread-safe and outlive the server.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& listen, std::function<std::string()> render);
  // Stops the thread (Shutdown()).
  ~MetricsHttpServer();

  // The bound port.
  int port() const { return port_; }
  // Stops accepting, finishes or abandons the connection in progress, and
  // joins the thread. Idempotent. Not to be called from `render`.
  void Shutdown();

 private:
  MetricsHttpServer(int listen_fd, int wake_read_fd, int wake_write_fd, int port,
                    std::function<std::string()> render);
  void Serve();
  void HandleConnection(int fd);
  // Joins the connection threads that have finished (all with `all`).
  void ReapWorkers(bool all);

  int listen_fd_;
  int wake_read_fd_;  // becomes readable when Shutdown() is called
  int wake_write_fd_;
  int port_;
  std::function<std::string()> render_;
  std::thread thread_;
  bool shut_down_ = false;
  // Connection threads, owned by the accept thread (Serve), which joins
  // them; `done` is set by each when it has closed its connection.
  struct Worker {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Worker> workers_;
};

}  // namespace qfleet::cloud

#endif  // QFLEET_CLOUD_METRICS_METRICS_HTTP_SERVER_H_
