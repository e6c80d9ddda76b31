// Command lines of the three programs, through CLI11: one parser, one look for help, errors and
// --version, and `--opt value` and `--opt=value` alike. Only the programs' main files and
// subcommands include this (CLI11 is header-only and slow to compile).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace autoscale::cli {

// A subcommand and what runs when the command line chose it.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

// Gives APP (named PROGRAM in messages) --version, -h/--help, a help width that fits a terminal,
// and lets unknown arguments through to Run, which names them with a suggestion.
void Setup(CLI::App& app, const std::string& program);

// Parses ARGV. --help prints that (sub)command's help, --version the version, both exit 0; a
// usage error prints "PROGRAM: error: ...", with a "did you mean" for a misspelt option or
// command, and exits 2. Otherwise runs the chosen command (or MAIN, when there are no
// subcommands or none was chosen and MAIN is set) and returns its exit code.
int Run(CLI::App& app, const std::string& program, int argc, const char* const* argv,
        const std::vector<Command>& commands, const std::function<int()>& main = nullptr);

// Validators whose messages name the range: "a number from LO to HI" / "an integer from LO to HI".
CLI::Validator NumberIn(double lo, double hi);
CLI::Validator IntegerIn(long long lo, long long hi);

// "A,B, C" -> {"A", "B", "C"}: empty items dropped.
std::vector<std::string> SplitList(const std::string& s);

}  // namespace autoscale::cli
