// The web console on the local stack (console/README.md): a static server for the
// console's stack build (console/dist-stack, made by scripts/build-console.sh), plus
//   GET  /config.json     where the functions are and the anon key (the stack build reads
//                         it at run time: the test stack's ports are chosen at start)
//   POST /local/sign-in   { email? } -> { token, identityToken }: a test user's Privy-format
//                         tokens, signed with the stack's stand-in Privy key; the console
//                         sends them to `exchange` as it would Privy's. Local stack only: the
//                         production build has no test sign-in (tests/e2e/console/build.test.mjs).
import { existsSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { mintPrivyAccessToken, mintPrivyIdentityToken } from "../tools/mint-privy-token.mjs";

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".json": "application/json", ".png": "image/png" };

export const consoleDist = (root) => join(root, "console", "dist-stack");

/** Starts the console server; resolves to { url, close() }. */
export async function startConsole({ root, port, functionsUrl, anonKey, privateKeyFile, appId }) {
  const dist = consoleDist(root);
  if (!existsSync(join(dist, "index.html"))) throw new Error(`no console build in ${dist}: run scripts/build-console.sh`);
  const pem = readFileSync(privateKeyFile, "utf8");
  const config = JSON.stringify({ functionsUrl, anonKey, supabaseUrl: "" });
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    if (path === "/config.json") return send(res, 200, "application/json", config);
    if (path === "/local/sign-in" && req.method === "POST") {
      let body = "";
      for await (const c of req) body += c;
      let email;
      try {
        email = JSON.parse(body || "{}").email;
      } catch {
        return send(res, 400, "application/json", '{"error":"invalid json"}');
      }
      if (email !== undefined && (typeof email !== "string" || !/^[^\s@]+@[^\s@]+$/.test(email))) return send(res, 400, "application/json", '{"error":"email"}');
      email ??= `user-${randomBytes(6).toString("hex")}@hangar.test`;
      // The same email is the same test user: its Privy subject is derived from it.
      const sub = `did:privy:test${createHash("sha256").update(email).digest("hex").slice(0, 24)}`;
      const access = mintPrivyAccessToken({ sub, appId, privateKeyPem: pem });
      const identity = mintPrivyIdentityToken({ sub, sid: access.claims.sid, appId, email, privateKeyPem: pem });
      return send(res, 200, "application/json", JSON.stringify({ token: access.token, identityToken: identity.token, email }));
    }
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain", "method not allowed");
    let file = normalize(join(dist, path));
    if (!file.startsWith(dist)) return send(res, 404, "text/plain", "not found");
    if (!existsSync(file) || statSync(file).isDirectory()) file = join(dist, "index.html");
    const immutable = file.includes(`${join(dist, "assets")}`);
    send(res, 200, TYPES[extname(file)] ?? "application/octet-stream", readFileSync(file), immutable ? "public, max-age=31536000, immutable" : "no-cache");
  });
  await new Promise((resolve, reject) => server.once("error", reject).listen(port, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

function send(res, status, type, body, cache = "no-store") {
  res.writeHead(status, { "content-type": type, "cache-control": cache, "x-content-type-options": "nosniff" });
  res.end(body);
}
