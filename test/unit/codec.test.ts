import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deflateSync, inflateSync } from 'node:zlib';
import proto from '@temporalio/proto';
import {
  COMPRESS_FROM_BYTES,
  COMPRESSED_ENCODING,
  CompressionCodec,
  dataConverter,
  DECRYPT_ONLY,
  describePayloads,
  ENCRYPTED_ENCODING,
  EncryptionCodec,
  encryptionProblem,
  MAX_INFLATED_BYTES,
  payloadCodec,
  PayloadDecompressionError,
  PayloadDecryptionError,
} from '../../temporal/codec';

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

describe('CompressionCodec and the chain scimflow uses', () => {
  // A batch of change records: JSON with the same keys again and again.
  const records = Array.from({ length: 200 }, (_, i) => ({
    id: String(1000 + i),
    organizationId: 'org_1',
    kind: 'user.provisioned',
    view: { id: `diruser_${i}`, email: `person.${i}@example.com`, active: true, groups: [{ id: 'dirgroup_1', name: 'Engineering' }] },
  }));
  const batch = { metadata: { encoding: utf8('json/plain') }, data: utf8(JSON.stringify({ organizationId: 'org_1', records })) };

  it('compresses a batch of records severalfold in the Go SDK ZlibCodec format, and decodes it back exactly', async () => {
    const [packed] = await new CompressionCodec().encode([batch]);
    expect(text(packed?.metadata?.encoding)).toBe(COMPRESSED_ENCODING);
    expect(packed!.data!.length).toBeLessThan(batch.data.length / 5);
    // The format other SDKs read: the whole Payload (its metadata too), protobuf-encoded, as a zlib stream.
    const inner = proto.temporal.api.common.v1.Payload.decode(inflateSync(packed!.data!));
    expect(text(inner.metadata?.encoding)).toBe('json/plain');
    expect(text(inner.data)).toBe(text(batch.data));
    const [back] = await new CompressionCodec().decode([packed!]);
    expect(text(back?.data)).toBe(text(batch.data));
    expect(text(back?.metadata?.encoding)).toBe('json/plain');
  });

  it('leaves small payloads, and those that would not shrink, as they are', async () => {
    // Under COMPRESS_FROM_BYTES, however compressible: what people read in the Temporal UI stays readable there.
    const small = { metadata: { encoding: utf8('json/plain') }, data: utf8(`"${'a'.repeat(COMPRESS_FROM_BYTES - 3)}"`) };
    const [justLarge] = await new CompressionCodec().encode([{ ...small, data: utf8(`"${'a'.repeat(COMPRESS_FROM_BYTES - 2)}"`) }]);
    expect(text(justLarge?.metadata?.encoding)).toBe(COMPRESSED_ENCODING);
    const noise = { metadata: { encoding: utf8('binary/plain') }, data: randomBytes(4096) };
    const out = await new CompressionCodec().encode([small, noise]);
    expect(out).toEqual([small, noise]);
    // And passes payloads of other encodings through on the way back.
    expect(await new CompressionCodec().decode([small, noise])).toEqual([small, noise]);
  });

  it('refuses what expands beyond the limit, and what is not a zlib stream, with a clear error', async () => {
    const bomb = { metadata: { encoding: utf8(COMPRESSED_ENCODING) }, data: deflateSync(Buffer.alloc(MAX_INFLATED_BYTES + 1)) };
    await expect(new CompressionCodec().decode([bomb])).rejects.toThrow(/expands beyond 64 MiB: refused/);
    await expect(new CompressionCodec().decode([bomb])).rejects.toBeInstanceOf(PayloadDecompressionError);
    const garbage = { metadata: { encoding: utf8(COMPRESSED_ENCODING) }, data: randomBytes(100) };
    await expect(new CompressionCodec().decode([garbage])).rejects.toThrow(/not a zlib stream/);
    const notPayload = { metadata: { encoding: utf8(COMPRESSED_ENCODING) }, data: deflateSync(Buffer.from([0xff, 0xff, 0xff])) };
    await expect(new CompressionCodec().decode([notPayload])).rejects.toThrow(/does not hold a Temporal payload/);
  });

  it('compresses before it encrypts (ciphertext does not compress), and reads back through both', async () => {
    const codec = payloadCodec({ payloadKeys: [key('k1')] });
    const [sealed] = await codec.encode([batch]);
    expect(text(sealed?.metadata?.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(sealed!.data!.length).toBeLessThan(batch.data.length / 5);
    const [opened] = await codec.decode([sealed!]);
    expect(text(opened?.data)).toBe(text(batch.data));
    // Encryption alone (compression off) keeps the size.
    const [encryptedOnly] = await payloadCodec({ payloadKeys: [key('k1')], payloadCompression: 'off' }).encode([batch]);
    expect(encryptedOnly!.data!.length).toBeGreaterThan(batch.data.length);
  });

  it('is on by default; turned off it writes payloads as they are and still reads compressed ones', async () => {
    expect(payloadCodec({}).codecs.map((c) => c.constructor.name)).toEqual(['CompressionCodec']);
    expect(payloadCodec({ payloadKeys: [key('k1')] }).codecs.map((c) => c.constructor.name)).toEqual([
      'CompressionCodec',
      'EncryptionCodec',
    ]);
    const off = payloadCodec({ payloadCompression: 'off' });
    expect(await off.encode([batch])).toEqual([batch]);
    const [packed] = await payloadCodec({}).encode([batch]);
    const [back] = await off.decode([packed!]);
    expect(text(back?.data)).toBe(text(batch.data));
    expect(dataConverter({ payloadCompression: 'off' }).payloadCodecs).toHaveLength(1);
  });

  it('tells a process without the codec what to do when it meets a compressed payload', () => {
    expect(encryptionProblem(new Error('Unknown encoding: binary/zlib'))).toMatch(
      /without scimflow's payload codec: use dataConverter\(\)/,
    );
  });

  it('describes the payloads for banners and logs', () => {
    expect(describePayloads({})).toBe('compressed (zlib), not encrypted');
    expect(describePayloads({ payloadKeys: [key('k1')], payloadCompression: 'off' })).toBe(
      'not compressed (compressed ones still read), encrypted (key k1)',
    );
  });
});
