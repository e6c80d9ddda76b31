// Calling the worker's handler directly, as the HTTP server would, and capturing the response.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "targets/http/http.h"
#include "targets/kserve/kserve.h"
#include "targets/worker/worker.h"

namespace autoscale::testing {

inline HttpRequest Request(std::string method, std::string target, std::string body = "",
                           std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpRequest r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.body = std::move(body);
  r.headers = std::move(headers);
  r.peer = "127.0.0.1:1";
  return r;
}

// Hands `req` to the worker; the future gets the response from whichever thread answers.
inline std::future<HttpResponse> CallAsync(Worker& w, HttpRequest req) {
  auto p = std::make_shared<std::promise<HttpResponse>>();
  auto f = p->get_future();
  w.Handle(std::move(req), Responder([p](HttpResponse r) { p->set_value(std::move(r)); }));
  return f;
}

inline HttpResponse Wait(std::future<HttpResponse>& f) {
  if (f.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    ADD_FAILURE() << "no response within 60 s";
    return ErrorResponse(599, "timeout");
  }
  return f.get();
}

inline HttpResponse Call(Worker& w, HttpRequest req) {
  auto f = CallAsync(w, std::move(req));
  return Wait(f);
}

// An infer request for `model` with one input; binary input (and binary outputs when asked).
inline HttpRequest InferRequest(const std::string& model, const WireTensor& input,
                                bool binary_out = false) {
  InferRequestMsg m;
  m.id = "req";
  m.inputs.push_back(input);
  m.binary_outputs_default = binary_out;
  std::optional<size_t> hl;
  std::string body = EncodeInferRequest(m, &hl);
  std::vector<std::pair<std::string, std::string>> headers;
  if (hl) headers.emplace_back("inference-header-content-length", std::to_string(*hl));
  return Request("POST", "/v2/models/" + model + "/infer", std::move(body), std::move(headers));
}

// Parses an infer response (binary or JSON, by its header).
inline Result<InferResponseMsg> ParseResponse(const HttpResponse& r) {
  std::optional<size_t> hl;
  if (const std::string* h = r.Header("inference-header-content-length")) hl = std::stoul(*h);
  return ParseInferResponse(r.body, hl);
}

// One [49, 10] kws_lstm sample as the JSON numbers of a "data" array: "v0,v1,...".
inline std::string KwsJsonData() {
  std::string data;
  for (int i = 0; i < 490; ++i) data += (i ? "," : "") + std::to_string(0.01 * (i % 97) - 0.4);
  return data;
}

inline WireTensor Fp32Input(const std::vector<int64_t>& shape, const std::vector<float>& data,
                            bool binary = true) {
  WireTensor t;
  t.name = "input";
  t.shape = shape;
  t.fp32 = data;
  t.binary = binary;
  return t;
}

}  // namespace autoscale::testing
