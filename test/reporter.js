'use strict';
// Mocha's spec reporter plus one closing line, "<suite>: N passed, N failed, N skipped", so
// a log reader (and test/run-all.sh) can count tests without parsing the spec output.
// ODXCP_SUITE names the suite; ODXCP_COUNTS_FILE, when set, receives the counts as JSON.
// Only tests that ran count: "failed" is failed tests plus failed hooks, and the tests a
// failed hook kept from running are "notRun" (a line of their own), never passes.
const fs = require('node:fs');
const Mocha = require('mocha');
const { Spec } = Mocha.reporters;
const { EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING } = Mocha.Runner.constants;

class OdxcpReporter extends Spec {
  constructor(runner, options) {
    super(runner, options);
    // Per test, the last outcome: a test that passed and then failed (done() twice, an
    // error after it returned) is a failure, once.
    const outcome = new Map();
    let hookFailures = 0;
    // What failed, a line each (title and the error's first line), so a summary that shows
    // only the tail of a long log still names the failure.
    const failures = [];
    runner.on(EVENT_TEST_PASS, (t) => outcome.set(t, 'passed'));
    runner.on(EVENT_TEST_PENDING, (t) => outcome.set(t, 'skipped'));
    runner.on(EVENT_TEST_FAIL, (t, err) => {
      failures.push(`${t.fullTitle()}: ${String((err && err.message) || err).split('\n')[0]}`.slice(0, 400));
      if (t.type === 'hook') hookFailures++;
      else outcome.set(t, 'failed');
    });
    runner.once(EVENT_RUN_END, () => {
      const n = (what) => [...outcome.values()].filter((o) => o === what).length;
      const counts = { suite: process.env.ODXCP_SUITE || 'tests', passed: n('passed'), failed: n('failed') + hookFailures, skipped: n('skipped') };
      counts.notRun = Math.max(0, (runner.total || 0) - outcome.size);
      counts.failures = failures;
      process.stdout.write(`${counts.suite}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`);
      if (counts.notRun) process.stdout.write(`${counts.suite}: ${counts.notRun} tests did not run (a hook failed or the run stopped)\n`);
      if (process.env.ODXCP_COUNTS_FILE) fs.writeFileSync(process.env.ODXCP_COUNTS_FILE, JSON.stringify(counts));
    });
  }
}
module.exports = OdxcpReporter;
