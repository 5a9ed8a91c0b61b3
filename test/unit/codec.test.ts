import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DECRYPT_ONLY, ENCRYPTED_ENCODING, EncryptionCodec, encryptionProblem, PayloadDecryptionError } from '../../temporal/codec';

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => new TextDecoder().decode(b ?? new Uint8Array());
const key = (id: string) => ({ id, key: randomBytes(32) });
const plain = { metadata: { encoding: utf8('json/plain') }, data: utf8('{"email":"ada.lovelace@example.com","givenName":"Ada"}') };

describe('EncryptionCodec', () => {
  it('encrypts a payload so nothing of it is readable, and decrypts it back exactly', async () => {
    const codec = new EncryptionCodec([key('k1')]);
    const [sealed] = await codec.encode([plain]);
    expect(text(sealed?.metadata?.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(text(sealed?.metadata?.['encryption-key-id'])).toBe('k1');
    expect(Buffer.from(sealed!.data!).includes('ada.lovelace')).toBe(false);
    expect(Buffer.from(sealed!.data!).includes('json/plain')).toBe(false);
    const [opened] = await codec.decode([sealed!]);
    expect(text(opened?.data)).toBe(text(plain.data));
    expect(text(opened?.metadata?.encoding)).toBe('json/plain');
  });

  it('uses a fresh IV each time: the same payload never encrypts the same way twice', async () => {
    const codec = new EncryptionCodec([key('k1')]);
    const [a, b] = await codec.encode([plain, plain]);
    expect(Buffer.from(a!.data!).equals(Buffer.from(b!.data!))).toBe(false);
  });

  it('rotates: a new first key encrypts, the old one still decrypts what it encrypted', async () => {
    const old = key('2026-01');
    const sealedOld = (await new EncryptionCodec([old]).encode([plain]))[0]!;
    const rotated = new EncryptionCodec([key('2026-07'), old]);
    expect(text((await rotated.decode([sealedOld]))[0]?.data)).toBe(text(plain.data));
    expect(text((await rotated.encode([plain]))[0]?.metadata?.['encryption-key-id'])).toBe('2026-07');
  });

  it('refuses to decrypt with an unknown key, a wrong key under the same id, or a changed ciphertext', async () => {
    const sealed = (await new EncryptionCodec([key('k1')]).encode([plain]))[0]!;
    await expect(new EncryptionCodec([key('k2')]).decode([sealed])).rejects.toThrow(/key "k1", which is not among PAYLOAD_ENCRYPTION_KEYS/);
    await expect(new EncryptionCodec([key('k1')]).decode([sealed])).rejects.toThrow(PayloadDecryptionError);
    const own = new EncryptionCodec([key('k3')]);
    const mine = (await own.encode([plain]))[0]!;
    const data = Buffer.from(mine.data!);
    data[20] = (data[20] ?? 0) ^ 1;
    await expect(own.decode([{ ...mine, data }])).rejects.toThrow(/does not decrypt: it was changed, or the key is not the one/);
    await expect(own.decode([{ ...mine, data: data.subarray(0, 10) }])).rejects.toThrow(/too short/);
  });

  it('leaves payloads that were never encrypted as they are (histories from before encryption)', async () => {
    expect(await new EncryptionCodec([key('k1')]).decode([plain])).toEqual([plain]);
  });

  it('turns encryption off with "none" first: new payloads stay as they are, old ones still decrypt', async () => {
    const old = key('2026-01');
    const sealed = (await new EncryptionCodec([old]).encode([plain]))[0]!;
    const off = new EncryptionCodec([{ id: DECRYPT_ONLY, key: Buffer.alloc(0) }, old]);
    expect(off.encrypting).toBe(false);
    expect(await off.encode([plain])).toEqual([plain]);
    expect(text((await off.decode([sealed]))[0]?.data)).toBe(text(plain.data));
  });

  it('says what to do when a payload cannot be read for want of a key', async () => {
    const sealed = (await new EncryptionCodec([key('k1')]).encode([plain]))[0]!;
    const wrongKey = await new EncryptionCodec([key('k2')]).decode([sealed]).catch((e: unknown) => e);
    expect(encryptionProblem(new Error('query failed', { cause: wrongKey }))).toMatch(
      /key "k1".*; set PAYLOAD_ENCRYPTION_KEYS to the keys the worker uses$/,
    );
    expect(encryptionProblem(new Error('Unknown encoding: binary/encrypted'))).toMatch(
      /this process has no key: set PAYLOAD_ENCRYPTION_KEYS/,
    );
    expect(encryptionProblem(new Error('connection refused'))).toBeNull();
  });

  it('needs 32-byte keys, at least one', () => {
    expect(() => new EncryptionCodec([])).toThrow(/at least one/);
    expect(() => new EncryptionCodec([{ id: 'short', key: randomBytes(16) }])).toThrow(/short must be 32 bytes/);
  });
});
