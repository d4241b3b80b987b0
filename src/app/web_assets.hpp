#pragma once

#include <span>
#include <string_view>

namespace flowgate::app {

/// One file of the dashboard (web/), built into the binary.
struct WebAsset {
    std::string_view path;  ///< "/index.html", "/dashboard.js", …
    std::string_view content_type;
    std::string_view body;
};

/// Every file of web/, as it was when the binary was built.
std::span<const WebAsset> web_assets();

} // namespace flowgate::app
