// Reference fan-out server for bench/fanout: what flowgate's WebSocket path does, in the
// most common Node.js way. SUBSCRIBEs to community:{1..TOPICS}:updates in Redis and sends
// every message, as received, to the clients of /ws/community/{i}/updates.
//
//   node server.js [--port 0] [--port-file FILE] [--redis redis://127.0.0.1:56379] [--topics 10]
//
// Port 0 picks a free port; --port-file receives the port once listening.
//
// Like the daemon: one immutable buffer per message shared by all clients, and a client
// more than 1 MiB behind is closed with 4008 "slow consumer".
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const { WebSocketServer } = require('ws');
const { createClient } = require('redis');

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const port = Number(arg('--port', '0'));
const portFile = arg('--port-file', '');
const redisUrl = arg('--redis', process.env.FLOWGATE_REDIS_URL || 'redis://127.0.0.1:56379');
const topics = Number(arg('--topics', '10'));
const maxBuffered = 1 << 20;

const clients = new Map(); // topic id -> Set of sockets
for (let i = 1; i <= topics; ++i) clients.set(i, new Set());

// /healthz answers like the daemon's, for the benchmark's loop-latency probe.
const server = http.createServer((req, res) => {
  if (req.url === '/healthz') {
    const body = '{"status":"ok"}';
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length }).end(body);
  } else {
    res.writeHead(404, { 'Content-Length': 0 }).end();
  }
});
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });

server.on('upgrade', (req, socket, head) => {
  const m = /^\/ws\/community\/(\d+)\/updates$/.exec(req.url);
  const set = m && clients.get(Number(m[1]));
  if (!set) {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    set.add(ws);
    ws.on('close', () => set.delete(ws));
    ws.on('error', () => set.delete(ws));
  });
});

async function main() {
  const sub = createClient({ url: redisUrl });
  sub.on('error', (err) => console.error('redis:', err.message));
  await sub.connect();
  for (let i = 1; i <= topics; ++i) {
    const set = clients.get(i);
    // true: the message as a Buffer, so it is not re-encoded for every client.
    await sub.subscribe(`community:${i}:updates`, (message) => {
      for (const ws of set) {
        if (ws.bufferedAmount > maxBuffered) {
          ws.close(4008, 'slow consumer');
          set.delete(ws);
          continue;
        }
        ws.send(message, { binary: false });
      }
    }, true);
  }
  server.listen(port, '127.0.0.1', () => {
    const actual = server.address().port;
    if (portFile) fs.writeFileSync(portFile, `${actual}\n`);
    console.error(`node-ref: listening on 127.0.0.1:${actual}`);
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
