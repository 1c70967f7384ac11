// Types of list-fatbin.mjs (a plain script, so it runs from a packed package without a build step).
export const PREBUILT_TARGETS: readonly string[];
export class FatbinError extends Error {}
export interface FatbinEntry {
  kind: 'ptx' | 'sass' | `kind-${number}`;
  /** sm_90a (SASS) or compute_120 (PTX). */
  target: string;
  arch: number;
  compressed: boolean;
  size: number;
  /** PTX entries only: the PTX ISA version, e.g. '9.0'. */
  ptxVersion?: string;
}
export interface FatbinContainer {
  offset: number;
  version: number;
  size: number;
  entries: FatbinEntry[];
}
export interface FatbinSummary {
  containers: number;
  sass: string[];
  ptx: string[];
  ptxVersions: string[];
  inEvery: string[];
  compressedEntries: number;
  entries: number;
}
export function fatbinSections(buf: Buffer): { offset: number; size: number }[];
export function listFatbin(buf: Uint8Array): FatbinContainer[];
export function summarize(containers: FatbinContainer[]): FatbinSummary;
export function missingTargets(containers: FatbinContainer[], required: readonly string[]): string[];
