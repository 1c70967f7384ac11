import { BackendError } from '../errors.js';

/**
 * What core needs of its host beyond JavaScript: environment variables, the working directory,
 * files, and resolving backend packages. Core's modules only call these hooks, so the browser build
 * (the package's `default` export condition) contains no Node-only code; the Node entry
 * (index.node.ts, the `node` condition) installs the Node implementation (node.ts) before anything
 * else runs. Without it (browsers, workers) there is no environment, working directory or file
 * system: the config file is absent, and file operations fail with an error that says so.
 */
export interface HostPlatform {
  /** 'node' once the Node implementation is installed. */
  readonly name: 'node' | 'browser';
  /** An environment variable (undefined where unset or there is no environment). */
  env(name: string): string | undefined;
  /** The working directory, or null where there is none. */
  cwd(): string | null;
  /** The absolute form of a path (relative paths against the working directory). */
  resolvePath(...parts: string[]): string;
  /** The nearest existing file called `name` from `startDir` upwards, or null. */
  findUp(name: string, startDir: string): Promise<string | null>;
  readFile(path: string): Promise<Uint8Array>;
  /** Write a whole file atomically: never half-written, even if the process dies mid-way. */
  writeFile(path: string, data: Uint8Array): Promise<void>;
  /** The names in a directory. */
  readDir(path: string): Promise<string[]>;
  /** Import a package by name; resolves true if it loaded, false if it is not installed. */
  importPackage(specifier: string): Promise<boolean>;
}

function noFiles(what: string): never {
  throw new BackendError(
    `${what} needs a file system (Node); in a browser, pass bytes instead (serializeStateDict / deserializeStateDict)`,
  );
}

const browserPlatform: HostPlatform = {
  name: 'browser',
  env: () => undefined,
  cwd: () => null,
  resolvePath: (...parts) => parts.join('/'),
  findUp: async () => null,
  readFile: async (path) => noFiles(`reading ${path}`),
  writeFile: async (path) => noFiles(`writing ${path}`),
  readDir: async (path) => noFiles(`listing ${path}`),
  // Bundlers resolve bare specifiers at build time; an absent package simply stays unregistered.
  importPackage: (specifier) =>
    import(/* @vite-ignore */ specifier).then(
      () => true,
      () => false,
    ),
};

let current: HostPlatform = browserPlatform;

/** The host's hooks (the browser ones until the Node entry installs its own). */
export function hostPlatform(): HostPlatform {
  return current;
}

/** Install the host's hooks (the Node entry does this on import). */
export function setHostPlatform(platform: HostPlatform): void {
  current = platform;
}
