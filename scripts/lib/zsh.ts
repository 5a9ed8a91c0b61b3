import { spawnSync } from 'node:child_process';

/**
 * zsh for the test that pastes the README's commands into it as into bash (macOS's shell).
 * `bootstrap --test` installs Debian's package as root with apt-get, as it does Chromium.
 */

export const INSTALL_ZSH = 'Install zsh (Debian/Ubuntu: `sudo apt-get install zsh`; as root, `node scripts/bootstrap.mjs --test` does it).';

/** The zsh on PATH, if there is one. */
export function findZsh(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v zsh'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}

/** For `bootstrap --test`: finds zsh, or installs it as root with apt-get. Never fails the bootstrap. */
export function ensureZsh(log: (line: string) => void): string | undefined {
  const found = findZsh();
  if (found) return found;
  const apt = spawnSync('sh', ['-c', 'command -v apt-get'], { encoding: 'utf8' }).status === 0;
  if (process.getuid?.() !== 0 || !apt) {
    log(`zsh not found: the test of the README's commands in zsh needs it. ${INSTALL_ZSH}`);
    return undefined;
  }
  log("installing zsh for the test of the README's commands (apt-get install zsh) …");
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'zsh'], { env, encoding: 'utf8' }).status === 0;
  const ok = install() || (spawnSync('apt-get', ['update'], { env, encoding: 'utf8' }).status === 0 && install());
  const after = findZsh();
  if (!ok || !after)
    log(`zsh could not be installed with apt-get: the test of the README's commands in zsh will fail until it is. ${INSTALL_ZSH}`);
  return after;
}
