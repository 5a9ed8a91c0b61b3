import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One webhook as it reached the receiver: exact body bytes and headers. */
export interface ReceivedWebhook {
  body: string;
  headers: Record<string, string>;
  receivedAt: number;
  status: number;
}

/**
 * A tiny webhook receiver on 127.0.0.1:0 for tests. `respond` decides the status of each request
 * (default 200); every request is recorded, whatever the answer.
 */
export async function startReceiver(
  respond: (body: string, headers: Record<string, string>, n: number) => number | Promise<number> = () => 200,
) {
  const received: ReceivedWebhook[] = [];
  let responder = respond;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
      void Promise.resolve(responder(body, headers, received.length)).then((status) => {
        received.push({ body, headers, receivedAt: Date.now(), status });
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(String(status));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/scalekit`,
    received,
    setResponder(fn: typeof respond) {
      responder = fn;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
