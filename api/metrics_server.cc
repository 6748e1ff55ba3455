#include "api/metrics_server.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"

namespace vfguard::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// One scrape: read a request, answer, close.
struct Scrape : std::enable_shared_from_this<Scrape> {
  Scrape(tcp::socket s, std::chrono::milliseconds idle, std::function<std::string()> render)
      : socket(std::move(s)), timer(socket.get_executor()), render(std::move(render)) {
    timer.expires_after(idle);
  }

  void Run() {
    timer.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) {
        beast::error_code ignored;
        self->socket.close(ignored);
      }
    });
    parser.header_limit(8 << 10);
    parser.body_limit(4 << 10);
    http::async_read(
        socket, buffer, parser,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec) {
      timer.cancel();
      beast::error_code ignored;
      socket.close(ignored);
      return;
    }
    const auto& req = parser.get();
    response.version(11);
    response.keep_alive(false);
    response.set(http::field::server, "vfguard");
    std::string_view path(req.target().data(), req.target().size());
    path = path.substr(0, path.find('?'));
    if (path != "/metrics") {
      response.result(http::status::not_found);
      response.set(http::field::content_type, "text/plain");
      response.body() = "not found: try /metrics\n";
    } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
      response.result(http::status::method_not_allowed);
      response.set(http::field::allow, "GET, HEAD");
      response.set(http::field::content_type, "text/plain");
      response.body() = "method not allowed\n";
    } else {
      response.result(http::status::ok);
      response.set(http::field::content_type, std::string(common::metrics::Registry::kContentType));
      response.body() = render();
      if (req.method() == http::verb::head) {
        response.content_length(response.body().size());
        response.body().clear();
      }
    }
    if (req.method() != http::verb::head) response.prepare_payload();
    http::async_write(socket, response, [self = shared_from_this()](beast::error_code, size_t) {
      self->timer.cancel();
      beast::error_code ignored;
      self->socket.shutdown(tcp::socket::shutdown_both, ignored);
      self->socket.close(ignored);
    });
  }

  tcp::socket socket;
  asio::steady_timer timer;
  std::function<std::string()> render;
  beast::flat_buffer buffer;
  http::request_parser<http::empty_body> parser;
  http::response<http::string_body> response;
};

}  // namespace

MetricsServer::MetricsServer(asio::io_context& io, MetricsServerOptions options,
                             const common::metrics::Registry& registry,
                             std::function<void()> collect)
    : io_(io), options_(std::move(options)), registry_(registry), collect_(std::move(collect)) {}

MetricsServer::~MetricsServer() { Stop(); }

absl::Status MetricsServer::Start() {
  std::string where = absl::StrCat("metrics listener ", options_.address, ":", options_.port);
  beast::error_code ec;
  auto address = asio::ip::make_address(options_.address, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat(where, ": address is not an IP literal"));
  auto acceptor = std::make_unique<tcp::acceptor>(io_);
  tcp::endpoint endpoint(address, options_.port);
  acceptor->open(endpoint.protocol(), ec);
  if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor->bind(endpoint, ec);
  if (ec) return absl::InternalError(absl::StrCat(where, ": bind: ", ec.message()));
  acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return absl::InternalError(absl::StrCat(where, ": listen: ", ec.message()));
  acceptor_ = std::move(acceptor);
  *alive_ = true;
  Accept();
  return absl::OkStatus();
}

uint16_t MetricsServer::port() const {
  if (!acceptor_) return 0;
  beast::error_code ec;
  auto endpoint = acceptor_->local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

void MetricsServer::Accept() {
  acceptor_->async_accept([this, alive = alive_](beast::error_code ec, tcp::socket socket) {
    if (!*alive || ec == asio::error::operation_aborted) return;
    if (!ec) {
      auto render = [this, alive] {
        if (!*alive) return std::string();
        if (collect_) collect_();
        return registry_.Render();
      };
      // A scrape in flight when the server goes renders nothing.
      std::make_shared<Scrape>(std::move(socket), options_.idle_timeout, render)->Run();
    }
    Accept();
  });
}

void MetricsServer::Stop() {
  *alive_ = false;
  if (acceptor_) {
    beast::error_code ignored;
    acceptor_->close(ignored);
  }
}

}  // namespace vfguard::api
