#ifndef QFLEET_APPS_CLI_UTIL_H_
#define QFLEET_APPS_CLI_UTIL_H_

#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

namespace qfleet::apps {

// Parses argv with CLI11. Returns -1 to continue; otherwise the exit code:
// 0 after --help, 2 after a bad flag (one line "PROGRAM: error: reason" on
// stderr).
inline int ParseOrExit(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::printf("%s", app.help().c_str());
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::printf("%s", app.help("", CLI::AppFormatMode::All).c_str());
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: error: %s (see --help)\n", app.get_name().c_str(), e.what());
    return 2;
  }
  return -1;
}

}  // namespace qfleet::apps

#endif  // QFLEET_APPS_CLI_UTIL_H_
