// Device-auth values computed by OpenClaw's own code (the installed
// openclaw package's dist modules), for gw's byte-for-byte comparison.
// Input (argv[2]): JSON {seedHex, fields:{clientId, clientMode, role, scopes,
// signedAtMs, token, nonce, platform, deviceFamily}}. Output: JSON
// {deviceId, publicKey, payload, signature}.
import crypto from "node:crypto";
import { openclawFn } from "./openclaw_fn.mjs";

const input = JSON.parse(process.argv[2]);
const privPemFromRaw = await openclawFn("ed25519PrivateKeyPemFromRaw");
const pubRawB64FromPem = await openclawFn("publicKeyRawBase64UrlFromEd25519Pem");
const deriveDeviceId = await openclawFn("deriveDeviceIdFromPublicKey");
const buildV3 = await openclawFn("buildDeviceAuthPayloadV3");
const sign = await openclawFn("signEd25519Payload");

const privPem = privPemFromRaw(Buffer.from(input.seedHex, "hex"));
const pubPem = crypto.createPublicKey(privPem).export({ type: "spki", format: "pem" });
const publicKey = pubRawB64FromPem(pubPem);
const deviceId = deriveDeviceId(publicKey);
const payload = buildV3({ deviceId, ...input.fields });
const signature = sign(privPem, payload);
process.stdout.write(JSON.stringify({ deviceId, publicKey, payload, signature }));
