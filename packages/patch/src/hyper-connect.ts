import { ArgumentError, LigerMHC, type MhcOptions, type Module, type Random } from '@liger-mhc/core';
import { ExpandStreams, ReduceStreams, ReferenceMHC, Residual } from '@liger-mhc/models';
import { replaceEverywhere } from './swap.js';

export interface HyperConnectOptions extends MhcOptions {
  /** Residual streams (the expansion rate, hc). */
  streams: number;
  /**
   * Width of each residual branch. Default: what the Residual module records (the GPT records
   * its model width); required for Residual modules built without one.
   */
  dim?: number;
  /** Wrap branches in ReferenceMHC (generic ops, patchable later) instead of LigerMHC (fused). */
  reference?: boolean;
  rng?: Random;
}

export interface HyperConnectHandle<M extends Module> {
  model: M;
  report: { streams: number; wrapped: { path: string; to: string; c: number }[] };
  /** Back to the plain residual: the original Residual modules return, the mHC parameters are disposed. */
  undo(): void;
}

/**
 * Turn a plain residual model into an mHC model in place: the ExpandStreams after the embedding
 * starts copying the hidden state onto `streams` streams, each Residual (x + f(x)) becomes an mHC
 * layer around the same branch f, and the ReduceStreams before the head sums the streams. The
 * branches keep their trained weights; the new mHC parameters start at LigerMHC's initialisation.
 */
export function hyperConnect<M extends Module>(
  model: M,
  options: HyperConnectOptions,
): HyperConnectHandle<M> {
  const { streams, dim, reference, rng, ...mhc } = options;
  if (!Number.isInteger(streams) || streams < 1)
    throw new ArgumentError('streams', `expected an integer >= 1, got ${streams}`);
  const all = [...model.namedModules()];
  const residuals = all.filter((e): e is [string, Residual] => e[1] instanceof Residual);
  const expands = all.filter((e): e is [string, ExpandStreams] => e[1] instanceof ExpandStreams);
  const reduces = all.filter((e): e is [string, ReduceStreams] => e[1] instanceof ReduceStreams);
  const name = model.constructor.name;
  if (residuals.length === 0) {
    const mhcLayers = all.filter(([, m]) => m instanceof LigerMHC || m instanceof ReferenceMHC).length;
    throw new ArgumentError(
      'model',
      mhcLayers > 0
        ? `this ${name} is already hyper-connected (${mhcLayers} mHC layers, no plain Residual left)`
        : `no plain residual connections (Residual modules from @liger-mhc/models) in this ${name}`,
    );
  }
  if (expands.length !== 1 || reduces.length !== 1)
    throw new ArgumentError(
      'model',
      `unsupported module: this ${name} has ${expands.length} ExpandStreams and ${reduces.length} ReduceStreams; hyperConnect needs exactly one of each (after the embedding, before the head) to add the stream axis`,
    );
  const expand = expands[0]![1];
  const reduce = reduces[0]![1];
  if (expand.streams !== null || reduce.streams !== null)
    throw new ArgumentError('model', `already expanded to ${expand.streams ?? reduce.streams} streams`);

  const plan = residuals.map(([path, r]) => {
    const c = r.dim ?? dim;
    if (c === undefined)
      throw new ArgumentError('dim', `the Residual at '${path}' does not record its width: pass { dim }`);
    return { path, r, c };
  });
  const undos: (() => void)[] = [];
  const created: Module[] = [];
  for (const { r, c } of plan) {
    const backend = r.parameters()[0]?.backend ?? model.parameters()[0]?.backend;
    // The plain branches computed in the activation dtype; the streams' dtype keeps them there.
    const common = {
      ...mhc,
      allowFp32: true,
      hc: streams,
      c,
      backend,
      rng,
      layerInputDtype: 'streams' as const,
    };
    const layer = r.layer;
    const wrapped = reference ? new ReferenceMHC(layer, common) : new LigerMHC(layer, common);
    created.push(wrapped);
    undos.push(replaceEverywhere(model, r, wrapped));
  }
  expand.streams = streams;
  reduce.streams = streams;
  return {
    model,
    report: {
      streams,
      wrapped: plan.map(({ path, c }) => ({ path, to: reference ? 'ReferenceMHC' : 'LigerMHC', c })),
    },
    undo() {
      expand.streams = null;
      reduce.streams = null;
      for (const u of undos.reverse()) u();
      for (const m of created) {
        // Only the mHC parameters belong to the wrapper; the branch is the Residual's again.
        for (const p of [...m.namedParameters()].filter(([n]) => !n.startsWith('layer.')).map(([, t]) => t))
          p.dispose();
      }
    },
  };
}
