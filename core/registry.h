// Registry: choose implementations by name from configuration (STYLE.md 4).
// An unknown name is an error that lists the valid ones. Not thread-safe for registration;
// registries are filled before use and only read afterwards.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/strings.h"

namespace autoscale {

template <typename Factory>
class Registry {
 public:
  explicit Registry(std::string what) : what_(std::move(what)) {}

  void Register(const std::string& name, Factory f) { factories_[name] = std::move(f); }

  // The factory for `name`, or NotFound "unknown policy 'q_learnig'; did you mean 'q_learning'?
  // valid: ...".
  Result<const Factory*> Find(const std::string& name) const {
    auto it = factories_.find(name);
    if (it != factories_.end()) return &it->second;
    std::vector<std::string> names = Names();
    std::string msg = "unknown " + what_ + " '" + name + "'";
    std::string near = NearestName(name, names);
    if (!near.empty()) msg += "; did you mean '" + near + "'?";
    msg += " (valid " + what_ + " names: " + JoinNames(names) + ")";
    return Status::NotFound(msg);
  }

  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    for (const auto& [k, v] : factories_) out.push_back(k);
    return out;
  }

 private:
  std::string what_;
  std::map<std::string, Factory> factories_;
};

}  // namespace autoscale
