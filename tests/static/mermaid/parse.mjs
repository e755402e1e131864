// Reads a JSON array of {"name", "text"} on stdin, parses each text with Mermaid's own parser and prints a
// JSON array of {"name", "ok", "diagramType" | "error"}. Mermaid sanitises labels with DOMPurify, which
// needs a DOM: jsdom gives it one, so no browser is needed.
import { JSDOM } from 'jsdom';

const { window } = new JSDOM('');
globalThis.window = window;
globalThis.document = window.document;
const { default: mermaid } = await import('mermaid');

let input = '';
for await (const chunk of process.stdin) input += chunk;
const results = [];
for (const block of JSON.parse(input)) {
  try {
    const parsed = await mermaid.parse(block.text);
    results.push({ name: block.name, ok: true, diagramType: parsed.diagramType });
  } catch (e) {
    results.push({ name: block.name, ok: false, error: String(e.message ?? e) });
  }
}
process.stdout.write(JSON.stringify(results));
