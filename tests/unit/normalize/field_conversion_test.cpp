#include "flowgate/normalize/field_conversion.hpp"

#include <gtest/gtest.h>

using namespace flowgate;
using namespace flowgate::normalize;
using Outcome = FieldConversion::Outcome;

namespace {

FieldMapping mapping(DataType type, double scale = 1, double offset = 0) {
    FieldMapping m;
    m.field = 1;
    m.canonical_name = "metric";
    m.type = type;
    m.scale_factor = scale;
    m.offset = offset;
    m.unit = "u";
    return m;
}

/// The number a value converts to; fails the test when it does not convert.
double number_of(const FieldMapping& m, std::string_view raw) {
    const auto c = convert_field(m, raw);
    EXPECT_EQ(c.outcome, Outcome::reading) << "'" << raw << "': " << c.problem;
    return c.reading.number;
}

std::string problem_of(const FieldMapping& m, std::string_view raw) {
    const auto c = convert_field(m, raw);
    EXPECT_EQ(c.outcome, Outcome::invalid) << "'" << raw << "' converted to " << c.reading.number;
    return c.problem;
}

} // namespace

TEST(FieldConversion, MissingValuesAreNeitherReadingsNorErrors) {
    for (const auto type : {DataType::float64, DataType::integer, DataType::boolean, DataType::text}) {
        EXPECT_EQ(convert_field(mapping(type), std::nullopt).outcome, Outcome::missing);
        for (const char* raw : {"", "nan", "NaN", "NAN", " NaN ", "   ", "\tnan\n"}) {
            const auto c = convert_field(mapping(type), raw);
            EXPECT_EQ(c.outcome, Outcome::missing) << "'" << raw << "' as " << to_string(type);
            EXPECT_TRUE(c.problem.empty());
        }
    }
    EXPECT_FALSE(is_missing_value("nano"));
    EXPECT_FALSE(is_missing_value("0"));
}

TEST(FieldConversion, FloatsParseTheWholeStringStrictly) {
    const auto f = mapping(DataType::float64);
    EXPECT_DOUBLE_EQ(number_of(f, "25.902335456475583"), 25.902335456475583);
    EXPECT_DOUBLE_EQ(number_of(f, "44.50"), 44.5);
    EXPECT_DOUBLE_EQ(number_of(f, "-3"), -3);
    EXPECT_DOUBLE_EQ(number_of(f, "1e3"), 1000);
    EXPECT_DOUBLE_EQ(number_of(f, "1000"), 1000);
    EXPECT_DOUBLE_EQ(number_of(f, "25.0"), 25);
    EXPECT_DOUBLE_EQ(number_of(f, "69.699997"), 69.699997);
    EXPECT_DOUBLE_EQ(number_of(f, " 12.5 "), 12.5);  // firmware printf padding
    EXPECT_DOUBLE_EQ(number_of(f, "+7"), 7);
    for (const char* bad : {"12abc", "0x10", "inf", "-inf", "Infinity", "1,5", "abc", "x87654321x", "--1", "+-1",
                            "+", "-", ".", "1e400", "12 34", "1.2.3", "e5", "10110010x"}) {
        EXPECT_EQ(problem_of(f, bad), "'" + std::string{bad} + "' is not a float");
    }
}

TEST(FieldConversion, IntegersMustBeIntegral) {
    const auto i = mapping(DataType::integer);
    EXPECT_DOUBLE_EQ(number_of(i, "12"), 12);
    EXPECT_DOUBLE_EQ(number_of(i, "12.0"), 12);
    EXPECT_DOUBLE_EQ(number_of(i, "-4"), -4);
    EXPECT_DOUBLE_EQ(number_of(i, "1e2"), 100);
    EXPECT_EQ(problem_of(i, "12.5"), "'12.5' is not an integer");
    EXPECT_EQ(problem_of(i, "58.9"), "'58.9' is not an integer");
    EXPECT_EQ(problem_of(i, "abc"), "'abc' is not an integer");
}

TEST(FieldConversion, BooleansAcceptWordsAndZeroOrOne) {
    const auto b = mapping(DataType::boolean, 10, 5);  // never calibrated
    for (const char* yes : {"1", "true", "TRUE", "On", "on", " true ", "1.0"}) EXPECT_EQ(number_of(b, yes), 1) << yes;
    for (const char* no : {"0", "false", "False", "OFF", "off", "0.00", "-0"}) EXPECT_EQ(number_of(b, no), 0) << no;
    for (const char* bad : {"2", "yes", "maybe", "-1", "0.5", "truex"}) {
        EXPECT_EQ(problem_of(b, bad), "'" + std::string{bad} + "' is not a boolean");
    }
    EXPECT_EQ(convert_field(b, "1").reading.type, DataType::boolean);
}

TEST(FieldConversion, StringsAreKeptExactly) {
    auto s = mapping(DataType::text, 10, 5);
    s.min_valid = 0;
    s.max_valid = 1;
    for (const char* raw : {"10110010", "x87654321x", " spaced ", "ERR", "1e999"}) {
        const auto c = convert_field(s, raw);
        ASSERT_EQ(c.outcome, Outcome::reading) << raw;
        EXPECT_EQ(c.reading.text, raw);
        EXPECT_EQ(c.reading.number, 0);
        EXPECT_EQ(c.reading.type, DataType::text);
    }
}

