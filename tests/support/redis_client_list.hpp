#pragma once

// Reading Redis's CLIENT LIST answer, to drop one test's own connection (CLIENT KILL ID):
// Redis is shared by tests running in parallel, so a connection is never killed by type.

#include <optional>
#include <string>
#include <string_view>

namespace flowgate::test {

/// The id of the connection named `name` in a CLIENT LIST answer, or nullopt.
inline std::optional<std::string> client_id(std::string_view client_list, std::string_view name) {
    const auto at = client_list.find(" name=" + std::string{name} + " ");
    if (at == std::string_view::npos) return std::nullopt;
    const auto line = client_list.rfind('\n', at) + 1;  // npos + 1 == 0 on the first line
    // Each line starts "id=N ".
    return std::string{client_list.substr(line + 3, client_list.find(' ', line) - line - 3)};
}

} // namespace flowgate::test
