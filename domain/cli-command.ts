/**
 * How to run the CLI, for every message that names one of its commands (the CLI's hints, the
 * API's and the workflows' refusals): `npm run cli --` from the project folder, which works right
 * after `npm run dev`; `scimflow` when the CLI runs as the installed bin (`npm link`). Pure, so
 * workflow code may use it too.
 */

let prefix = 'npm run cli --';

/** The words that run the CLI, e.g. `npm run cli --`; put the command after them. */
export function cliPrefix(): string {
  return prefix;
}

/** Set once by the CLI when it runs as the installed `scimflow` bin. */
export function useCliPrefix(value: string): void {
  prefix = value;
}
