/**
 * Typed errors. Every message names the argument and says what was expected and what was got, so a
 * user can fix the call without reading our source.
 */
export class LigerMhcError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Wrong rank or shape. */
export class ShapeError extends LigerMhcError {
  constructor(
    readonly argument: string,
    readonly expected: string,
    readonly got: readonly number[] | string,
  ) {
    super(`${argument}: expected shape ${expected}, got ${typeof got === 'string' ? got : fmtShape(got)}`);
  }
}

/** A dtype the operation does not accept. */
export class DTypeError extends LigerMhcError {
  constructor(
    readonly argument: string,
    readonly expected: string,
    readonly got: string,
  ) {
    super(`${argument}: expected dtype ${expected}, got ${got}`);
  }
}

/**
 * Tensors of different backends in one op, an unknown backend, a backend that cannot start.
 * `argument` names the tensor argument at fault, where there is one (the message starts with it).
 */
export class BackendError extends LigerMhcError {
  constructor(
    message: string,
    readonly argument: string | null = null,
  ) {
    super(message);
  }
}

/** A kernel the selected backend declares unsupported. */
export class UnsupportedKernelError extends BackendError {
  constructor(
    readonly kernel: string,
    readonly backend: string,
    reason?: string,
  ) {
    super(`kernel '${kernel}' is not supported by backend '${backend}'${reason ? `: ${reason}` : ''}`);
  }
}

/** Use of a tensor after dispose(). */
export class DisposedTensorError extends LigerMhcError {
  constructor(readonly argument: string) {
    super(`${argument}: tensor has been disposed`);
  }
}

/** NaN or Inf where the math cannot absorb it (the inputs of coeffs). */
export class NonFiniteError extends LigerMhcError {
  constructor(
    readonly argument: string,
    readonly index: number,
    readonly value: number,
  ) {
    super(`${argument}: expected finite values, got ${value} at flat index ${index}`);
  }
}

/** Any other invalid argument (options, scalars, configuration). */
export class ArgumentError extends LigerMhcError {
  constructor(
    readonly argument: string,
    message: string,
  ) {
    super(`${argument}: ${message}`);
  }
}

/**
 * A tensor too large to allocate, refused before trying: `elements` (and `bytes`, where the dtype is
 * known) say what was asked for.
 */
export class AllocationError extends ArgumentError {
  constructor(
    argument: string,
    readonly shape: readonly number[],
    readonly elements: number,
    readonly bytes: number | null,
    limit: string,
  ) {
    super(
      argument,
      `cannot allocate a tensor of shape ${fmtShape(shape)} (${elements.toExponential(3)} elements${bytes === null ? '' : `, ${bytes.toExponential(3)} bytes`}; ${limit})`,
    );
  }
}

/** A file that cannot be read or written: names the path and carries the system's error code. */
export class FileError extends LigerMhcError {
  constructor(
    readonly path: string,
    readonly code: string | null,
    reason: string,
  ) {
    super(`${path}: ${reason}`);
  }

  /** Wrap what the file system threw (ENOENT, EACCES, ...) for `path`. */
  static from(path: string, err: unknown, doing = 'cannot read'): FileError {
    const code = (err as { code?: unknown })?.code;
    const c = typeof code === 'string' ? code : null;
    const why =
      c === 'ENOENT'
        ? 'no such file'
        : c === 'EISDIR'
          ? 'is a directory'
          : (c ?? String((err as Error)?.message ?? err).split('\n')[0]);
    return new FileError(path, c, `${doing} (${why})`);
  }
}

export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
