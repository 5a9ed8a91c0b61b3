import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startScalekitGate, type ScalekitGate } from '../support/scalekit-gate';

/**
 * The gate the outage tests put between scimflow and Scalekit: it keeps its port while Scalekit is
 * "down", so bringing it back can never fail because something else took the port meanwhile.
 */

let upstream: net.Server;
let gate: ScalekitGate;
beforeAll(async () => {
  // Answers each connection with "pong".
  upstream = net.createServer((s) => s.end('pong'));
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  gate = await startScalekitGate(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
});
afterAll(async () => {
  await gate?.close();
  await new Promise((r) => upstream?.close(r));
});

/** What a connection through the gate reads, or the error it ends with. */
function exchange(): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(Number(new URL(gate.url).port), '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    socket.on('end', () => resolve(text));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

it('passes bytes when open, fails every connection when refusing, and opens again on the same port', async () => {
  expect(await exchange()).toBe('pong');
  for (let round = 0; round < 3; round++) {
    await gate.set('refuse');
    expect(await exchange()).toMatch(/^(ECONNRESET|ECONNREFUSED|EPIPE)$/);
    // Meanwhile the port cannot be taken by anything else.
    const squatter = net.createServer();
    const taken = await new Promise<string>((resolve) => {
      squatter.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      squatter.listen(Number(new URL(gate.url).port), '127.0.0.1', () => resolve('listening'));
    });
    if (taken === 'listening') await new Promise((r) => squatter.close(r));
    expect(taken).toBe('EADDRINUSE');
    await gate.set('open');
    expect(await exchange()).toBe('pong');
  }
});
