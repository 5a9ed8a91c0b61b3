import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';

// A CommonJS module: under Node's ESM loader only its default export is certain.
const { temporal } = proto;
const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? new TextDecoder().decode(b) : '');

/**
 * scimflow's payload codec: compression (zlib, on by default) and encryption (with keys), in that
 * order. Every Temporal client and worker of scimflow uses it, and so does the application's worker
 * that takes Temporal-native delivery (`dataConverter` here, or the same two steps in another SDK).
 */

/**
 * Compresses payloads with zlib before they reach Temporal: a batch of change records shrinks
 * about sevenfold, so a large import writes a fraction of the history (and continues as new far
 * less often). The format is the Temporal Go SDK's ZlibCodec: the whole Payload, protobuf-encoded,
 * as a zlib stream, with encoding `binary/zlib`. Small payloads, and those that would not shrink,
 * stay as they are.
 */
export const COMPRESSED_ENCODING = 'binary/zlib';
/**
 * Payloads smaller than this stay as they are: what people read in the Temporal UI without a codec
 * endpoint (summaries, current details, a single event or change record) stays readable there, and
 * what makes histories large (batches of events and records, plans, pages) is compressed.
 */
export const COMPRESS_FROM_BYTES = 4096;
/** What a compressed payload may expand to (Temporal refuses payloads far smaller): more is refused, not inflated. */
export const MAX_INFLATED_BYTES = 64 * 1024 * 1024;

export type PayloadCompression = 'zlib' | 'off';
export const PAYLOAD_COMPRESSIONS: readonly PayloadCompression[] = ['zlib', 'off'];

export class PayloadDecompressionError extends Error {}

export class CompressionCodec implements PayloadCodec {
  /** `compress` false: payloads go out as they are, and compressed ones still decode (turning compression off). */
  constructor(readonly compress = true) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    if (!this.compress) return payloads;
    return payloads.map((p) => {
      if ((p.data?.length ?? 0) < COMPRESS_FROM_BYTES) return p;
      const plain = temporal.api.common.v1.Payload.encode(p).finish();
      // Level 1: nearly all of the gain, at a fraction of the default level's time.
      const packed = deflateSync(plain, { level: 1 });
      if (packed.length >= plain.length) return p;
      return { metadata: { encoding: utf8(COMPRESSED_ENCODING) }, data: packed };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (text(p.metadata?.encoding) !== COMPRESSED_ENCODING) return p;
      let plain: Buffer;
      try {
        plain = inflateSync(p.data ?? new Uint8Array(), { maxOutputLength: MAX_INFLATED_BYTES });
      } catch (err) {
        const code = (err as { code?: string }).code;
        throw new PayloadDecompressionError(
          code === 'ERR_BUFFER_TOO_LARGE'
            ? `compressed payload expands beyond ${MAX_INFLATED_BYTES / 1024 / 1024} MiB: refused`
            : 'compressed payload is not a zlib stream: it was changed or cut short',
        );
      }
      try {
        return temporal.api.common.v1.Payload.decode(plain) as Payload;
      } catch {
        throw new PayloadDecompressionError('compressed payload does not hold a Temporal payload');
      }
    });
  }
}

/** Codecs applied one after another on the way to Temporal, in reverse on the way back. */
export class CodecChain implements PayloadCodec {
  constructor(readonly codecs: readonly PayloadCodec[]) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    let out = payloads;
    for (const codec of this.codecs) out = await codec.encode(out);
    return out;
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    let out = payloads;
    for (const codec of [...this.codecs].reverse()) out = await codec.decode(out);
    return out;
  }
}

/** How scimflow encodes its payloads: the encryption keys (none: not encrypted) and the compression (default zlib). */
export interface PayloadOptions {
  payloadKeys?: readonly PayloadKey[] | undefined;
  payloadCompression?: PayloadCompression | undefined;
}

/**
 * The codec for these options. Compressed payloads always decode, compression off included (what
 * was written before it was turned off is still read).
 */
export function payloadCodec(options: PayloadOptions): CodecChain {
  const codecs: PayloadCodec[] = [new CompressionCodec((options.payloadCompression ?? 'zlib') === 'zlib')];
  const encryption = encryptionCodec(options.payloadKeys);
  if (encryption) codecs.push(encryption);
  return new CodecChain(codecs);
}

/** The data converter every Temporal client and worker of scimflow uses (and the application's worker). */
export function dataConverter(options: PayloadOptions | CodecChain): DataConverter {
  return { payloadCodecs: [options instanceof CodecChain ? options : payloadCodec(options)] };
}

