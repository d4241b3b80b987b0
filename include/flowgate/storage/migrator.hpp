#pragma once

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "flowgate/obs/logger.hpp"

namespace flowgate::storage {

/// One file of the migrations directory: "0002_add_alerts.sql" is version 2.
struct MigrationFile {
    int version = 0;
    std::string file_name;  ///< "0002_add_alerts.sql"
    std::filesystem::path path;

    friend bool operator==(const MigrationFile&, const MigrationFile&) = default;
};

/// A migration this run applied.
struct AppliedMigration {
    int version = 0;
    std::string file_name;
    std::chrono::milliseconds took{0};
};

/// What a run did.
struct MigrationResult {
    std::vector<AppliedMigration> applied;  ///< in the order applied; empty when up to date
    int schema_version = 0;                 ///< highest version in the database afterwards
};

/// A migration run that could not finish. what() says what to fix: the file, PostgreSQL's
/// message, or which versions disagree. It never contains a database password.
class MigrationError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Brings a database's schema up to the newest `NNNN_name.sql` file of a directory.
///
/// Pending files are applied in version order, each in its own transaction together with its
/// row in `schema_migrations(version, name, applied_at)`, so a failing file leaves nothing
/// behind and the next run starts from it again. A session advisory lock serializes instances
/// that start at the same time; the second one waits, then finds nothing to do. Refuses a
/// database whose schema is newer than the newest file, and a directory whose numbering has a
/// gap or a duplicate.
class Migrator {
public:
    /// `url` is a libpq URL or connection string; it is only shown with its password redacted.
    /// Each applied file is logged at info through `logger`.
    Migrator(std::string url, std::filesystem::path directory, obs::Logger logger);

    /// The directory's migration files in version order; throws MigrationError when the
    /// directory is missing, a *.sql file is not named NNNN_name.sql, or the versions are not
    /// exactly 1, 2, 3, … (the message names the offending files). Other files are ignored.
    static std::vector<MigrationFile> scan(const std::filesystem::path& directory);

    /// Applies every pending migration; throws MigrationError if any step fails.
    MigrationResult run();

private:
    std::string url_;
    std::filesystem::path directory_;
    obs::Logger logger_;
};

/// One call for `flowgate migrate` and the daemon's start-up: Migrator{url, directory, logger}.run().
MigrationResult run_migrations(const std::string& url, const std::filesystem::path& directory,
                               const obs::Logger& logger);

} // namespace flowgate::storage
