// Parses AsyncAPI documents with the official parser (its validation included) and reports, per file, every
// diagnostic and what the parsed document says: its messages and each operation's action, addresses and
// messages. The parser does not check AsyncAPI 3 message examples against their payload, so each example is
// checked here with the JSON Schema validator the parser itself uses (Ajv, with its formats).
// Usage: node asyncapi_validate.mjs <document.json>... ; prints one JSON object keyed by file.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { Parser } from "@asyncapi/parser";

const parserRequire = createRequire(import.meta.resolve("@asyncapi/parser"));
const Ajv = parserRequire("ajv").default;
const addFormats = parserRequire("ajv-formats").default;
const ajv = addFormats(new Ajv({ allErrors: true, strict: false }));

const SEVERITY = ["error", "warning", "information", "hint"];
const parser = new Parser();

function exampleErrors(message) {
  const validate = ajv.compile(message.payload().json());
  return message.examples().all().flatMap((example, n) => validate(example.payload()) ? [] : [{
    severity: "error", code: "message-example-invalid", path: `${message.id()}/examples/${n}`,
    message: ajv.errorsText(validate.errors, { dataVar: "payload" }),
  }]);
}

const report = {};
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(await readFile(file, "utf8"), { source: file });
  const messages = document ? document.allMessages().all() : [];
  report[file] = {
    diagnostics: [
      ...diagnostics.map((d) => ({
        severity: SEVERITY[d.severity], code: d.code, message: d.message, path: d.path.join("/"),
      })),
      ...messages.flatMap(exampleErrors),
    ],
    messages: messages.map((m) => m.name()),
    operations: document ? document.allOperations().all().map((o) => ({
      action: o.action(), addresses: o.channels().all().map((c) => c.address()),
      messages: o.messages().all().map((m) => m.name()),
    })) : [],
  };
}
process.stdout.write(JSON.stringify(report));