/**
 * Encrypts every payload scimflow hands to Temporal (events with people's names and e-mails,
 * activity inputs and results, workflow state carried over continue-as-new) with AES-256-GCM, so
 * Temporal's database, its UI and its exports hold ciphertext only. Search attributes (the
 * organization id) stay readable. Keys: the first one encrypts; every one decrypts (rotation).
 */

export const ENCRYPTED_ENCODING = 'binary/encrypted';
const KEY_ID = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export interface PayloadKey {
  id: string;
  key: Buffer;
}

export class PayloadDecryptionError extends Error {}

/** First in the key list: encrypt nothing new, only decrypt (for turning encryption off). */
export const DECRYPT_ONLY = 'none';

export class EncryptionCodec implements PayloadCodec {
  private readonly keys: Map<string, Buffer>;
  private readonly current: PayloadKey | null;

  constructor(keys: readonly PayloadKey[]) {
    const [first] = keys;
    if (!first) throw new Error('at least one payload encryption key is needed');
    const decryptOnly = first.id === DECRYPT_ONLY;
    const real = decryptOnly ? keys.slice(1) : keys;
    for (const k of real) if (k.key.length !== 32) throw new Error(`payload encryption key ${k.id} must be 32 bytes`);
    this.current = decryptOnly ? null : first;
    this.keys = new Map(real.map((k) => [k.id, k.key]));
  }

  /** Whether new payloads are encrypted (false while turning encryption off). */
  get encrypting(): boolean {
    return this.current !== null;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const current = this.current;
    if (!current) return payloads;
    return payloads.map((p) => {
      const plain = temporal.api.common.v1.Payload.encode(p).finish();
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', current.key, iv);
      const body = Buffer.concat([cipher.update(plain), cipher.final()]);
      return {
        metadata: { encoding: utf8(ENCRYPTED_ENCODING), [KEY_ID]: utf8(current.id) },
        data: Buffer.concat([iv, body, cipher.getAuthTag()]),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (text(p.metadata?.encoding) !== ENCRYPTED_ENCODING) return p;
      const id = text(p.metadata?.[KEY_ID]);
      const key = this.keys.get(id);
      if (!key) throw new PayloadDecryptionError(`payload encrypted with key "${id}", which is not among PAYLOAD_ENCRYPTION_KEYS`);
      const data = Buffer.from(p.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError('encrypted payload is too short');
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      let plain: Buffer;
      try {
        plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      } catch {
        throw new PayloadDecryptionError(
          `payload encrypted with key "${id}" does not decrypt: it was changed, or the key is not the one it was encrypted with`,
        );
      }
      return temporal.api.common.v1.Payload.decode(plain) as Payload;
    });
  }
}

/** The codec for these keys; undefined without keys (payloads stored as they are). */
export function encryptionCodec(keys: readonly PayloadKey[] | undefined): EncryptionCodec | undefined {
  return keys && keys.length > 0 ? new EncryptionCodec(keys) : undefined;
}

/**
 * What to tell a person when a payload could not be read because of encryption: this process has
 * no keys, or not the one the payload needs. Null for any other failure.
 */
export function encryptionProblem(err: unknown): string | null {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const message = String((e as { message?: unknown }).message ?? '');
    if (/Unknown encoding: binary\/encrypted/.test(message)) {
      return "Temporal holds this organization's data encrypted, and this process has no key: set PAYLOAD_ENCRYPTION_KEYS to the keys the worker uses";
    }
    if (e instanceof PayloadDecryptionError || /^payload encrypted with key /.test(message)) {
      return `${message}; set PAYLOAD_ENCRYPTION_KEYS to the keys the worker uses`;
    }
    if (/Unknown encoding: binary\/zlib/.test(message)) {
      return "Temporal holds this payload compressed (binary/zlib), and this process reads it without scimflow's payload codec: use dataConverter() from temporal/codec.ts";
    }
  }
  return null;
}

/** For logs and start-up banners: how payloads are stored in Temporal with these options. */
export function describePayloads(options: PayloadOptions): string {
  const compressed =
    (options.payloadCompression ?? 'zlib') === 'zlib' ? 'compressed (zlib)' : 'not compressed (compressed ones still read)';
  return `${compressed}, ${describeEncryption(options.payloadKeys ?? [])}`;
}

/** For logs and start-up banners: how payloads are handled with these keys. */
export function describeEncryption(keys: readonly PayloadKey[]): string {
  const [first] = keys;
  if (!first) return 'not encrypted';
  if (first.id === DECRYPT_ONLY) return `not encrypted any more; older ones decrypt with ${keys.length - 1} key(s)`;
  return `encrypted (key ${first.id})`;
}
