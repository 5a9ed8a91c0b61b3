import { ScalekitClient } from '@scalekit-sdk/node';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startEmulator, type EmulatorHandle } from '../../emulator';
import { startReceiver } from './receiver';

// An emulator with a state file remembers its directory across restarts, as Scalekit does, and
// never hands out an id twice, even when the file is lost.

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function stateFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'emulator-state-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'emulator-state.json');
}

async function start(options: Parameters<typeof startEmulator>[0]): Promise<EmulatorHandle> {
  const emulator = await startEmulator({ timeScale: 0.0001, ...options });
  cleanups.push(() => emulator.close());
  return emulator;
}

const idNumber = (id: string) => BigInt(id.replace(/^[a-z]+_/, ''));

describe('state file', () => {
  it('keeps organizations, directories, users, groups, memberships and roles across a restart, and goes on with new ids', async () => {
    const file = stateFile();
    const first = await start({ stateFile: file });
    expect(first.restored).toBe(false);
    const org = first.seedDemo();
    const second = first.addDirectory(org.id, { provider: 'MICROSOFT_AD', name: 'Entra' }, { emit: false });
    const hire = first.createUser(org.id, { email: 'before@acme.example', groupIds: [first.snapshot(org.id).groups[0]!.id] });
    first.setDirectoryEnabled(org.id, false, { directoryId: second.id, emit: false });
    const before = first.snapshot(org.id);
    const eventsBefore = first.events().map((e) => e.id);
    await first.close();

    const again = await start({ stateFile: file });
    expect(again.restored).toBe(true);
    expect(again.snapshot(org.id)).toEqual(before);
    expect(again.getUser(org.id, hire.id).groupIds).toEqual(hire.groupIds);

    // The real SDK sees the same directory.
    const sdk = new ScalekitClient(again.url, again.clientId, again.clientSecret);
    const listed = await sdk.directory.listDirectoryUsers(org.id, before.directory.id, { pageSize: 30 });
    expect(listed.totalSize).toBe(before.users.length);

    // New ids go on after the old ones; no event id comes back.
    const next = again.createUser(org.id, { email: 'after@acme.example' });
    expect(idNumber(next.id) > idNumber(hire.id)).toBe(true);
    expect(before.users.map((u) => u.id)).not.toContain(next.id);
    const newEvent = again.events().at(-1)!;
    expect(eventsBefore).not.toContain(newEvent.id);
    expect(idNumber(newEvent.id) > idNumber(eventsBefore.at(-1)!)).toBe(true);
  });

  it('hands out no id twice across starts even when the state file is lost', async () => {
    const file = stateFile();
    const first = await start({ stateFile: file });
    const org = first.createOrganization({ displayName: 'Initech' });
    const users = Array.from({ length: 200 }, (_, i) => first.createUser(org.id, { email: `p${i}@initech.example` }).id);
    const events = first.events().map((e) => e.id);
    const messages = first.events().map((e) => e.webhookId);
    await first.close();
    rmSync(file);

    const again = await start({ stateFile: file });
    expect(again.restored).toBe(false);
    const org2 = again.createOrganization({ displayName: 'Initech' });
    const user = again.createUser(org2.id, { email: 'p0@initech.example' });
    expect(org2.id).not.toBe(org.id);
    expect(users).not.toContain(user.id);
    for (const e of again.events()) {
      expect(events).not.toContain(e.id);
      expect(messages).not.toContain(e.webhookId);
    }
  });

  it('sends the webhooks still pending at shutdown after the restart, held until deliveries resume', async () => {
    const receiver = await startReceiver(() => 503);
    cleanups.push(() => receiver.close());
    const file = stateFile();
    const first = await start({ stateFile: file, webhookUrl: receiver.url, timeScale: 1 });
    const org = first.createOrganization({ displayName: 'Pending Co' });
    const user = first.createUser(org.id, { email: 'waiting@pending.example' });
    await expectEventually(() => receiver.received.length >= 2);
    const pending = first.events().map((e) => e.id);
    await first.close();
    expect(JSON.parse(readFileSync(file, 'utf8')).pendingDeliveries).toHaveLength(2);

    receiver.setResponder(() => 200);
    const seen = receiver.received.length;
    const again = await start({ stateFile: file, holdDeliveries: true });
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.received.length).toBe(seen);
    again.resumeDeliveries();
    await again.settled(10_000);
    const delivered = again.deliveryLog().filter((e) => e.outcome === 'delivered');
    expect(delivered.map((e) => e.eventId).sort()).toEqual([...pending].sort());
    expect(receiver.received.slice(seen).some((r) => r.body.includes(user.id))).toBe(true);
  });

  it('refuses a state file it cannot read, saying which', async () => {
    const file = stateFile();
    writeFileSync(file, '{"version": 1, "organizations": [');
    await expect(startEmulator({ stateFile: file })).rejects.toThrow(/emulator-state\.json cannot be read/);
    expect(existsSync(file)).toBe(true);
  });
});

async function expectEventually(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
