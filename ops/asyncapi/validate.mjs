// Validate AsyncAPI documents with the AsyncAPI project's own parser; one JSON line out.
import { Parser } from '@asyncapi/parser';
import { readFileSync } from 'node:fs';
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(process.argv[2], 'utf8'));
const errors = diagnostics.filter((d) => d.severity === 0);
console.log(JSON.stringify({
  errors: errors.map((d) => ({ path: d.path, message: d.message })),
  warnings: diagnostics.filter((d) => d.severity === 1).length,
  channels: document ? document.channels().all().map((c) => c.address()) : [],
}));
