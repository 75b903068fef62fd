// Mocha's spec output, then the plain closing line CI reads: "tests: N passed, N failed", where a
// failing before/after hook counts as a failure too (a per-test afterEach never sees those).
import Mocha from 'mocha';

const { EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_RUN_END } = Mocha.Runner.constants;

export default class TallyReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    let passed = 0;
    let failed = 0;
    runner.on(EVENT_TEST_PASS, () => (passed += 1));
    runner.on(EVENT_TEST_FAIL, () => (failed += 1));
    runner.once(EVENT_RUN_END, () => console.log(`tests: ${passed} passed, ${failed} failed`));
  }
}
