// The Boost.Asio and Beast headers, for the .cc files of targets/http, targets/remote and the
// tests that speak raw HTTP. Boost 1.74's asio/awaitable.hpp uses std::exchange without
// including <utility> (fixed in later releases), so <utility> comes first, in its own block.
#pragma once

// clang-format off
#include <utility>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
// clang-format on
