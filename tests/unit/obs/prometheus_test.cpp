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
