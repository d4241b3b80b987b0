#!/usr/bin/env python3
"""docker/Dockerfile and docker-compose.yml, checked without Docker (scripts/docker-check builds
and runs the image, by hand): the compose file's shape (services, health checks, start order,
the demo profile, no secret written in it), that the build stage copies every directory the
build reads, and the image's runtime packages against what the built daemon links.

  docker_files_test.py REPO FLOWGATE_BINARY
"""
import os
import re
import subprocess
import sys

import yaml

repo, binary = sys.argv[1], sys.argv[2]
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)


with open(os.path.join(repo, "docker-compose.yml")) as f:
    compose = yaml.safe_load(f)
services = compose["services"]
check(set(services) == {"postgres", "redis", "mosquitto", "migrate", "flowgate", "sim"}, f"services: {sorted(services)}")
for name in ("postgres", "redis", "mosquitto", "flowgate", "sim"):
    check("healthcheck" in services[name], f"{name} has no healthcheck")
check(services["sim"].get("profiles") == ["demo"], "the simulator is not under the demo profile")
check(services["flowgate"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully",
      "flowgate does not wait for the migrations")
check(services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy", "migrate does not wait for PostgreSQL")
check("readyz" in " ".join(services["flowgate"]["healthcheck"]["test"]), "flowgate's healthcheck is not /readyz")
for name, service in services.items():
    for key, value in (service.get("environment") or {}).items():
        check(not re.search(r"SECRET|PASSWORD", key) , f"{name}: {key} written in the compose file")
    check(service.get("env_file", "docker/flowgate.env") == "docker/flowgate.env", f"{name}: env_file")
example = open(os.path.join(repo, "docker/flowgate.env.example")).read()
for key in ("POSTGRES_PASSWORD", "FLOWGATE_DATABASE_URL", "FLOWGATE_AUTH_SECRETS"):
    check(re.search(rf"^{key}=", example, re.M), f"docker/flowgate.env.example lacks {key}")

dockerfile = open(os.path.join(repo, "docker/Dockerfile")).read()
stages = re.findall(r"^FROM (\S+)", dockerfile, re.M)
check(stages == ["debian:bookworm", "debian:bookworm-slim"], f"base images: {stages}")
check(re.search(r"^USER flowgate$", dockerfile, re.M), "the image does not run as the flowgate user")
# The build stage copies every top-level directory the CMake build of the binaries reads (web/
# is compiled into the daemon; the tests' own CMake files name scripts only to run them).
copied = set(re.findall(r"^COPY (\S+) ", dockerfile.split("FROM debian:bookworm-slim", 1)[0], re.M))
read = set()
for directory, _, files in os.walk(repo):
    parts = os.path.relpath(directory, repo).split(os.sep)
    if parts[0] == "tests" or any(part.startswith((".", "build")) or part == "node_modules" for part in parts):
        continue
    for name in files:
        if name == "CMakeLists.txt" or name.endswith(".cmake"):
            text = open(os.path.join(directory, name)).read()
            read |= set(re.findall(r"\$\{PROJECT_SOURCE_DIR\}/([\w.-]+)", text))
            read |= set(re.findall(r"^\s*add_subdirectory\(([\w.-]+)", text, re.M)) if directory == repo else set()
for top in sorted(read):
    check(not os.path.isdir(os.path.join(repo, top)) or top in copied, f"the build reads {top}/ but the Dockerfile does not COPY it")

final = dockerfile.split("FROM debian:bookworm-slim", 1)[1]
packages = set(re.findall(r"\b(lib[\w.+-]+|zlib1g)\b", final.split("&&")[1]))

# Every shared library the daemon links (beyond libc's and the compiler's) comes from a
# package the image installs, or from one of those packages' own dependencies.
ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
direct = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout
needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", direct)
base = {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1"}
for soname in needed:
    # A sanitizer build (CI's build-asan) links its runtime; the image's release build does not.
    if soname in base or re.match(r"lib(a|ub|t)san\.so", soname):
        continue
    path = re.search(rf"{re.escape(soname)} => (\S+)", ldd).group(1)
    owner = ""
    for directory in ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu"):  # merged /usr: dpkg knows one
        found = subprocess.run(["dpkg", "-S", os.path.join(directory, os.path.basename(path))], capture_output=True, text=True)
        owner = owner or found.stdout.split(":")[0]
    check(owner in packages, f"{soname} comes from {owner or '?'}, which the image does not install")

for f in failures:
    print("FAIL:", f)
print(f"docker files: {len(failures)} problems; image packages {sorted(packages)}")
sys.exit(1 if failures else 0)
