// Reads Teams messages (a JSON list on stdin) with Microsoft's Adaptive Cards SDK, as Teams' own
// renderer does: each attachment's card is parsed for the version it declares and validated; prints,
// per message, every parse and validation event the SDK reports (none for a valid card).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

// The package's lib/ is ESM without file extensions, which Node cannot load; dist/ is its bundle.
const AC = createRequire(import.meta.url)("adaptivecards/dist/adaptivecards.js");

const describe = (event) => `${AC.ValidationEvent[event.event] ?? event.event}: ${event.message}`;

const messages = JSON.parse(readFileSync(0, "utf8"));
const seen = messages.map((message) => message.attachments.map((attachment) => {
  const problems = [];
  if (attachment.contentType !== "application/vnd.microsoft.card.adaptive") {
    problems.push(`not an Adaptive Card attachment: ${attachment.contentType}`);
  }
  const version = AC.Version.parse(attachment.content.version, new AC.SerializationContext());
  const context = new AC.SerializationContext(version);
  const card = new AC.AdaptiveCard();
  card.parse(attachment.content, context);
  for (let i = 0; i < context.eventCount; i++) problems.push(describe(context.getEventAt(i)));
  for (const event of card.validateProperties().validationEvents) problems.push(describe(event));
  return { version: card.version.toString(), elements: card.getItemCount(), problems };
}));
process.stdout.write(JSON.stringify(seen));
