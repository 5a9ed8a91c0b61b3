import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { contractJsonSchema } from '../contract/schema';

/** Writes contract/change-records.schema.json from the contract's schemas (contract/schema.ts). */

export const CONTRACT_SCHEMA_PATH = fileURLToPath(new URL('../contract/change-records.schema.json', import.meta.url));

export function contractSchemaText(): string {
  return `${JSON.stringify(contractJsonSchema(), null, 2)}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(CONTRACT_SCHEMA_PATH, contractSchemaText());
  console.log(`wrote ${CONTRACT_SCHEMA_PATH}`);
}
