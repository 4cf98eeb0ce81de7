// Types for scripts/system-packages.mjs, imported by test/system-packages.test.ts.
export declare const PYTHON_PACKAGES: string[];
export declare const BROWSER_PACKAGES: string[];
export declare function parseDpkgStatus(names: string[], dpkgOutput: string): string[];
export declare function installCommand(missing: string[], opts: { root: boolean }): string;
export type InstallPlan =
  | { action: 'none' }
  | { action: 'install'; command: string }
  | { action: 'stop'; message: string };
export declare function planInstall(opts: {
  missing: string[];
  root: boolean;
  hasAptGet: boolean;
  noApt: boolean;
}): InstallPlan;
export declare function ensureSystemPackages(opts: {
  python: string;
  pythonSide: boolean;
  browserSide: boolean;
  env?: NodeJS.ProcessEnv;
}): void;
