// A deliberately minimal raw Beast HTTP(S) client for the simulator's own tests (not llmprobe's
// client): the simulator is the reference the daemon is tested against, so it is checked by
// code that shares nothing with the daemon. Every operation has a 5 s deadline.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <exception>
#include <map>
#include <string>
#include <vector>

namespace llmprobe::sim_client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct Request {
  http::verb method = http::verb::post;
  std::string target = "/v1/completions";
  std::string body;
  std::map<std::string, std::string> headers;
  // For stalls: after the response header, wait this long for more bytes, then hang up.
  std::chrono::milliseconds give_up_after{0};
  std::atomic<bool>* header_seen = nullptr;  // set once the response header has arrived
};

struct Reply {
  unsigned status = 0;
  std::string content_type;
  std::string transfer_encoding;
  std::string body;              // de-chunked, possibly partial
  beast::error_code read_error;  // of the body read; empty when the body ended properly
  bool timed_out = false;        // give_up_after expired (the server sent nothing more)
};

// One request and its response on an open stream (plain or TLS), keep-alive friendly.
template <class Stream>
inline asio::awaitable<Reply> exchange_on(Stream& stream, beast::flat_buffer& buffer,
                                          Request request) {
  Reply reply;
  auto& lowest = beast::get_lowest_layer(stream);
  http::request<http::string_body> message{request.method, request.target, 11};
  message.set(http::field::host, "127.0.0.1");
  message.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : request.headers) {
    message.set(name, value);
  }
  message.body() = request.body;
  message.prepare_payload();
  lowest.expires_after(5s);
  co_await http::async_write(stream, message, asio::use_awaitable);

  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  lowest.expires_after(5s);
  co_await http::async_read_header(stream, buffer, parser, asio::use_awaitable);
  if (request.header_seen != nullptr) {
    *request.header_seen = true;
  }
  if (request.give_up_after.count() > 0) {
    lowest.expires_after(request.give_up_after);
  } else {
    lowest.expires_after(5s);
  }
  auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
  reply.timed_out = ec == beast::error::timeout;
  reply.read_error = ec;
  const auto& response = parser.get();
  reply.status = response.result_int();
  reply.content_type = std::string(response[http::field::content_type]);
  reply.transfer_encoding = std::string(response[http::field::transfer_encoding]);
  reply.body = response.body();
  co_return reply;
}

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

inline asio::awaitable<void> connect_tls(TlsStream& stream, std::uint16_t port) {
  auto& lowest = beast::get_lowest_layer(stream);
  lowest.expires_after(5s);
  co_await lowest.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                asio::use_awaitable);
  // SNI and the name the server certificate is checked against.
  SSL_set_tlsext_host_name(stream.native_handle(), "localhost");
  stream.set_verify_callback(ssl::host_name_verification("localhost"));
  co_await stream.async_handshake(ssl::stream_base::client, asio::use_awaitable);
}

// Sequential requests on one connection (plain when tls is null).
inline asio::awaitable<std::vector<Reply>> exchange_all(std::uint16_t port,
                                                        std::vector<Request> requests,
                                                        ssl::context* tls) {
  std::vector<Reply> replies;
  beast::flat_buffer buffer;
  if (tls != nullptr) {
    TlsStream stream(co_await asio::this_coro::executor, *tls);
    co_await connect_tls(stream, port);
    for (auto& request : requests) {
      replies.push_back(co_await exchange_on(stream, buffer, std::move(request)));
    }
    co_return replies;
  }
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(5s);
  co_await stream.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                asio::use_awaitable);
  for (auto& request : requests) {
    replies.push_back(co_await exchange_on(stream, buffer, std::move(request)));
  }
  co_return replies;
}

inline asio::awaitable<Reply> exchange(std::uint16_t port, Request request, ssl::context* tls) {
  std::vector<Request> requests;
  requests.push_back(std::move(request));
  auto replies = co_await exchange_all(port, std::move(requests), tls);
  co_return std::move(replies.front());
}

// Runs several requests at once on one io_context (for the concurrency tests).
inline std::vector<Reply> run_all(std::uint16_t port, std::vector<Request> requests,
                                  ssl::context* tls = nullptr) {
  asio::io_context io;
  std::vector<Reply> replies(requests.size());
  std::vector<std::string> errors;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    asio::co_spawn(io, exchange(port, requests[i], tls),
                   [&replies, &errors, i](std::exception_ptr error, Reply reply) {
                     if (error) {
                       try {
                         std::rethrow_exception(error);
                       } catch (const std::exception& e) {
                         errors.emplace_back(e.what());
                       }
                       return;
                     }
                     replies[i] = std::move(reply);
                   });
  }
  io.run();
  for (const auto& error : errors) {
    ADD_FAILURE() << "client error: " << error;
  }
  return replies;
}

inline Reply run_one(std::uint16_t port, Request request, ssl::context* tls = nullptr) {
  return run_all(port, {std::move(request)}, tls).front();
}

// Sequential requests on one kept-alive connection.
inline std::vector<Reply> run_on_one_connection(std::uint16_t port, std::vector<Request> requests,
                                                ssl::context* tls = nullptr) {
  asio::io_context io;
  std::vector<Reply> replies;
  std::string error_text;
  asio::co_spawn(io, exchange_all(port, std::move(requests), tls),
                 [&](std::exception_ptr error, std::vector<Reply> result) {
                   if (error) {
                     try {
                       std::rethrow_exception(error);
                     } catch (const std::exception& e) {
                       error_text = e.what();
                     }
                     return;
                   }
                   replies = std::move(result);
                 });
  io.run();
  EXPECT_EQ(error_text, "");
  return replies;
}

}  // namespace llmprobe::sim_client
