// Checks of the deployment files (deploy/) against the code, shared by the daemon's suite
// (tests/agent/deploy_test.cc, torch-free) and the worker's (tests/worker/deploy_test.cc):
// the Grafana dashboard's PromQL against the metrics a registry exports, the systemd unit's
// keys, the flags a manifest passes against a program's --help, and the Debian packages a
// Dockerfile installs.
#pragma once

#include <cctype>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/prometheus.h"
#include "test_util.h"  // RunShell, HaveProgram

namespace autoscale::testing {

// A file of the source tree ("deploy/grafana/autoscale.json"), whole; "" when missing.
inline std::string SourceFile(const std::string& relative) {
  std::ifstream in(std::string(AUTOSCALE_SOURCE_DIR) + "/" + relative, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// ---- PromQL -----------------------------------------------------------------------------------

// What a PromQL expression refers to: metric names, and label names (in matchers and in
// by/without/on/ignoring/group_left/group_right lists). Grafana's variables ($model,
// ${datasource}, $__rate_interval) are skipped wherever they stand.
struct PromQlRefs {
  std::set<std::string> metrics;
  std::set<std::string> labels;
};

inline PromQlRefs ParsePromQl(const std::string& e) {
  static const std::set<std::string> kKeywords = {
      // aggregation operators, which may take their modifier before the parenthesis
      "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk",
      "topk", "quantile",
      // binary operators, modifiers and literals
      "and", "or", "unless", "atan2", "bool", "offset", "by", "without", "on", "ignoring",
      "group_left", "group_right", "inf", "nan", "Inf", "NaN"};
  static const std::set<std::string> kLabelLists = {"by",       "without",    "on",
                                                    "ignoring", "group_left", "group_right"};
  PromQlRefs refs;
  const size_t n = e.size();
  auto ident_start = [](char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; };
  auto ident_char = [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':';
  };
  auto skip_space = [&](size_t i) {
    while (i < n && std::isspace(static_cast<unsigned char>(e[i]))) ++i;
    return i;
  };
  auto skip_string = [&](size_t i) {  // at the opening quote; returns past the closing one
    const char q = e[i++];
    while (i < n && e[i] != q) i += (e[i] == '\\' && q != '`') ? 2 : 1;
    return i + 1;
  };
  auto skip_variable = [&](size_t i) {  // at '$'
    ++i;
    if (i < n && e[i] == '{') {
      while (i < n && e[i] != '}') ++i;
      return i + 1;
    }
    while (i < n && ident_char(e[i])) ++i;
    return i;
  };
  auto read_ident = [&](size_t* i) {
    const size_t b = *i;
    while (*i < n && ident_char(e[*i])) ++*i;
    return e.substr(b, *i - b);
  };
  size_t i = 0;
  while (i < n) {
    const char c = e[i];
    if (c == '"' || c == '\'' || c == '`') {
      i = skip_string(i);
    } else if (c == '$') {
      i = skip_variable(i);
    } else if (c == '[') {  // a range or subquery duration
      while (i < n && e[i] != ']') ++i;
      ++i;
    } else if (c == '{') {  // label matchers: NAME OP "VALUE", ...
      ++i;
      while (i < n && e[i] != '}') {
        i = skip_space(i);
        if (i < n && ident_start(e[i])) {
          const std::string label = read_ident(&i);
          i = skip_space(i);
          while (i < n && (e[i] == '=' || e[i] == '!' || e[i] == '~')) ++i;
          i = skip_space(i);
          std::string value;
          if (i < n && (e[i] == '"' || e[i] == '\'' || e[i] == '`')) {
            const size_t b = i;
            i = skip_string(i);
            value = e.substr(b + 1, i - b - 2);
          }
          if (label == "__name__") {
            refs.metrics.insert(value);
          } else {
            refs.labels.insert(label);
          }
        } else if (i < n && e[i] != '}') {
          ++i;  // ',' or a stray character
        }
      }
      ++i;
    } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      while (i < n && (ident_char(e[i]) || e[i] == '.')) ++i;  // 0.99, 1e3, 5m
    } else if (ident_start(c)) {
      const std::string word = read_ident(&i);
      const size_t next = skip_space(i);
      if (kLabelLists.count(word) && next < n && e[next] == '(') {
        i = next + 1;
        while (i < n && e[i] != ')') {
          if (ident_start(e[i])) {
            refs.labels.insert(read_ident(&i));
          } else {
            ++i;
          }
        }
        ++i;
      } else if (kKeywords.count(word) || (next < n && e[next] == '(')) {
        // an operator, or a function call
      } else {
        refs.metrics.insert(word);
      }
    } else {
      ++i;
    }
  }
  return refs;
}

// ---- Grafana dashboards -----------------------------------------------------------------------

// One query of a dashboard: a panel target's PromQL, or a query variable's label_values().
struct DashboardQuery {
  std::string where;  // "panel 'Requests/s'" or "variable 'model'"
  std::string expr;
  PromQlRefs refs;
};

inline void CollectPanelQueries(const nlohmann::json& panels, std::vector<DashboardQuery>* out) {
  if (!panels.is_array()) return;
  for (const auto& p : panels) {
    const std::string title = p.value("title", std::string("(untitled)"));
    if (p.contains("targets") && p["targets"].is_array()) {
      for (const auto& t : p["targets"]) {
        if (!t.contains("expr") || !t["expr"].is_string()) continue;
        const std::string expr = t["expr"].get<std::string>();
        out->push_back({"panel '" + title + "'", expr, ParsePromQl(expr)});
      }
    }
    if (p.contains("panels")) CollectPanelQueries(p["panels"], out);  // a collapsed row's
  }
}

// Every query of `dashboard`: panels (rows' nested ones too) and query variables. A variable's
// label_values(SELECTOR, LABEL) refers to SELECTOR's metrics and to LABEL.
inline std::vector<DashboardQuery> DashboardQueries(const nlohmann::json& dashboard) {
  std::vector<DashboardQuery> out;
  if (dashboard.contains("panels")) CollectPanelQueries(dashboard["panels"], &out);
  if (!dashboard.contains("templating")) return out;
  for (const auto& v : dashboard["templating"].value("list", nlohmann::json::array())) {
    if (v.value("type", "") != "query") continue;
    std::string q;
    if (v.contains("query") && v["query"].is_string()) q = v["query"].get<std::string>();
    if (v.contains("query") && v["query"].is_object()) q = v["query"].value("query", "");
    DashboardQuery dq{"variable '" + v.value("name", std::string("?")) + "'", q, {}};
    const std::string fn = "label_values(";
    if (q.rfind(fn, 0) == 0 && q.back() == ')') {
      const std::string args = q.substr(fn.size(), q.size() - fn.size() - 1);
      const size_t comma = args.rfind(',');
      if (comma == std::string::npos) {
        dq.refs.labels.insert(args);
      } else {
        dq.refs = ParsePromQl(args.substr(0, comma));
        std::string label = args.substr(comma + 1);
        label.erase(0, label.find_first_not_of(' '));
        dq.refs.labels.insert(label);
      }
    } else {
      dq.refs = ParsePromQl(q);
    }
    out.push_back(std::move(dq));
  }
  return out;
}

// The problems of `queries` against the families one program exports, those whose names start
// with `prefix` ("autoscaled_", "autoscale_worker_"): a series of that prefix the program does
// not export (a histogram exports NAME_bucket, NAME_sum and NAME_count), a series of no known
// program, a label the query's metrics do not have, and a family no query shows. Empty when
// the dashboard and the program agree.
inline std::vector<std::string> CheckDashboard(
    const std::vector<DashboardQuery>& queries,
    const std::vector<MetricsRegistry::FamilyInfo>& families, const std::string& prefix) {
  static const std::vector<std::string> kPrograms = {"autoscaled_", "autoscale_worker_"};
  static const std::set<std::string> kTargetLabels = {"instance", "job"};  // Prometheus adds them
  std::map<std::string, const MetricsRegistry::FamilyInfo*> series;        // series name -> family
  std::string exported;
  for (const auto& f : families) {
    if (f.name.rfind(prefix, 0) != 0) continue;
    if (!exported.empty()) exported += ", ";
    exported += f.name;
    if (f.type == "histogram") {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) series[f.name + suffix] = &f;
    } else {
      series[f.name] = &f;
    }
  }
  std::vector<std::string> problems;
  std::set<std::string> shown;
  for (const DashboardQuery& q : queries) {
    std::set<std::string> labels = kTargetLabels;
    bool all_known = true;
    bool ours = false;
    for (const std::string& m : q.refs.metrics) {
      bool known_program = false;
      for (const std::string& p : kPrograms) known_program |= m.rfind(p, 0) == 0;
      if (!known_program) {
        problems.push_back(q.where + ": '" + m +
                           "' is no metric of autoscaled or autoscale-worker" + " (in: " + q.expr +
                           ")");
        all_known = false;
        continue;
      }
      if (m.rfind(prefix, 0) != 0) {
        all_known = false;  // the other program's: its own suite checks it
        continue;
      }
      ours = true;
      auto it = series.find(m);
      if (it == series.end()) {
        problems.push_back(q.where + ": '" + m + "' is not exported (exported: " + exported +
                           "; in: " + q.expr + ")");
        all_known = false;
        continue;
      }
      shown.insert(it->second->name);
      labels.insert(it->second->label_names.begin(), it->second->label_names.end());
      if (m.size() > 7 && m.compare(m.size() - 7, 7, "_bucket") == 0) labels.insert("le");
    }
    if (!ours || !all_known) continue;
    for (const std::string& l : q.refs.labels) {
      if (!labels.count(l)) {
        problems.push_back(q.where + ": label '" + l +
                           "' is on none of the query's metrics (in: " + q.expr + ")");
      }
    }
  }
  for (const auto& f : families) {
    if (f.name.rfind(prefix, 0) == 0 && !shown.count(f.name)) {
      problems.push_back("'" + f.name + "' is exported but no panel or variable shows it");
    }
  }
  return problems;
}

// ---- systemd units, manifests, Dockerfiles ----------------------------------------------------

// A systemd unit's assignments: "Section.Key" -> every value assigned, in order (comments and
// blank lines skipped; no line continuations).
inline std::map<std::string, std::vector<std::string>> ParseUnit(const std::string& text) {
  std::map<std::string, std::vector<std::string>> out;
  std::istringstream in(text);
  std::string line, section;
  while (std::getline(in, line)) {
    line.erase(0, line.find_first_not_of(" \t"));
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      section = line.substr(1, line.find(']') - 1);
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    out[section + "." + line.substr(0, eq)].push_back(line.substr(eq + 1));
  }
  return out;
}

// The long options ("--listen") a program's --help text names.
inline std::set<std::string> HelpFlags(const std::string& help) {
  std::set<std::string> flags;
  for (size_t i = help.find("--"); i != std::string::npos; i = help.find("--", i + 2)) {
    size_t j = i + 2;
    while (j < help.size() && (std::isalnum(static_cast<unsigned char>(help[j])) || help[j] == '-'))
      ++j;
    if (j > i + 2) flags.insert(help.substr(i, j - i));
  }
  return flags;
}

// The words of a bash array assignment `NAME=(a b c ...)` in a script (scripts/install-deps.sh's
// package list).
inline std::set<std::string> ShellArray(const std::string& script, const std::string& name) {
  std::set<std::string> words;
  const size_t b = script.find(name + "=(");
  if (b == std::string::npos) return words;
  const size_t e = script.find(')', b);
  std::istringstream in(script.substr(b + name.size() + 2, e - b - name.size() - 2));
  std::string w;
  while (in >> w) words.insert(w);
  return words;
}

// A Dockerfile's stages: the stage name (FROM ... AS NAME) -> its instructions, each with its
// line continuations joined ("RUN apt-get update && ...").
inline std::map<std::string, std::vector<std::string>> DockerStages(const std::string& text) {
  std::map<std::string, std::vector<std::string>> stages;
  std::istringstream in(text);
  std::string line, current, stage;
  auto flush = [&] {
    if (current.empty()) return;
    if (current.rfind("FROM ", 0) == 0) {
      const size_t as = current.find(" AS ");
      stage = as == std::string::npos ? current.substr(5) : current.substr(as + 4);
    }
    stages[stage].push_back(current);
    current.clear();
  };
  while (std::getline(in, line)) {
    const size_t first = line.find_first_not_of(" \t");
    if (current.empty() && (first == std::string::npos || line[first] == '#')) continue;
    if (first != std::string::npos && line[first] == '#') continue;  // a comment inside
    const bool more = !line.empty() && line.back() == '\\';
    if (more) line.pop_back();
    if (!current.empty()) current += ' ';
    current += line.substr(first == std::string::npos ? 0 : first);
    if (!more) flush();
  }
  flush();
  return stages;
}

// The packages `apt-get install` is given in a stage's RUN instructions.
inline std::set<std::string> AptPackages(const std::vector<std::string>& instructions) {
  std::set<std::string> pkgs;
  for (const std::string& ins : instructions) {
    if (ins.rfind("RUN ", 0) != 0) continue;
    for (size_t at = ins.find("apt-get install"); at != std::string::npos;
         at = ins.find("apt-get install", at + 1)) {
      std::istringstream words(ins.substr(at + 15));
      std::string w;
      while (words >> w && w != "&&" && w != ";" && w != "|" && w != "\\") {
        if (w[0] != '-') pkgs.insert(w);
      }
    }
  }
  return pkgs;
}

// The JSON array of an exec-form instruction (`CMD ["a", "b"]`) in a stage; empty when none.
inline std::vector<std::string> DockerExecForm(const std::vector<std::string>& instructions,
                                               const std::string& keyword) {
  for (const std::string& ins : instructions) {
    if (ins.rfind(keyword + " ", 0) != 0) continue;
    nlohmann::json j = nlohmann::json::parse(ins.substr(keyword.size() + 1), nullptr, false);
    if (j.is_array()) return j.get<std::vector<std::string>>();
  }
  return {};
}

}  // namespace autoscale::testing
