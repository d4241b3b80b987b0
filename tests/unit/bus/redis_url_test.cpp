#include "flowgate/bus/redis_url.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace flowgate::bus {
namespace {

std::string parse_error(const std::string& url) {
    try {
        RedisUrl::parse(url);
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(RedisUrl, HostOnlyGetsDefaults) {
    const auto url = RedisUrl::parse("redis://redis.internal");
    EXPECT_EQ(url.host, "redis.internal");
    EXPECT_EQ(url.port, 6379);
    EXPECT_EQ(url.db, 0);
    EXPECT_TRUE(url.user.empty());
    EXPECT_TRUE(url.password.empty());
    EXPECT_EQ(url.display(), "redis://redis.internal:6379");
}

TEST(RedisUrl, PortDbAndPassword) {
    const auto url = RedisUrl::parse("redis://:s3cret@127.0.0.1:56379/3");
    EXPECT_EQ(url.host, "127.0.0.1");
    EXPECT_EQ(url.port, 56379);
    EXPECT_EQ(url.db, 3);
    EXPECT_TRUE(url.user.empty());
    EXPECT_EQ(url.password, "s3cret");
    EXPECT_EQ(url.display(), "redis://127.0.0.1:56379/3");
}

TEST(RedisUrl, UserAndPercentEncodedPassword) {
    const auto url = RedisUrl::parse("REDIS://ingest:p%40ss%2Fw%3Ard@host:1/");
    EXPECT_EQ(url.user, "ingest");
    EXPECT_EQ(url.password, "p@ss/w:rd");
    EXPECT_EQ(url.db, 0);
}

TEST(RedisUrl, UnencodedAtInPasswordBelongsToThePassword) {
    const auto url = RedisUrl::parse("redis://:a@b@host:7000");
    EXPECT_EQ(url.password, "a@b");
    EXPECT_EQ(url.host, "host");
}

TEST(RedisUrl, Ipv6InBrackets) {
    const auto url = RedisUrl::parse("redis://[::1]:6380");
    EXPECT_EQ(url.host, "::1");
    EXPECT_EQ(url.port, 6380);
    EXPECT_EQ(url.display(), "redis://[::1]:6380");
}

TEST(RedisUrl, RejectsWhatItCannotServeWithAClearReason) {
    EXPECT_NE(parse_error("http://localhost:6379").find("unsupported scheme 'http://'"), std::string::npos);
    EXPECT_NE(parse_error("rediss://localhost").find("TLS (rediss://) is not supported"), std::string::npos);
    EXPECT_NE(parse_error("localhost:6379").find("must start with redis://"), std::string::npos);
    EXPECT_NE(parse_error("").find("must start with redis://"), std::string::npos);
    EXPECT_NE(parse_error("redis://").find("host is missing"), std::string::npos);
    EXPECT_NE(parse_error("redis://:6379").find("host is missing"), std::string::npos);
    EXPECT_NE(parse_error("redis://host:0").find("port '0' is not a number from 1 to 65535"), std::string::npos);
    EXPECT_NE(parse_error("redis://host:65536").find("from 1 to 65535"), std::string::npos);
    EXPECT_NE(parse_error("redis://host:+80").find("from 1 to 65535"), std::string::npos);
    EXPECT_NE(parse_error("redis://host:").find("port is empty"), std::string::npos);
    EXPECT_NE(parse_error("redis://host/x").find("database '/x' is not a number"), std::string::npos);
    EXPECT_NE(parse_error("redis://host/-1").find("is not a number"), std::string::npos);
    EXPECT_NE(parse_error("redis://host?db=1").find("query"), std::string::npos);
    EXPECT_NE(parse_error("redis://::1:6379").find("brackets"), std::string::npos);
    EXPECT_NE(parse_error("redis://[::1").find("closing ']'"), std::string::npos);
    EXPECT_NE(parse_error("redis://ho st").find("not a valid host name"), std::string::npos);
    EXPECT_NE(parse_error("redis://user@host").find("':password@'"), std::string::npos);
    EXPECT_NE(parse_error("redis://:@host").find("password is empty"), std::string::npos);
    // Every message shows the expected form.
    EXPECT_NE(parse_error("http://x").find("redis://[[user]:password@]host[:port][/db]"), std::string::npos);
}

TEST(RedisUrl, ErrorsNeverQuoteThePassword) {
    for (const std::string url : {"redis://:hunter2@host:notaport", "redis://:hunter2@", "redis://:hunter2%zz@host",
                                  "redis://u:hunter2@ho st", "rediss://:hunter2@host", "redis://:hunter2@host/db"}) {
        const auto message = parse_error(url);
        EXPECT_NE(message, "(no error)") << url;
        EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
    }
}

} // namespace
} // namespace flowgate::bus
