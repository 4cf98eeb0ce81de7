// The Debian packages `npm test` needs beyond node_modules, checked before anything runs so a bare machine gets
// them installed (as root, with apt) or one message with the exact command, never an import error mid-suite.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

// The Python toolkit (fixtures, pytest). libopenblas0-pthread matters: without it Debian's torch falls back to
// the reference BLAS, about 30x slower.
export const PYTHON_PACKAGES = [
  'python3',
  'python3-torch',
  'python3-onnx',
  'python3-numpy',
  'python3-pil',
  'python3-pytest',
  'libopenblas0-pthread',
];
// test/web-e2e.test.ts drives /usr/bin/chromium with playwright-core.
export const BROWSER_PACKAGES = ['chromium'];
const CHROMIUM = '/usr/bin/chromium';
// What a non-Debian interpreter (PYTHON=...) must be able to import instead.
const PYTHON_MODULES = ['torch', 'onnx', 'numpy', 'PIL', 'pytest'];

/** The packages among `names` that dpkg does not report as installed (unknown ones included). */
export function parseDpkgStatus(names, dpkgOutput) {
  const installed = new Set();
  for (const line of dpkgOutput.split('\n')) {
    const [name, status] = line.split('\t');
    // Multi-arch packages print as name:arch.
    if (status === 'installed') installed.add(name.split(':')[0]);
  }
  return names.filter((n) => !installed.has(n));
}

/**
 * The shell command that installs `missing`, with sudo for a non-root user. No recommends: python3-torch's
 * (libtorch-dev, build-essential, ...) are for building C++ extensions and would triple the download.
 */
export function installCommand(missing, { root }) {
  const sudo = root ? '' : 'sudo ';
  const install = 'DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends';
  return `${sudo}apt-get update && ${sudo}${install} ${missing.join(' ')}`;
}

/**
 * What to do about `missing`: nothing, install (root with apt-get, and not refused by UNITOK_NO_APT=1), or stop
 * with the command for the user to run.
 */
export function planInstall({ missing, root, hasAptGet, noApt }) {
  if (missing.length === 0) return { action: 'none' };
  const command = installCommand(missing, { root });
  if (root && hasAptGet && !noApt) return { action: 'install', command };
  const why = !hasAptGet ? 'apt-get is not on PATH' : noApt ? 'UNITOK_NO_APT is set' : 'not running as root';
  return {
    action: 'stop',
    message:
      `npm test needs these Debian packages, which are missing: ${missing.join(' ')}\n` +
      `It cannot install them itself (${why}). Run:\n\n  ${command}\n\nthen npm test again.`,
  };
}

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

// biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own field syntax, not a JavaScript template.
const DPKG_FORMAT = '-f=${Package}\\t${db:Status-Status}\\n';

function missingDebs(names) {
  const r = spawnSync('dpkg-query', ['-W', DPKG_FORMAT, ...names], { encoding: 'utf8' });
  if (r.error) throw r.error;
  // Exit status 1 only means some names are unknown to dpkg; those count as missing.
  return parseDpkgStatus(names, r.stdout);
}

function stop(message) {
  console.error(`\n${message}`);
  process.exit(1);
}

/**
 * Makes sure what the chosen sides need is present, installing missing Debian packages when it can, else stops
 * with the command. `python` is the interpreter the suite will run: Debian's own is checked through dpkg.
 */
export function ensureSystemPackages({ python, pythonSide, browserSide, env = process.env }) {
  const debianPython = python === '/usr/bin/python3';
  const dpkg = has('dpkg-query');
  // Without dpkg (not Debian) or with another interpreter, check what the suite uses, not package names.
  if (pythonSide && !(debianPython && dpkg)) {
    const probe = spawnSync(python, ['-c', `import ${PYTHON_MODULES.join(', ')}`], { encoding: 'utf8' });
    if (probe.status !== 0) {
      stop(
        `npm test: ${python} cannot import ${PYTHON_MODULES.join(', ')}:\n${(probe.stderr || String(probe.error ?? `exit status ${probe.status}`)).trim()}\n` +
          'Install them for that interpreter (PYTHON=/path/to/python3 picks another), or use Debian 12, where ' +
          'npm test installs them.',
      );
    }
  }
  if (!dpkg) {
    if (browserSide && !existsSync(CHROMIUM)) {
      stop(`npm test: ${CHROMIUM} is missing (the browser test drives it); install Chromium there.`);
    }
    return;
  }
  const wanted = [
    ...(pythonSide && debianPython ? PYTHON_PACKAGES : []),
    ...(browserSide ? BROWSER_PACKAGES : []),
  ];
  if (wanted.length === 0) return;
  const missing = missingDebs(wanted);
  const plan = planInstall({
    missing,
    root: process.getuid?.() === 0,
    hasAptGet: has('apt-get'),
    noApt: Boolean(env.UNITOK_NO_APT),
  });
  if (plan.action === 'none') {
    console.log(`npm test: Debian packages present: ${wanted.join(' ')}`);
    return;
  }
  if (plan.action === 'stop') stop(plan.message);
  console.log(`npm test: installing missing Debian packages: ${missing.join(' ')}\n$ ${plan.command}`);
  const started = Date.now();
  const r = spawnSync('sh', ['-c', plan.command], { stdio: 'inherit' });
  const still = missingDebs(wanted);
  if (r.status !== 0 || still.length > 0) {
    stop(
      `npm test: apt-get failed (exit ${r.status}); still missing: ${still.join(' ')}. Command:\n\n  ${plan.command}`,
    );
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`npm test: installed ${missing.length} Debian packages in ${seconds} s`);
}
