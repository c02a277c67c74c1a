// Loads the running stack's settings (KEY=VALUE file written by the stack scripts).
// Path: $HANGAR_STACK_ENV (relative to the current directory) or <repo>/.local/stack.env.
import { readFileSync, existsSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPrivateKey, createPublicKey } from 'node:crypto';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const ENV_FILE = process.env.HANGAR_STACK_ENV
  ? resolve(process.env.HANGAR_STACK_ENV)
  : resolve(ROOT, '.local/stack.env');

function parse(text) {
  const out = {};
  for (let line of text.split(/\r?\n/)) {
    line = line.trim();
    if (!line || line.startsWith('#')) continue;
    line = line.replace(/^export\s+/, '');
    const i = line.indexOf('=');
    if (i < 0) continue;
    let value = line.slice(i + 1).trim();
    if (/^(['"]).*\1$/.test(value)) value = value.slice(1, -1);
    out[line.slice(0, i).trim()] = value;
  }
  return out;
}

if (!existsSync(ENV_FILE)) {
  throw new Error(`stack env file not found: ${ENV_FILE} (start the local stack, or set HANGAR_STACK_ENV)`);
}
export const env = parse(readFileSync(ENV_FILE, 'utf8'));

const file = (p) => readFileSync(resolve(ROOT, p), 'utf8');
/** The Privy signing key whose public half the functions trust. */
export const privyKey = createPrivateKey(file(env.PRIVY_PRIVATE_KEY_FILE));
/** The public key as PEM text, as the functions are configured with it. */
export const verificationPem = env.PRIVY_VERIFICATION_KEY_FILE
  ? file(env.PRIVY_VERIFICATION_KEY_FILE)
  : createPublicKey(privyKey).export({ type: 'spki', format: 'pem' });

export const allowedOrigins = (env.ALLOWED_ORIGINS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
export const signupCredits = Number(env.SIGNUP_CREDITS_CENTS);
export const sessionTtl = Number(env.SESSION_TTL_SECONDS);
