#include "flowgate/core/telemetry.hpp"

#include <array>
#include <utility>

namespace flowgate {
namespace {

constexpr std::array<std::pair<DataType, std::string_view>, 4> data_type_names{{
    {DataType::float64, "float"},
    {DataType::integer, "integer"},
    {DataType::boolean, "boolean"},
    {DataType::text, "string"},
}};

constexpr std::array<std::string_view, 6> stage_names{"fetch", "auth", "parse", "conversion", "schema", "storage"};

} // namespace

std::optional<DataType> parse_data_type(std::string_view name) {
    for (const auto& [type, spelling] : data_type_names) {
        if (spelling == name) return type;
    }
    return std::nullopt;
}

std::string_view to_string(DataType type) {
    for (const auto& [t, spelling] : data_type_names) {
        if (t == type) return spelling;
    }
    return "float";
}

std::string_view to_string(ErrorStage stage) { return stage_names[static_cast<std::size_t>(stage)]; }

} // namespace flowgate
