#!/usr/bin/env python3
"""Polling throughput and CPU per poll: N private channels on flowgate-sim, N devices
polled every second (more than the daemon can do, so it runs flat out), PostgreSQL and
Redis on, the daemon pinned to one core and the simulator to the other.

    scripts/services start && eval "$(scripts/services env)"
    bench/ingest/run.py [--devices 1000] [--seconds 30] [--runs 3]

Each run: polls/s (the simulator's 200 answers: feed reads and last_entry_id probes), the
share of probes, readings stored/s (PostgreSQL), the daemon's CPU per poll in µs
(utime+stime from /proc over the same window, so it covers fetch, parse, normalize, store
and publish), and then `wrk` on one channel's probe and on its feeds.json with the query the
daemon sends, against the same simulator in the same run; polls/wrk compares with what wrk
gets from the same mix of the two. Prints one line per run and the medians. Uses its own
database (flowgate_bench_ingest).
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time, urllib.request
from datetime import datetime, timedelta, timezone

repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
build = os.environ.get("FLOWGATE_BUILD_DIR", os.path.join(repo, "build"))
FIRST_CHANNEL = 3_000_001
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def sim_config(n, path):
    with open(path, "w") as f:
        f.write('seed = 1\nspeed = 1.0\nhistory = "20m"\n')
        for i in range(n):
            f.write(f'[[channels]]\nid = {FIRST_CHANNEL + i}\nname = "bench {i}"\ninterval = "15s"\n'
                    f'read_key = "BENCHKEY{i:08d}"\n'
                    '  [[channels.fields]]\n  n = 1\n  label = "Level"\n  signal = "tank_level"\n'
                    '  min = 10\n  max = 300\n  decimals = 1\n'
                    '  [[channels.fields]]\n  n = 2\n  label = "Temp"\n  signal = "temperature"\n'
                    '  mean = 26\n  amplitude = 3\n  decimals = 2\n')


def devices_sql(n):
    rows = ",".join(f"({i + 1},1,'bench {i}','OHT',1,5,'thingspeak',true)" for i in range(n))
    maps = ",".join(f"({i + 1},{FIRST_CHANNEL + i},'BENCHKEY{i:08d}')" for i in range(n))
    fields = ",".join(f"({i + 1},1,'water_level','float',1,0,'cm',NULL,NULL,'Level'),"
                      f"({i + 1},2,'water_temperature','float',1,0,'C',NULL,NULL,'Temp')" for i in range(n))
    return ("INSERT INTO communities (id, name) VALUES (1, 'bench');\n"
            "INSERT INTO nodes (id, community_id, name, category, polling_interval_s, priority, telemetry_source,"
            f" enabled) VALUES {rows};\n"
            f"INSERT INTO device_thingspeak_mapping (device_id, channel_id, read_api_key) VALUES {maps};\n"
            "INSERT INTO thingspeak_field_mappings (device_id, thingspeak_field, canonical_name, data_type,"
            f" scale_factor, \"offset\", unit, min_valid, max_valid, expected_label) VALUES {fields};\n")


def sim_stats(port):
    """(200 answers, of them probes): the sim counts by status and by resource, so probes
    are counted whatever they answered; the daemon's probes all answer 200 here."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_sim/stats") as r:
        total = json.load(r)["total"]
        return total["by_status"].get("200", 0), total["by_resource"].get("feeds/last_entry_id", 0)


