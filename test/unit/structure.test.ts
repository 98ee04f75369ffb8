// The layering the architecture promises, read from the sources themselves: lib/scsi says what
// SCSI says and imports nothing above it, and its modules import each other without cycles.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

const LIB = path.resolve(__dirname, '..', '..', '..', 'lib');

function importsOf(file: string): string[] {
  const src = fs.readFileSync(file, 'utf8');
  return [...src.matchAll(/^(?:import|export)[^'"\n]*from '(\.[^']+)';/gm)].map((m) => path.resolve(path.dirname(file), m[1]!) + '.ts');
}

describe('structure', () => {
  const scsi = fs.readdirSync(path.join(LIB, 'scsi')).filter((f) => f.endsWith('.ts')).map((f) => path.join(LIB, 'scsi', f));

  it('lib/scsi imports nothing from the device layer, the engine, token operations or the CLI', () => {
    for (const f of scsi) {
      for (const i of importsOf(f)) {
        const rel = path.relative(LIB, i);
        assert.ok(rel.startsWith('scsi/') || rel === 'native.ts' || rel === 'errors.ts', `${path.relative(LIB, f)} imports ${rel}`);
      }
    }
  });

  it('the modules of lib/scsi import each other without cycles', () => {
    const graph = new Map(scsi.map((f) => [f, importsOf(f).filter((i) => scsi.includes(i))]));
    const state = new Map<string, 'open' | 'done'>();
    const visit = (f: string, trail: string[]): void => {
      if (state.get(f) === 'done') return;
      assert.notEqual(state.get(f), 'open', `import cycle: ${[...trail, f].map((x) => path.basename(x)).join(' -> ')}`);
      state.set(f, 'open');
      for (const g of graph.get(f) ?? []) visit(g, [...trail, f]);
      state.set(f, 'done');
    };
    for (const f of scsi) visit(f, []);
  });

  it('the engine\'s reaction to sense codes lives in one place: no other module decides by ASC', () => {
    for (const f of [...fs.readdirSync(path.join(LIB, 'engine'), { recursive: true }), ...fs.readdirSync(path.join(LIB, 'tokens'))].map(String)) {
      const file = fs.existsSync(path.join(LIB, 'engine', f)) ? path.join(LIB, 'engine', f) : path.join(LIB, 'tokens', f);
      if (!file.endsWith('.ts') || file.endsWith('reactions.ts')) continue;
      const src = fs.readFileSync(file, 'utf8');
      assert.doesNotMatch(src, /\.asc === 0x|\.ascq === 0x|copyActionFor\(/, `${path.relative(LIB, file)} decides by sense code itself`);
    }
  });
});
