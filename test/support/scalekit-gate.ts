import net from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * The network between scimflow and Scalekit, for outage tests and benchmarks: a TCP gate on a
 * loopback port in front of the emulator. `open` passes every byte; `refuse` stops listening, so
 * connections are refused (nothing listens on the port); `hang` accepts connections and never
 * answers. Changing the mode drops the connections already made, as an outage does.
 */

export type GateMode = 'open' | 'refuse' | 'hang';

export interface ScalekitGate {
  /** `http://127.0.0.1:<port>`: the Scalekit environment URL to give scimflow. */
  readonly url: string;
  readonly mode: GateMode;
  set(mode: GateMode): Promise<void>;
  close(): Promise<void>;
}

export async function startScalekitGate(target: string): Promise<ScalekitGate> {
  const { hostname, port } = new URL(target);
  let mode: GateMode = 'open';
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  const server = net.createServer((client) => {
    track(client);
    if (mode === 'hang') {
      // Read and drop whatever comes; answer nothing.
      client.resume();
      return;
    }
    const upstream = net.connect(Number(port), hostname);
    track(upstream);
    upstream.on('close', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  const listen = (p: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  const stopListening = () => new Promise((resolve) => server.close(resolve));
  await listen(0);
  const gatePort = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${gatePort}`,
    get mode() {
      return mode;
    },
    async set(next: GateMode) {
      if (next === mode) return;
      const wasListening = mode !== 'refuse';
      mode = next;
      for (const s of sockets) s.destroy();
      if (next === 'refuse' && wasListening) await stopListening();
      // The same port again (a port freed a moment ago is not handed out at once).
      if (next !== 'refuse' && !wasListening) await listen(gatePort);
    },
    async close() {
      for (const s of sockets) s.destroy();
      if (mode !== 'refuse') await stopListening();
    },
  };
}
