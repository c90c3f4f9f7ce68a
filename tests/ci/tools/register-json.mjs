// @actions/workflow-parser imports its JSON schema without an import attribute (it is built
// for bundlers); this hook loads .json modules as JSON so Node.js 20 runs it as published.
import { register } from "node:module";
register("./json-hooks.mjs", import.meta.url);
