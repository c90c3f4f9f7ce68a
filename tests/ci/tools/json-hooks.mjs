// Loader hook for register-json.mjs: a .json module is loaded as JSON.
import { readFile } from "node:fs/promises";

export async function load(url, context, nextLoad) {
  if (url.endsWith(".json")) {
    return { format: "json", source: await readFile(new URL(url)), shortCircuit: true };
  }
  return nextLoad(url, context);
}
