// `npm test`'s check for the Debian packages it needs (scripts/system-packages.mjs): what counts as installed,
// and when it installs versus stops with the exact command.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BROWSER_PACKAGES,
  installCommand,
  PYTHON_PACKAGES,
  parseDpkgStatus,
  planInstall,
} from '../scripts/system-packages.mjs';

describe('Debian packages for npm test', () => {
  test('the list names what the toolkit imports, fast BLAS and the browser', () => {
    for (const p of ['python3-torch', 'python3-onnx', 'python3-numpy', 'python3-pil', 'python3-pytest']) {
      assert.ok(PYTHON_PACKAGES.includes(p), p);
    }
    assert.ok(PYTHON_PACKAGES.includes('libopenblas0-pthread'));
    assert.deepEqual(BROWSER_PACKAGES, ['chromium']);
  });

  test('only packages dpkg reports as installed count; removed, half-installed and unknown ones are missing', () => {
    const out = [
      'python3\tinstalled',
      'python3-torch\tconfig-files',
      'python3-onnx\thalf-installed',
      'libopenblas0-pthread:amd64\tinstalled',
      '',
    ].join('\n');
    const names = ['python3', 'python3-torch', 'python3-onnx', 'libopenblas0-pthread', 'chromium'];
    assert.deepEqual(parseDpkgStatus(names, out), ['python3-torch', 'python3-onnx', 'chromium']);
  });

  test('nothing is done when nothing is missing, even as root', () => {
    assert.deepEqual(planInstall({ missing: [], root: true, hasAptGet: true, noApt: false }), {
      action: 'none',
    });
  });

  test('root with apt-get installs the missing packages', () => {
    const plan = planInstall({
      missing: ['python3-torch', 'chromium'],
      root: true,
      hasAptGet: true,
      noApt: false,
    });
    assert.deepEqual(plan, {
      action: 'install',
      command:
        'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-torch chromium',
    });
  });

  test('a non-root user gets one message with the exact sudo command', () => {
    const plan = planInstall({ missing: ['python3-onnx'], root: false, hasAptGet: true, noApt: false });
    assert.equal(plan.action, 'stop');
    assert.ok(plan.action === 'stop' && plan.message.includes('not running as root'));
    assert.ok(
      plan.action === 'stop' &&
        plan.message.includes(installCommand(['python3-onnx'], { root: false })) &&
        plan.message.includes(
          'sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-onnx',
        ),
    );
  });

  test('UNITOK_NO_APT or a missing apt-get stops even as root, saying why', () => {
    const noApt = planInstall({ missing: ['chromium'], root: true, hasAptGet: true, noApt: true });
    assert.ok(noApt.action === 'stop' && noApt.message.includes('UNITOK_NO_APT is set'));
    const noAptGet = planInstall({ missing: ['chromium'], root: true, hasAptGet: false, noApt: false });
    assert.ok(noAptGet.action === 'stop' && noAptGet.message.includes('apt-get is not on PATH'));
  });
});
