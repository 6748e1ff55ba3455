// A blocking HTTP client over a unix socket for the API tests, and a server
// fixture running the io_context on its own thread.
#ifndef VFGUARD_TESTS_UNIT_API_TEST_CLIENT_H_
#define VFGUARD_TESTS_UNIT_API_TEST_CLIENT_H_

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <string>

namespace vfguard::api::testing {

struct Reply {
  unsigned status = 0;
  std::string body;
  std::string content_type;
  std::string allow;
};

// One request on a fresh connection. status 0 when the connection failed.
inline Reply Call(const std::string& socket_path, const std::string& method,
                  const std::string& target, const std::string& body = "") {
  namespace http = boost::beast::http;
  boost::asio::io_context io;
  boost::asio::local::stream_protocol::socket socket(io);
  boost::system::error_code ec;
  socket.connect(boost::asio::local::stream_protocol::endpoint(socket_path), ec);
  if (ec) return {};
  http::request<http::string_body> req(http::string_to_verb(method), target, 11);
  req.set(http::field::host, "localhost");
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  // A refusal (503, too many connections) is written and the socket closed
  // without reading the request; under load that can happen before the
  // request is written (EPIPE here), and the answer is still there to read.
  http::write(socket, req, ec);
  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  http::read(socket, buffer, parser, ec);
  if (ec) return {};
  Reply reply;
  reply.status = parser.get().result_int();
  reply.body = parser.get().body();
  reply.content_type = std::string(parser.get()[http::field::content_type]);
  reply.allow = std::string(parser.get()[http::field::allow]);
  return reply;
}

}  // namespace vfguard::api::testing

#endif  // VFGUARD_TESTS_UNIT_API_TEST_CLIENT_H_
