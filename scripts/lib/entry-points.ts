/** The processes `npm run build` compiles: dist/<name>.js ← its source (the image runs the former). */
export const ENTRY_POINTS = {
  api: 'api/main.ts',
  worker: 'worker/main.ts',
  cli: 'cli/main.ts',
  setup: 'scripts/setup.ts',
  emulator: 'emulator/main.ts',
  'send-event': 'scripts/send-event.ts',
} as const;

export type EntryPoint = keyof typeof ENTRY_POINTS;
