#!/usr/bin/env python3
"""Latency of one poll, from the HTTP request the daemon sends to the WebSocket delivery of
what it found: the demo network on flowgate-sim, the daemon, and flowgate-ws-cat.

    scripts/services start && eval "$(scripts/services env)"
    bench/poll_to_ws.py [--seconds 60] [--batch-interval 200ms]

For every poll that found new entries: t(first WebSocket message of that node) minus
t(the simulator's log line for that channel's request). Both clocks are this machine's wall
clock. Prints the median, p90 and the number of polls. Uses its own database.
"""
import argparse, json, os, subprocess, sys, tempfile, time, urllib.parse, threading
from datetime import datetime

repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
build = os.environ.get("FLOWGATE_BUILD_DIR", os.path.join(repo, "build"))
CHANNEL = {n: 2100100 + n for n in range(1, 9)}  # demo node id -> simulator channel


def ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--batch-interval", default="200ms")
    ap.add_argument("--poll-interval", type=int, default=2)
    args = ap.parse_args()
    base = os.environ["FLOWGATE_DATABASE_URL"]
    db = "flowgate_bench"
    admin = base
    subprocess.run(["psql", admin, "-q", "-c", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)", "-c", f"CREATE DATABASE {db}"], check=True)
    url = base[: base.rfind("/") + 1] + db
    tmp = tempfile.mkdtemp()
    sim_log = open(os.path.join(tmp, "sim.log"), "w")
    sim = subprocess.Popen([f"{build}/tools/thingspeak-sim/flowgate-sim", "--config", f"{repo}/config/sim-demo.toml",
                            "--listen", "127.0.0.1:0", "--port-file", f"{tmp}/sim.port", "--speed", "10",
                            "--log-level", "debug", "--log-format", "json"], stderr=sim_log)
    procs = [sim]
    try:
        while not os.path.exists(f"{tmp}/sim.port"):
            time.sleep(0.05)
        sim_port = open(f"{tmp}/sim.port").read().strip()
        with open(f"{tmp}/flowgate.toml", "w") as f:
            f.write(f'[log]\nformat = "json"\n[thingspeak]\nbase_url = "http://127.0.0.1:{sim_port}"\n'
                    f'[database]\nbatch_interval = "{args.batch_interval}"\n[http]\nlisten = "127.0.0.1:0"\n[auth]\nmode = "none"\n')
        env = dict(os.environ, FLOWGATE_DATABASE_URL=url)
        subprocess.run([f"{build}/src/flowgate", "migrate", "--config", f"{tmp}/flowgate.toml"], env=env, check=True,
                       stderr=subprocess.DEVNULL)
        subprocess.run(["psql", url, "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f", f"{repo}/config/demo-devices.sql"],
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["psql", url, "-q", "-c", f"UPDATE nodes SET polling_interval_s = {args.poll_interval}"], check=True)
        daemon = subprocess.Popen([f"{build}/src/flowgate", "run", "--config", f"{tmp}/flowgate.toml", "--port-file",
                                   f"{tmp}/daemon.port"], env=env, stderr=subprocess.DEVNULL)
        procs.append(daemon)
        while not os.path.exists(f"{tmp}/daemon.port"):
            time.sleep(0.05)
        port = open(f"{tmp}/daemon.port").read().strip()
        ws = subprocess.Popen([f"{build}/tools/ws-cat/flowgate-ws-cat", f"ws://127.0.0.1:{port}/ws/community/1/updates",
                               "--timeout", str(args.seconds + 30)], stdout=subprocess.PIPE, text=True)
        procs.append(ws)
        arrivals = []  # (wall time, node)
        def read():
            for line in ws.stdout:
                arrivals.append((time.time(), json.loads(line)["node_id"]))
        threading.Thread(target=read, daemon=True).start()
        time.sleep(args.seconds)
    finally:
        for p in reversed(procs):
            p.terminate()
            p.wait()
        sim_log.close()

    requests = {}  # channel -> sorted request times
    for line in open(os.path.join(tmp, "sim.log")):
        rec = json.loads(line)
        if rec.get("msg") == "request" and "/feeds.json" in rec.get("target", ""):
            channel = int(rec["target"].split("/")[2])
            requests.setdefault(channel, []).append(ts(rec["time"]))
    latencies, seen = [], set()
    for t, node in arrivals:
        sent = [r for r in requests.get(CHANNEL[node], []) if r <= t]
        if not sent or (node, sent[-1]) in seen:
            continue  # a later message of the same poll
        seen.add((node, sent[-1]))
        latencies.append((t - sent[-1]) * 1000)
    latencies = latencies[8:]  # drop the first poll of each device (100-entry backlog)
    latencies.sort()
    if not latencies:
        sys.exit("no polls measured")
    median = latencies[len(latencies) // 2]
    p90 = latencies[int(len(latencies) * 0.9)]
    print(f"batch_interval={args.batch_interval} polls={len(latencies)} median_ms={median:.1f} p90_ms={p90:.1f} "
          f"min_ms={latencies[0]:.1f} max_ms={latencies[-1]:.1f}")


if __name__ == "__main__":
    main()
