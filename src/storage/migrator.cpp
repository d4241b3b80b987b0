#include "flowgate/storage/migrator.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include <pqxx/pqxx>

#include "pg_support.hpp"

namespace flowgate::storage {
namespace {

// Any constant works as long as every flowgate instance uses the same one; this is "flowgate"
// in ASCII, unlikely to collide with another application's advisory locks.
constexpr std::int64_t migration_lock_key = 0x666c6f7767617465;

bool valid_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// "0002_add_alerts.sql" → 2; nullopt when the name is not NNNN_name.sql.
std::optional<int> version_of(const std::string& file_name) {
    constexpr std::string_view suffix = ".sql";
    if (file_name.size() < 4 + 1 + 1 + suffix.size() || !file_name.ends_with(suffix) || file_name[4] != '_') {
        return std::nullopt;
    }
    const std::string_view name = std::string_view{file_name}.substr(5, file_name.size() - 5 - suffix.size());
    if (!std::all_of(name.begin(), name.end(), valid_name_char)) return std::nullopt;
    int version = 0;
    const auto [end, ec] = std::from_chars(file_name.data(), file_name.data() + 4, version);
    if (ec != std::errc{} || end != file_name.data() + 4) return std::nullopt;
    return version;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in{path, std::ios::binary};
    if (!in) throw MigrationError{"cannot read migration " + path.string()};
    std::ostringstream text;
    text << in.rdbuf();
    if (!in && !in.eof()) throw MigrationError{"cannot read migration " + path.string()};
    return text.str();
}

} // namespace

Migrator::Migrator(std::string url, std::filesystem::path directory, obs::Logger logger)
    : url_{std::move(url)}, directory_{std::move(directory)}, logger_{std::move(logger)} {}

std::vector<MigrationFile> Migrator::scan(const std::filesystem::path& directory) {
    std::error_code ec;
    if (!std::filesystem::is_directory(directory, ec)) {
        throw MigrationError{"migrations directory " + directory.string() + " does not exist"};
    }
    std::vector<MigrationFile> files;
    std::vector<std::string> misnamed;
    for (const auto& item : std::filesystem::directory_iterator{directory}) {
        const std::string file_name = item.path().filename().string();
        if (!file_name.ends_with(".sql")) continue;
        if (const auto version = version_of(file_name)) {
            files.push_back({*version, file_name, item.path()});
        } else {
            misnamed.push_back(file_name);
        }
    }
    const std::string where = "migrations directory " + directory.string() + ": ";
    if (!misnamed.empty()) {
        std::sort(misnamed.begin(), misnamed.end());
        std::string list;
        for (const auto& name : misnamed) list += (list.empty() ? "" : ", ") + name;
        throw MigrationError{where + list + (misnamed.size() == 1 ? " is" : " are") +
                             " not named NNNN_name.sql (4 digits, '_', letters, digits, '_' or '-')"};
    }
    std::sort(files.begin(), files.end(), [](const MigrationFile& a, const MigrationFile& b) {
        return a.version != b.version ? a.version < b.version : a.file_name < b.file_name;
    });
    for (std::size_t i = 0; i < files.size(); ++i) {
        const int expected = static_cast<int>(i) + 1;
        if (files[i].version == expected) continue;
        if (i > 0 && files[i].version == files[i - 1].version) {
            throw MigrationError{where + files[i - 1].file_name + " and " + files[i].file_name + " have the same version " +
                                 std::to_string(files[i].version) + "; renumber one of them"};
        }
        if (i == 0) {
            throw MigrationError{where + "the first migration is " + files[0].file_name + "; numbering starts at 0001"};
        }
        throw MigrationError{where + files[i - 1].file_name + " is followed by " + files[i].file_name + ": version " +
                             std::to_string(expected) + " is missing"};
    }
    return files;
}

MigrationResult Migrator::run() {
    // Scan first: a broken directory is reported without touching the database.
    const std::vector<MigrationFile> files = scan(directory_);
    const int newest_file = files.empty() ? 0 : files.back().version;
    const std::string shown_url = obs::redact_secrets(url_);

    std::unique_ptr<pqxx::connection> connection;
    try {
        connection = std::make_unique<pqxx::connection>(detail::with_connect_timeout(url_, std::chrono::seconds{10}));
    } catch (const std::exception& e) {
        throw MigrationError{"cannot connect to PostgreSQL at " + shown_url + ": " +
                             obs::redact_secrets(detail::pg_message(e))};
    }
    detail::NoticeLogger notices{*connection, logger_};

    MigrationResult result;
    try {
        {
            pqxx::nontransaction session{*connection};
            session.exec("SET client_min_messages TO warning");
            if (!session.exec1("SELECT pg_try_advisory_lock(" + std::to_string(migration_lock_key) + ")")[0].as<bool>()) {
                logger_.info("another flowgate is migrating this database; waiting for it to finish");
                session.exec("SELECT pg_advisory_lock(" + std::to_string(migration_lock_key) + ")");
            }
            // Created under the lock: two instances racing on CREATE TABLE IF NOT EXISTS can
            // still collide in the catalog.
            session.exec(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY,"
                " name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())");
        }

        std::set<int> applied_versions;
        {
            pqxx::nontransaction session{*connection};
            for (const auto& row : session.exec("SELECT version FROM schema_migrations ORDER BY version")) {
                applied_versions.insert(row[0].as<int>());
            }
        }
        const int database_version = applied_versions.empty() ? 0 : *applied_versions.rbegin();
        if (database_version > newest_file) {
            throw MigrationError{"database schema is at version " + std::to_string(database_version) +
                                 " but this flowgate knows up to " + std::to_string(newest_file) + ": upgrade flowgate"};
        }

        for (const MigrationFile& file : files) {
            if (applied_versions.contains(file.version)) continue;
            const std::string sql = read_file(file.path);
            logger_.info("applying migration", {{"version", file.version}, {"file", std::string_view{file.file_name}}});
            const auto started = std::chrono::steady_clock::now();
            try {
                pqxx::work txn{*connection, "migration"};
                txn.exec(sql);
                txn.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", file.version,
                                file.file_name);
                txn.commit();
            } catch (const MigrationError&) {
                throw;
            } catch (const std::exception& e) {
                throw MigrationError{"migration " + file.file_name + " failed and was rolled back: " +
                                     obs::redact_secrets(detail::pg_message(e, false))};
            }
            const auto took =
                std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
            logger_.info("applied migration",
                         {{"version", file.version}, {"file", std::string_view{file.file_name}}, {"ms", took.count()}});
            result.applied.push_back({file.version, file.file_name, took});
            applied_versions.insert(file.version);
        }
        result.schema_version = applied_versions.empty() ? 0 : *applied_versions.rbegin();
    } catch (const MigrationError&) {
        throw;
    } catch (const std::exception& e) {
        throw MigrationError{"migrating the database at " + shown_url +
                             " failed: " + obs::redact_secrets(detail::pg_message(e))};
    }
    // Closing the connection releases the advisory lock.
    return result;
}

MigrationResult run_migrations(const std::string& url, const std::filesystem::path& directory,
                               const obs::Logger& logger) {
    return Migrator{url, directory, logger}.run();
}

} // namespace flowgate::storage
