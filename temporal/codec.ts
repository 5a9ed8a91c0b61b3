import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import proto from '@temporalio/proto';

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

// A CommonJS module: under Node's ESM loader only its default export is certain.
const { temporal } = proto;
const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? new TextDecoder().decode(b) : '');

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

/** The data converter every Temporal client and worker of scimflow uses: encrypting when keys are set. */
export function dataConverter(keys: readonly PayloadKey[] | undefined, codec = encryptionCodec(keys)): DataConverter | undefined {
  return codec ? { payloadCodecs: [codec] } : undefined;
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
  }
  return null;
}

/** For logs and start-up banners: how payloads are handled with these keys. */
export function describeEncryption(keys: readonly PayloadKey[]): string {
  const [first] = keys;
  if (!first) return 'not encrypted';
  if (first.id === DECRYPT_ONLY) return `not encrypted any more; older ones decrypt with ${keys.length - 1} key(s)`;
  return `encrypted (key ${first.id})`;
}
