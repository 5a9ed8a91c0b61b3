import net from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * The network between scimflow and Scalekit, for outage tests and benchmarks: a TCP gate on a
 * loopback port in front of the emulator. `open` passes every byte; `refuse` resets each
 * connection as it arrives, so every attempt fails at once (as with a port nobody listens on);
 * `hang` accepts connections and never answers. Changing the mode drops the connections already
 * made, as an outage does. The gate keeps its port throughout: it never stops listening, so no
 * other socket can take the port while it is "down".
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
    if (mode === 'refuse') {
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
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
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get mode() {
      return mode;
    },
    async set(next: GateMode) {
      if (next === mode) return;
      mode = next;
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
