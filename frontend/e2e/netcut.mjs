// A TCP proxy in front of the app whose "network" the test can cut: `cut()` drops every open
// connection (an SSE stream dies mid-reply, as when Wi-Fi goes away) and refuses new ones until
// `restore()`. Only for tests; listens on 127.0.0.1.
import net from 'node:net';

export async function startNetCut(targetUrl) {
  const target = new URL(targetUrl);
  const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80));
  const sockets = new Set();
  let down = false;
  const server = net.createServer((client) => {
    if (down) return client.destroy();
    const upstream = net.connect(port, target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      down = false;
    },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}
