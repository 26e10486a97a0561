// OpenClaw's own node client (GatewayClient from the installed openclaw
// package) connecting to a gateway with a device identity it loads or
// creates in its own state directory ($OPENCLAW_STATE_DIR), then calling
// `health`. The client signs the challenge itself and persists any device
// token the hello-ok hands it (in its state); a later run with no
// credential reconnects with that stored device token.
// Input (argv[2]): JSON {url, role, scopes, token?, password?, bootstrapToken?, deviceToken?}.
// Output: JSON {deviceId, auth (hello-ok auth, tokens included), health} or
// {deviceId, error:{message, details}}.
import { openclawFn } from "./openclaw_fn.mjs";

const input = JSON.parse(process.argv[2]);
const GatewayClient = await openclawFn("GatewayClient");
const loadOrCreateDeviceIdentity = await openclawFn("loadOrCreateDeviceIdentity");
const identity = await loadOrCreateDeviceIdentity();
const done = (v) => {
  process.stdout.write(JSON.stringify({ deviceId: identity.deviceId, ...v }));
  process.exit(0);
};
setTimeout(() => done({ error: { message: "timeout" } }), 20000).unref();
let hello;
const client = new GatewayClient({
  url: input.url,
  token: input.token,
  password: input.password,
  bootstrapToken: input.bootstrapToken,
  deviceToken: input.deviceToken,
  role: input.role,
  scopes: input.scopes,
  clientName: "cli",
  mode: "cli",
  deviceIdentity: identity,
  onHelloOk: (h) => {
    hello = h;
  },
  // The first connect error is the gateway's answer (exit before anything else runs).
  onConnectError: (e) => done({ error: { message: String(e?.message ?? e), details: e?.details ?? null } }),
});
client.start();
const until = Date.now() + 15000;
while (!hello && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
if (!hello) done({ error: { message: "no hello-ok" } });
const health = await client.request("health", {});
// Let the client persist what the hello handed it before stopping.
await new Promise((r) => setTimeout(r, 300));
client.stop();
done({ auth: hello.auth, health });
