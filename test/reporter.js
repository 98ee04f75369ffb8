'use strict';
// Mocha's spec reporter plus one closing line, "<suite>: N passed, N failed, N skipped", so
// a log reader (and test/run-all.sh) can count tests without parsing the spec output.
// ODXCP_SUITE names the suite; ODXCP_COUNTS_FILE, when set, receives the counts as JSON.
const fs = require('node:fs');
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END } = Mocha.Runner.constants;

class OdxcpReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats || {};
      const counts = { suite: process.env.ODXCP_SUITE || 'tests', passed: s.passes || 0, failed: s.failures || 0, skipped: s.pending || 0 };
      process.stdout.write(`${counts.suite}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`);
      if (process.env.ODXCP_COUNTS_FILE) fs.writeFileSync(process.env.ODXCP_COUNTS_FILE, JSON.stringify(counts));
    });
  }
}
module.exports = OdxcpReporter;
