#include "flowgate/obs/prometheus.hpp"

#include <gtest/gtest.h>

using flowgate::obs::PrometheusText;

TEST(PrometheusText, FamiliesHaveOneHeaderAndLabelsAreEscaped) {
    PrometheusText m;
    m.counter("flowgate_polls_total", "Polls by outcome.", 12, {{"outcome", "ok"}});
    m.counter("flowgate_polls_total", "Polls by outcome.", 3, {{"outcome", "failed"}});
    m.gauge("flowgate_breaker_state", "0 closed, 1 half-open, 2 open.", 2, {{"host", "a\"b\\c\nd"}});
    m.gauge("flowgate_budget_tokens", "Tokens left.", 2.5);
    EXPECT_EQ(m.text(),
              "# HELP flowgate_polls_total Polls by outcome.\n"
              "# TYPE flowgate_polls_total counter\n"
              "flowgate_polls_total{outcome=\"ok\"} 12\n"
              "flowgate_polls_total{outcome=\"failed\"} 3\n"
              "# HELP flowgate_breaker_state 0 closed, 1 half-open, 2 open.\n"
              "# TYPE flowgate_breaker_state gauge\n"
              "flowgate_breaker_state{host=\"a\\\"b\\\\c\\nd\"} 2\n"
              "# HELP flowgate_budget_tokens Tokens left.\n"
              "# TYPE flowgate_budget_tokens gauge\n"
              "flowgate_budget_tokens 2.5\n");
}

TEST(PrometheusText, HistogramBucketsAreCumulativeAndInclusive) {
    flowgate::obs::Histogram h;
    h.observe(0.0005); // on a bound: counts in that bucket
    h.observe(0.003);
    h.observe(std::chrono::milliseconds{40});
    h.observe(120.0); // above every bound
    PrometheusText m;
    m.histogram("flowgate_poll_duration_seconds", "Poll time.", h, {{"host", "h"}});
    const auto& text = m.text();
    EXPECT_EQ(text.find("# TYPE flowgate_poll_duration_seconds histogram\n"), text.find("# TYPE"));
    EXPECT_NE(text.find("flowgate_poll_duration_seconds_bucket{host=\"h\",le=\"0.0005\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("flowgate_poll_duration_seconds_bucket{host=\"h\",le=\"0.0025\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("flowgate_poll_duration_seconds_bucket{host=\"h\",le=\"0.005\"} 2\n"), std::string::npos);
    EXPECT_NE(text.find("flowgate_poll_duration_seconds_bucket{host=\"h\",le=\"0.05\"} 3\n"), std::string::npos);
    EXPECT_NE(text.find("flowgate_poll_duration_seconds_bucket{host=\"h\",le=\"30\"} 3\n"), std::string::npos);
    EXPECT_NE(text.find("flowgate_poll_duration_seconds_bucket{host=\"h\",le=\"+Inf\"} 4\n"), std::string::npos);
    EXPECT_NE(text.find("flowgate_poll_duration_seconds_sum{host=\"h\"} 120.0435\n"), std::string::npos) << text;
    EXPECT_NE(text.find("flowgate_poll_duration_seconds_count{host=\"h\"} 4\n"), std::string::npos);
    // Buckets in order, then sum and count.
    EXPECT_LT(text.find("le=\"0.0005\""), text.find("le=\"0.001\""));
    EXPECT_LT(text.find("le=\"+Inf\""), text.find("_sum"));
}
