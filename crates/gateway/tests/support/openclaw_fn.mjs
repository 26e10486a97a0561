// Finds a function of the installed openclaw package by its source name.
// The bundle's modules have hashed file names and export minified aliases:
// find the module that defines (as a function or a class) and exports
// `name`, and the alias it uses.
// Env: OPENCLAW_PKG (the package directory).
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const dist = path.join(process.env.OPENCLAW_PKG, "dist");

export async function openclawFn(name) {
  for (const f of fs.readdirSync(dist)) {
    if (!f.endsWith(".mjs")) continue;
    const text = fs.readFileSync(path.join(dist, f), "utf8");
    const m = text.match(new RegExp(`export \\{[^}]*\\b${name} as (\\w+)`));
    if (m && (text.includes(`function ${name}(`) || text.includes(`${name} = class`) || text.includes(`class ${name} `))) {
      const mod = await import(pathToFileURL(path.join(dist, f)).href);
      return mod[m[1]];
    }
  }
  throw new Error(`OpenClaw function ${name} not found in ${dist}`);
}
