// The exit status table as Markdown (`odxcp exit-codes`), generated from EXIT_CODES so the
// README cannot drift from the code (a unit test compares them).
import { EXIT_CODES } from './exit-status';

export function exitCodesMarkdown(): string {
  const rows = EXIT_CODES.map((e) => `| ${e.code} | \`${e.name}\`${e.origin === 'odxcp' ? ' (odxcp)' : ''} | ${e.meaning.replace(/\|/g, '\\|')} |`);
  return ['| status | name | meaning |', '|---|---|---|', ...rows].join('\n');
}
