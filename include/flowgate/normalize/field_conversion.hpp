#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "flowgate/core/telemetry.hpp"
#include "flowgate/registry/device.hpp"

namespace flowgate::normalize {

/// What became of one raw field value under its mapping.
struct FieldConversion {
    enum class Outcome {
        reading,  ///< `reading` holds the typed, calibrated value
        missing,  ///< nothing was sent: no reading and no error
        invalid,  ///< `problem` says why, e.g. "'x87654321x' is not a float"
    };
    Outcome outcome = Outcome::missing;
    Reading reading;
    std::string problem;  ///< quotes at most 64 bytes of the value; names neither field nor metric
};

/// True for the values that mean "no reading": "" and "nan" in any case, ignoring surrounding
/// whitespace (" NaN ", "   ").
bool is_missing_value(std::string_view raw);

/// Converts one raw field value (nullopt: null or absent) by `mapping`:
///  - float: the whole string (surrounding whitespace and a leading '+' allowed) is a finite
///    decimal number ("44.50", "-3", "1e3"); "12abc", "0x10", "inf" are invalid.
///  - integer: a float whose value is integral ("12", "12.0"; not "12.5").
///  - boolean: "1"/"0", "true"/"false", "on"/"off" in any case, or a number equal to 1 or 0.
///  - string: kept as sent, less trailing CR/LF (println's line ending); one with any other
///    control character (below 0x20 except tab, or 0x7f) is invalid, not stored.
/// A float or integer whose text is an integer a double does not hold exactly (beyond 2^53,
/// e.g. a counter's "9007199254740993", or beyond int64) is invalid, not stored rounded.
/// Floats and integers are then calibrated (raw * scale_factor + offset) and checked against
/// min_valid/max_valid, both inclusive. Booleans and strings are neither calibrated nor
/// range-checked.
FieldConversion convert_field(const FieldMapping& mapping, std::optional<std::string_view> raw);

} // namespace flowgate::normalize