def wrk(port, path, concurrency):
    out = subprocess.run(["taskset", "-c", "0", "wrk", "-t1", f"-c{concurrency}", "-d10s",
                          f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    return float(next(l.split()[1] for l in out.splitlines() if l.startswith("Requests/sec")))


def one_run(args, tmp):
    base = os.environ["FLOWGATE_DATABASE_URL"]
    db = "flowgate_bench_ingest"
    subprocess.run(["psql", base, "-q", "-c", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", "-c",
                    f"CREATE DATABASE {db}"], check=True)
    url = base[: base.rfind("/") + 1] + db
    subprocess.run(["redis-cli", "-u", os.environ["FLOWGATE_REDIS_URL"] + "/8", "FLUSHDB"], check=True,
                   stdout=subprocess.DEVNULL)
    for name in ("sim.port", "daemon.port"):
        if os.path.exists(f"{tmp}/{name}"):
            os.remove(f"{tmp}/{name}")
    procs = []
    try:
        sim = subprocess.Popen(["taskset", "-c", "1", f"{build}/tools/thingspeak-sim/flowgate-sim", "--config",
                                f"{tmp}/sim.toml", "--listen", "127.0.0.1:0", "--port-file", f"{tmp}/sim.port",
                                "--log-level", "warn"])
        procs.append(sim)
        while not os.path.exists(f"{tmp}/sim.port"):
            time.sleep(0.05)
        sim_port = open(f"{tmp}/sim.port").read().strip()
        with open(f"{tmp}/flowgate.toml", "w") as f:
            f.write(f'[log]\nlevel = "warn"\n[thingspeak]\nbase_url = "http://127.0.0.1:{sim_port}"\n'
                    f'max_concurrent_polls = {args.concurrency}\nbudget_per_minute = 60000\n'
                    '[http]\nlisten = "127.0.0.1:0"\n[auth]\nmode = "none"\n')
        env = dict(os.environ, FLOWGATE_DATABASE_URL=url, FLOWGATE_REDIS_URL=os.environ["FLOWGATE_REDIS_URL"] + "/8")
        subprocess.run([f"{build}/src/flowgate", "migrate", "--config", f"{tmp}/flowgate.toml"], env=env, check=True,
                       stderr=subprocess.DEVNULL)
        subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f", f"{tmp}/devices.sql"], check=True,
                       stdout=subprocess.DEVNULL)
        daemon = subprocess.Popen(["taskset", "-c", "0", f"{build}/src/flowgate", "run", "--config",
                                   f"{tmp}/flowgate.toml", "--port-file", f"{tmp}/daemon.port"], env=env)
        procs.append(daemon)
        while not os.path.exists(f"{tmp}/daemon.port"):
            time.sleep(0.05)
        time.sleep(args.warmup)  # past the first polls' 100-entry backlogs
        stored = lambda: int(subprocess.run(["psql", url, "-tAc", "SELECT count(*) FROM telemetry_readings"],
                                            capture_output=True, text=True, check=True).stdout)
        (p0, q0), c0, r0, t0 = sim_stats(sim_port), cpu_seconds(daemon.pid), stored(), time.monotonic()
        time.sleep(args.seconds)
        (p1, q1), c1, r1, t1 = sim_stats(sim_port), cpu_seconds(daemon.pid), stored(), time.monotonic()
        daemon.terminate()
        daemon.wait()
        procs.remove(daemon)

        start = (datetime.now(timezone.utc) - timedelta(minutes=10)).strftime("%Y-%m-%d%%20%H:%M:%S")
        key = "api_key=BENCHKEY00000000"
        wrk_feed = wrk(sim_port, f"/channels/{FIRST_CHANNEL}/feeds.json?results=8000&start={start}&{key}",
                       args.concurrency)
        wrk_probe = wrk(sim_port, f"/channels/{FIRST_CHANNEL}/feeds/last_entry_id.json?{key}", args.concurrency)
    finally:
        for p in procs:
            p.terminate()
            p.wait()
    polls = p1 - p0
    probe_share = (q1 - q0) / max(polls, 1)
    # What wrk would serve of the same mix: each request takes the time wrk's rate gives it.
    wrk_mix = 1 / (probe_share / wrk_probe + (1 - probe_share) / wrk_feed)
    return {"polls_per_s": polls / (t1 - t0), "probe_pct": 100 * probe_share,
            "readings_per_s": (r1 - r0) / (t1 - t0), "cpu_us_per_poll": (c1 - c0) * 1e6 / max(polls, 1),
            "daemon_cpu": (c1 - c0) / (t1 - t0), "wrk_probe_rps": wrk_probe, "wrk_feed_rps": wrk_feed,
            "wrk_mix_rps": wrk_mix}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    subprocess.run(["which", "wrk"], check=True, stdout=subprocess.DEVNULL)
    tmp = tempfile.mkdtemp()
    sim_config(args.devices, f"{tmp}/sim.toml")
    open(f"{tmp}/devices.sql", "w").write(devices_sql(args.devices))
    results = []
    for run in range(args.runs):
        r = one_run(args, tmp)
        results.append(r)
        print(f"run {run + 1}: " + " ".join(f"{k}={v:.1f}" for k, v in r.items()), flush=True)
    med = {k: statistics.median(r[k] for r in results) for k in results[0]}
    print(f"devices={args.devices} concurrency={args.concurrency} median: " +
          " ".join(f"{k}={v:.1f}" for k, v in med.items()) +
          f" polls/wrk={med['polls_per_s'] / med['wrk_mix_rps']:.2f}")


if __name__ == "__main__":
    sys.exit(main())
