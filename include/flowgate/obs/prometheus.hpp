#pragma once

#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flowgate/obs/histogram.hpp"

namespace flowgate::obs {

/// Writes metrics in the Prometheus text exposition format (version 0.0.4): each family's
/// `# HELP` and `# TYPE` once, before its first sample, label values escaped. Names follow
/// the conventions (`flowgate_…_total` for counters, units in the name); the caller keeps
/// one family's samples together.
class PrometheusText {
public:
    using Labels = std::vector<std::pair<std::string_view, std::string_view>>;

    static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

    void counter(std::string_view name, std::string_view help, double value, const Labels& labels = {});
    void gauge(std::string_view name, std::string_view help, double value, const Labels& labels = {});
    /// `name_bucket` with cumulative counts per `le` bound (`+Inf` last), `name_sum` and
    /// `name_count`.
    void histogram(std::string_view name, std::string_view help, const Histogram& histogram, const Labels& labels = {});

    const std::string& text() const { return text_; }

private:
    void sample(std::string_view type, std::string_view name, std::string_view help, double value, const Labels& labels);
    void family(std::string_view type, std::string_view name, std::string_view help);
    void line(std::string_view name, std::string_view suffix, double value, const Labels& labels);

    std::string text_;
    std::set<std::string, std::less<>> families_;
};

} // namespace flowgate::obs
