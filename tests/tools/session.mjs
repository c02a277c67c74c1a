#!/usr/bin/env node
// Log in against the running local stack: mint a Privy access + identity token,
// call `exchange`, print the session's tokens as shell assignments:
//
//   eval "$(make -s token)"      # or: node tests/tools/session.mjs
//   curl -H "Authorization: Bearer $ACCESS_TOKEN" $FUNCTIONS_URL/functions/v1/me
//
// Options: --sub did:privy:x (same user again), --email a@b.c or --wallet 0x…
// (the linked account), --json (the whole exchange response).

import { loadStackEnv, mintPrivyAccessToken, mintPrivyIdentityToken, randomWallet } from "./mint-privy-token.mjs";

const args = process.argv.slice(2);
const opt = (n) => {
  const i = args.indexOf(`--${n}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const stack = loadStackEnv();
const functionsUrl = process.env.FUNCTIONS_URL || stack.FUNCTIONS_URL;
if (!functionsUrl) {
  console.error("no stack: start it with `make dev` (or set HANGAR_STACK_ENV / FUNCTIONS_URL)");
  process.exit(1);
}

const access = mintPrivyAccessToken({ sub: opt("sub") });
const email = opt("email");
const identity = mintPrivyIdentityToken({
  sub: access.claims.sub,
  sid: access.claims.sid,
  email,
  wallet: opt("wallet") ?? (email ? undefined : randomWallet()),
});

const url = `${functionsUrl}/functions/v1/exchange`;
let res;
try {
  res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ token: access.token, identityToken: identity.token }),
  });
} catch (e) {
  console.error(`POST ${url}: ${e.cause?.message ?? e.message} (is \`make dev\` running?)`);
  process.exit(1);
}
const text = await res.text();
let body;
try {
  body = JSON.parse(text);
} catch {
  body = null;
}
if (!res.ok || !body?.success) {
  console.error(`POST ${url} -> ${res.status}\n${text}`);
  process.exit(1);
}
if (args.includes("--json")) {
  console.log(JSON.stringify(body, null, 2));
} else {
  const s = body.data;
  console.log(`ACCESS_TOKEN=${s.accessToken}`);
  console.log(`REFRESH_TOKEN=${s.refreshToken}`);
  console.log(`PRIVY_DID=${access.claims.sub}`);
  console.error(`# ${s.user?.id ?? ""} ${s.user?.provider ?? ""} ${s.user?.identifier ?? ""}; expires in ${s.expiresIn}s`);
  console.error(`# curl -H "Authorization: Bearer $ACCESS_TOKEN" ${functionsUrl}/functions/v1/me`);
}
