#!/usr/bin/env node
// The `scimflow` bin: loads tsx's TypeScript support into this process, then runs the CLI.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
