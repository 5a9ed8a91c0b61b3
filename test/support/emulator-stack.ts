import { randomInt } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { startEmulator, type EmulatorHandle, type EmulatorOptions } from '../../emulator/index';
import { startStack, type Stack, type StackOptions } from './stack';

export interface EmulatorStack {
  readonly emulator: EmulatorHandle;
  readonly stack: Stack;
}

/**
 * The emulator and the stack (API + worker) for one test file, started before its tests and
 * stopped after them. With `webhooks`, the emulator delivers its signed webhooks to the stack.
 */
export function useEmulatorStack(options: { webhooks?: boolean; emulator?: EmulatorOptions; stack?: StackOptions } = {}): EmulatorStack {
  let emulator: EmulatorHandle | undefined;
  let stack: Stack | undefined;
  beforeAll(async () => {
    emulator = await startEmulator({
      port: 0,
      seed: randomInt(1, 2 ** 31),
      ...(options.webhooks ? { timeScale: 0.0001 } : {}),
      ...options.emulator,
    });
    stack = await startStack({
      scalekit: { environmentUrl: emulator.url, clientId: emulator.clientId, clientSecret: emulator.clientSecret },
      ...(options.webhooks ? { webhookSecret: emulator.webhookSecrets[0] } : {}),
      ...options.stack,
    });
    if (options.webhooks) emulator.setWebhookUrl(`${stack.baseUrl}/webhooks/scalekit`);
  });
  afterAll(async () => {
    await emulator?.close();
    await stack?.stop();
  });
  return {
    get emulator() {
      if (!emulator) throw new Error('the emulator starts in beforeAll');
      return emulator;
    },
    get stack() {
      if (!stack) throw new Error('the stack starts in beforeAll');
      return stack;
    },
  };
}