// println's line ending is not part of the value; other control characters would reach a
// dashboard or the database as they are (PostgreSQL refuses NUL): refused, with where.
TEST(FieldConversion, StringsLoseTrailingLineEndsAndControlCharactersAreRefused) {
    const auto s = mapping(DataType::text);
    for (const char* raw : {"PUMP ON\r\n", "PUMP ON\n", "PUMP ON\r"}) {
        const auto c = convert_field(s, raw);
        ASSERT_EQ(c.outcome, Outcome::reading) << raw;
        EXPECT_EQ(c.reading.text, "PUMP ON");
    }
    EXPECT_EQ(convert_field(s, "a\tb ").reading.text, "a\tb ") << "tabs and spaces are kept";
    EXPECT_EQ(problem_of(s, "ON\x07"), "a string with the control character 0x07 at byte 2 is not stored");
    EXPECT_EQ(problem_of(s, std::string_view{"A\0B", 3}), "a string with the control character 0x00 at byte 1 is not stored");
    EXPECT_EQ(problem_of(s, "line\nbreak"), "a string with the control character 0x0a at byte 4 is not stored");
}

// A totalizer's count beyond 2^53 would be stored as a neighbouring number: refused with the
// digits quoted, for float and integer mappings alike; what a double holds exactly passes.
TEST(FieldConversion, IntegersADoubleDoesNotHoldExactlyAreRefusedNotRounded) {
    for (const auto type : {DataType::float64, DataType::integer}) {
        const auto m = mapping(type);
        EXPECT_EQ(problem_of(m, "9007199254740993"),
                  "'9007199254740993' has more digits than a reading holds exactly (it would be stored as 9007199254740992)");
        EXPECT_EQ(problem_of(m, "-9007199254740993.0"),
                  "'-9007199254740993.0' has more digits than a reading holds exactly (it would be stored as -9007199254740992)");
        EXPECT_EQ(problem_of(m, "99999999999999999999"), "'99999999999999999999' is beyond the 64-bit integer range");
        EXPECT_DOUBLE_EQ(number_of(m, "9007199254740992"), 9007199254740992.0);
        EXPECT_DOUBLE_EQ(number_of(m, "9007199254740994"), 9007199254740994.0) << "even: a double holds it";
        EXPECT_DOUBLE_EQ(number_of(m, "9007199254740991"), 9007199254740991.0);
        EXPECT_DOUBLE_EQ(number_of(m, ".0"), 0);
    }
    EXPECT_EQ(problem_of(mapping(DataType::integer), "1e20"), "'1e20' is an integer beyond 2^53, which a reading cannot hold exactly");
    // A float written with a fraction or an exponent is approximate anyway.
    EXPECT_DOUBLE_EQ(number_of(mapping(DataType::float64), "1e20"), 1e20);
    EXPECT_DOUBLE_EQ(number_of(mapping(DataType::float64), "1.5e300"), 1.5e300);
    EXPECT_DOUBLE_EQ(number_of(mapping(DataType::float64), "12345678901234567.5"), 12345678901234567.5);
}

TEST(FieldConversion, CalibrationAppliesScaleThenOffset) {
    EXPECT_DOUBLE_EQ(number_of(mapping(DataType::float64, 0.01), "250"), 2.5);  // cm -> m
    EXPECT_DOUBLE_EQ(number_of(mapping(DataType::float64, 1, -10), "25"), 15);
    EXPECT_DOUBLE_EQ(number_of(mapping(DataType::float64, 0.5, 1), "44.50"), 23.25);
    EXPECT_DOUBLE_EQ(number_of(mapping(DataType::integer, 2, 1), "12"), 25);
    // A value that calibrates to infinity is refused, not stored.
    EXPECT_NE(problem_of(mapping(DataType::float64, 1e10), "1e300").find("out of range once calibrated"), std::string::npos);
}

TEST(FieldConversion, RangeIsCheckedOnTheCalibratedValueInclusively) {
    auto m = mapping(DataType::float64, 0.01);
    m.unit = "m";
    m.min_valid = 0;
    m.max_valid = 5;
    EXPECT_DOUBLE_EQ(number_of(m, "500"), 5);    // raw 500 is far above 5, but 5 m is fine
    EXPECT_DOUBLE_EQ(number_of(m, "0"), 0);
    EXPECT_EQ(problem_of(m, "612"), "value 6.12 m is above max_valid 5");
    EXPECT_EQ(problem_of(m, "-1"), "value -0.01 m is below min_valid 0");

    auto unitless = mapping(DataType::integer);
    unitless.unit.clear();
    unitless.max_valid = 100;
    EXPECT_EQ(problem_of(unitless, "101"), "value 101 is above max_valid 100");
}

TEST(FieldConversion, ReadingCarriesTheMappingsMetricTypeAndUnit) {
    FieldMapping m;
    m.canonical_name = "water_level";
    m.type = DataType::float64;
    m.unit = "cm";
    const auto c = convert_field(m, "188");
    ASSERT_EQ(c.outcome, Outcome::reading);
    EXPECT_EQ(c.reading, (Reading{"water_level", DataType::float64, 188, "", "cm"}));
}

TEST(FieldConversion, ProblemsQuoteAShortSafeExcerpt) {
    const auto f = mapping(DataType::float64);
    const auto long_problem = problem_of(f, std::string(10'000, '9') + "x");
    EXPECT_LT(long_problem.size(), 100u);
    EXPECT_NE(long_problem.find("...' is not a float"), std::string::npos) << long_problem;

    EXPECT_EQ(problem_of(f, "1\n2\x1b"), "'1?2?' is not a float");

    // Cut on a UTF-8 boundary: byte 64 of "a" + "é"*40 is the second byte of an 'é'.
    std::string accented = "a";
    for (int i = 0; i < 40; ++i) accented += "\xc3\xa9";
    std::string expected = "'a";
    for (int i = 0; i < 31; ++i) expected += "\xc3\xa9";
    EXPECT_EQ(problem_of(f, accented), expected + "...' is not a float");
}
