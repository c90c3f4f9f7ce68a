// Parse GitHub Actions workflow files with GitHub's own parser (@actions/workflow-parser),
// then convert them to the workflow model as the runner service does; prints each error and
// exits 1 if there is any. Run: node --import ./register-json.mjs validate-workflow.mjs FILE...
import { readFileSync } from "node:fs";
import {
  convertWorkflowTemplate,
  NoOperationTraceWriter,
  parseWorkflow,
} from "@actions/workflow-parser";

let failed = false;
for (const name of process.argv.slice(2)) {
  const parsed = parseWorkflow(
    { name, content: readFileSync(name, "utf8") },
    new NoOperationTraceWriter(),
  );
  const errors = parsed.context.errors.getErrors().map((e) => e.message);
  if (parsed.value) {
    const template = await convertWorkflowTemplate(parsed.context, parsed.value);
    errors.push(...(template.errors ?? []).map((e) => e.Message ?? String(e)));
    if (!errors.length) {
      console.log(JSON.stringify({ file: name, jobs: template.jobs.map((j) => j.id.value) }));
    }
  }
  for (const error of [...new Set(errors)]) console.error(error);
  failed ||= errors.length > 0;
}
process.exit(failed ? 1 : 0);
