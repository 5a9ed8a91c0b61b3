/**
 * scimflow's local Scalekit. `startEmulator()` runs the Directory and Organization gRPC services
 * the `@scalekit-sdk/node` client calls, its token endpoint, signed webhook delivery with
 * Scalekit's retry schedule and fault injection, the admin portal, and a control API — all on one
 * 127.0.0.1 port. See docs/emulator.md.
 */
export { startEmulator } from './emulator';
export type { EmulatorHandle, EmulatorOptions, EmulatorStats } from './emulator';
export { RETRY_SCHEDULE_MS, signatureHeader } from './delivery';
export type { DeliveryLogEntry, EmittedEvent, FaultOptions } from './delivery';
export type { GenerateLargeOptions, GenerateLargeResult, SeedDemoOptions } from './generators';
export { PORTAL_SCRIPT } from './portal';
export type { PortalPageConfig } from './portal';
export type { WebhookPayload } from './webhook-payloads';
export { mulberry32 } from './random';
export * from './types';
