#include "flowgate/obs/prometheus.hpp"

#include <cmath>
#include <cstdio>

namespace flowgate::obs {
namespace {

void append_escaped(std::string& out, std::string_view value, bool quote_too) {
    for (const char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '"' && quote_too) {
            out += "\\\"";
        } else {
            out += c;
        }
    }
}

void append_number(std::string& out, double value) {
    if (std::isnan(value)) {
        out += "NaN";
    } else if (std::isinf(value)) {
        out += value > 0 ? "+Inf" : "-Inf";
    } else if (value == std::floor(value) && std::fabs(value) < 1e15) {
        out += std::to_string(static_cast<long long>(value));
    } else {
        char text[32];
        std::snprintf(text, sizeof text, "%.9g", value);
        out += text;
    }
}

} // namespace

void PrometheusText::counter(std::string_view name, std::string_view help, double value, const Labels& labels) {
    sample("counter", name, help, value, labels);
}

void PrometheusText::gauge(std::string_view name, std::string_view help, double value, const Labels& labels) {
    sample("gauge", name, help, value, labels);
}

void PrometheusText::sample(std::string_view type, std::string_view name, std::string_view help, double value,
                            const Labels& labels) {
    if (families_.emplace(name).second) {
        text_ += "# HELP ";
        text_ += name;
        text_ += ' ';
        append_escaped(text_, help, false);
        text_ += "\n# TYPE ";
        text_ += name;
        text_ += ' ';
        text_ += type;
        text_ += '\n';
    }
    text_ += name;
    if (!labels.empty()) {
        text_ += '{';
        for (std::size_t i = 0; i < labels.size(); ++i) {
            if (i > 0) text_ += ',';
            text_ += labels[i].first;
            text_ += "=\"";
            append_escaped(text_, labels[i].second, true);
            text_ += '"';
        }
        text_ += '}';
    }
    text_ += ' ';
    append_number(text_, value);
    text_ += '\n';
}

} // namespace flowgate::obs
