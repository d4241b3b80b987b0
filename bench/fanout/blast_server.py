#!/usr/bin/env python3
"""Checks the client's ceiling, not a server's: a WebSocket server that sends every client
of a topic the same large chunks of ready-made BENCH frames as fast as the sockets take them.

    taskset -c 0 python3 bench/fanout/blast_server.py --port 58102 &
    taskset -c 1 build-bench/bench/fanout/flowgate-bench-fanout --port 58102 --clients 100 \
        --rates 1000 --step-seconds 3 --no-perf
The "deliveries/s" column is then what the client sustains ("missing" means nothing here)."""
import argparse, base64, hashlib, os, re, selectors, socket, time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
PAD = b"x" * 110


def frame(payload):
    n = len(payload)
    head = bytes([0x81, n]) if n < 126 else bytes([0x81, 126, n >> 8, n & 0xFF])
    return head + payload


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=58102)
    ap.add_argument("--chunk", type=int, default=1000, help="frames per chunk")
    args = ap.parse_args()
    sel = selectors.DefaultSelector()
    lsock = socket.create_server(("127.0.0.1", args.port), backlog=1024)
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ)
    pending = {}  # socket -> request bytes
    topics = {}   # topic -> list of open sockets
    seq = {}      # topic -> next seq
    epoch = str(time.time_ns() // 1000).encode()
    while True:
        busy = any(topics.values())
        for key, _ in sel.select(0 if busy else 0.1):
            s = key.fileobj
            if s is lsock:
                try:
                    c, _ = lsock.accept()
                except BlockingIOError:
                    continue
                c.setblocking(False)
                pending[c] = b""
                sel.register(c, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(65536)
            except (BlockingIOError, ConnectionError):
                data = b"" if not isinstance(s, socket.socket) else None
            if not data:
                sel.unregister(s)
                pending.pop(s, None)
                for lst in topics.values():
                    if s in lst:
                        lst.remove(s)
                s.close()
                continue
            if s not in pending:
                continue  # pongs and such
            pending[s] += data
            if b"\r\n\r\n" not in pending[s]:
                continue
            req = pending.pop(s)
            m = re.match(rb"GET /ws/community/(\d+)/updates ", req)
            k = re.search(rb"Sec-WebSocket-Key: *(\S+)", req, re.I)
            if not (m and k):  # the bench's /healthz probe: answer, keep the connection
                s.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{"status":"ok"}')
                pending[s] = b""
                continue
            accept = base64.b64encode(hashlib.sha1(k.group(1) + GUID).digest())
            s.setblocking(True)
            s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            topics.setdefault(int(m.group(1)), []).append(s)
        for topic, lst in topics.items():
            if not lst:
                continue
            n = seq.get(topic, 1)
            t = str(time.monotonic_ns()).encode()
            chunk = b"".join(frame(b'{"seq":%d,"epoch":"%s","type":"BENCH","t":%s,"pad":"%s"}' % (n + i, epoch, t, PAD))
                             for i in range(args.chunk))
            seq[topic] = n + args.chunk
            for c in list(lst):
                try:
                    c.sendall(chunk)
                except OSError:
                    lst.remove(c)


if __name__ == "__main__":
    main()
