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

void PrometheusText::histogram(std::string_view name, std::string_view help, const Histogram& histogram,
                               const Labels& labels) {
    family("histogram", name, help);
    auto with_le = labels;
    with_le.emplace_back("le", "");
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < histogram.counts().size(); ++i) {
        cumulative += histogram.counts()[i];
        std::string bound = "+Inf";
        if (i < Histogram::bounds.size()) {
            bound.clear();
            append_number(bound, Histogram::bounds[i]);
        }
        with_le.back().second = bound;
        line(name, "_bucket", static_cast<double>(cumulative), with_le);
    }
    line(name, "_sum", histogram.sum(), labels);
    line(name, "_count", static_cast<double>(histogram.count()), labels);
}

void PrometheusText::sample(std::string_view type, std::string_view name, std::string_view help, double value,
                            const Labels& labels) {
    family(type, name, help);
    line(name, "", value, labels);
}

void PrometheusText::family(std::string_view type, std::string_view name, std::string_view help) {
    if (!families_.emplace(name).second) return;
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

void PrometheusText::line(std::string_view name, std::string_view suffix, double value, const Labels& labels) {
    text_ += name;
    text_ += suffix;
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
