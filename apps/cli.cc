#include "apps/cli.h"

#include <cmath>
#include <cstdio>
#include <iostream>

#include "core/strings.h"

namespace autoscale::cli {
namespace {

// Every long option name of APP ("--json"), for suggestions.
std::vector<std::string> OptionNames(const CLI::App& app) {
  std::vector<std::string> out;
  for (const CLI::Option* o : app.get_options()) {
    for (const std::string& n : o->get_lnames()) out.push_back("--" + n);
  }
  return out;
}

// The chosen subcommand chain, innermost last.
std::vector<const CLI::App*> Chain(const CLI::App& app) {
  std::vector<const CLI::App*> chain = {&app};
  for (;;) {
    auto subs = chain.back()->get_subcommands();
    if (subs.empty()) return chain;
    chain.push_back(subs.front());
  }
}

int UsageError(const CLI::App& app, const std::string& program, const std::string& what) {
  std::string path = program;
  for (const CLI::App* a : Chain(app)) {
    if (a != &app) path += " " + a->get_name();
  }
  std::cerr << path << ": error: " << what << "\n(run `" << path << " --help` for usage)\n";
  return 2;
}

std::string Num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

// Wraps option descriptions to the width of a terminal, aligned under the description column.
class WrappingFormatter : public CLI::Formatter {
 public:
  std::string make_option_desc(const CLI::Option* opt) const override {
    return Wrap(CLI::Formatter::make_option_desc(opt), kWidth - get_column_width());
  }

  static std::string Wrap(const std::string& text, size_t width) {
    std::string out, line;
    size_t start = 0;
    while (start <= text.size()) {
      size_t end = text.find(' ', start);
      if (end == std::string::npos) end = text.size();
      const std::string word = text.substr(start, end - start);
      if (!line.empty() && line.size() + 1 + word.size() > width) {
        out += line + "\n";
        line.clear();
      }
      line += (line.empty() ? "" : " ") + word;
      start = end + 1;
    }
    return out + line;
  }

 private:
  static constexpr size_t kWidth = 100;
};

}  // namespace

void Setup(CLI::App& app, const std::string& program) {
  app.name(program);
  app.set_version_flag("--version", program + " " + AUTOSCALE_VERSION, "print the version");
  app.set_help_flag("-h,--help", "show this text");
  // Unknown arguments reach Run, which names them (with a suggestion) instead of CLI11's
  // "The following arguments were not expected".
  app.allow_extras();
  auto formatter = std::make_shared<WrappingFormatter>();
  formatter->column_width(32);
  formatter->label("REQUIRED", "(required)");
  app.formatter(formatter);
}

int Run(CLI::App& app, const std::string& program, int argc, const char* const* argv,
        const std::vector<Command>& commands, const std::function<int()>& main) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::CallForVersion& v) {
    std::cout << v.what() << "\n";
    return 0;
  } catch (const CLI::ParseError& e) {
    return UsageError(app, program, e.what());
  }
  // Leftovers: an unknown option (or command) where they appeared.
  for (const CLI::App* a : Chain(app)) {
    const std::vector<std::string> extra = a->remaining(false);
    if (extra.empty()) continue;
    const std::string& x = extra.front();
    if (x.size() > 1 && x[0] == '-') {
      std::string near = NearestName(x.substr(0, x.find('=')), OptionNames(*a));
      return UsageError(
          app, program,
          "unknown option '" + x + "'" + (near.empty() ? "" : "; did you mean '" + near + "'?"));
    }
    if (a == &app && !app.get_subcommands({}).empty() && app.get_subcommands().empty()) {
      std::vector<std::string> names;
      for (const CLI::App* s : app.get_subcommands({})) names.push_back(s->get_name());
      std::string near = NearestName(x, names);
      return UsageError(
          app, program,
          "unknown command '" + x + "'" + (near.empty() ? "" : "; did you mean '" + near + "'?"));
    }
    return UsageError(app, program, "unexpected argument '" + x + "'");
  }
  for (const Command& c : commands) {
    if (c.app->parsed()) return c.run();
  }
  if (main) return main();
  std::cerr << app.help();
  return 2;
}

CLI::Validator NumberIn(double lo, double hi) {
  return CLI::Validator(
      [lo, hi](std::string& v) -> std::string {
        double x = 0;
        if (ParseDouble(v, &x) && std::isfinite(x) && x >= lo && x <= hi) return "";
        return "expects a number from " + Num(lo) + " to " + Num(hi) + ", got '" + v + "'";
      },
      "");
}

CLI::Validator IntegerIn(long long lo, long long hi) {
  return CLI::Validator(
      [lo, hi](std::string& v) -> std::string {
        long long x = 0;
        if (ParseInt64(v, &x) && x >= lo && x <= hi) return "";
        return "expects a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
               ", got '" + v + "'";
      },
      "");
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  for (std::string_view item : Split(s, ',')) {
    if (!Trim(item).empty()) out.emplace_back(Trim(item));
  }
  return out;
}

}  // namespace autoscale::cli
