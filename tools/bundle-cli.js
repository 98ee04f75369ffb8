#!/usr/bin/env node
// Bundle the command line into one file, dist/lib/odxcp-cli.js, from tsc's output (run after
// tsc; `npm run build:ts` does both). In the lab guest every file node opens costs a 9p round
// trip, so one file instead of ~100 is most of the start-up (bench "Start-up"). The file sits
// beside dist/lib/native.js so that __dirname-relative paths (the addon in build/) still hold;
// the addon itself is loaded at run time, never bundled. bin/odxcp uses the bundle only when it
// is at least as new as dist/lib/cli/main.js, so a tsc-only rebuild is never run stale.
'use strict';
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');
const out = process.argv[2] ?? path.join(root, 'dist', 'lib', 'odxcp-cli.js');

// commander requires node:child_process when it loads, for executable subcommands odxcp never
// has; it is one of the largest parts of node's library. Hand it a stand-in that loads the
// real module only if a member is ever asked for.
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (a) =>
      a.namespace === 'lazy' ? { path: 'child_process', external: true } : { path: 'child_process', namespace: 'lazy' });
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({
      contents: "let m; module.exports = new Proxy({}, { get: (_t, k) => (m ??= require('child_process'))[k] });",
      loader: 'js',
    }));
  },
};

esbuild
  .build({
    entryPoints: [path.join(root, 'dist', 'lib', 'cli', 'main.js')],
    outfile: out,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    plugins: [lazyChildProcess],
    logLevel: 'warning',
    legalComments: 'none',
  })
  .catch(() => process.exit(1));
