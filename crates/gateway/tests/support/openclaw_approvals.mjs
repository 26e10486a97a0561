// OpenClaw's own exec-approvals state and approval runtime token.
// Env: OPENCLAW_PKG, OPENCLAW_STATE_DIR (a fresh directory). With argv[2]
// given, the stored socket token is then replaced by that exact string
// (spaces included) in the SQLite row, as a hand edit or an older writer
// would leave it. Prints {token} (what OpenClaw derives) as JSON.
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { openclawFn } from "./openclaw_fn.mjs";

const ensure = await openclawFn("ensureExecApprovals");
ensure();
if (process.argv[2] !== undefined) {
  const db = new DatabaseSync(path.join(process.env.OPENCLAW_STATE_DIR, "state", "openclaw.sqlite"));
  const row = db.prepare("SELECT raw_json FROM exec_approvals_config WHERE config_key = 'current'").get();
  const file = JSON.parse(row.raw_json);
  file.socket.token = process.argv[2];
  db.prepare("UPDATE exec_approvals_config SET raw_json = ? WHERE config_key = 'current'").run(JSON.stringify(file, null, 2) + "\n");
  db.close();
}
const get = await openclawFn("getOperatorApprovalRuntimeToken");
process.stdout.write(JSON.stringify({ token: get() }));
