import type { Static, TSchema } from 'typebox';

/**
 * A seeded pseudo-random source (mulberry32). Not for secrets: its only job is that the same seed
 * gives the same converted prompt, so a finding can be reproduced exactly from its recorded seed.
 */
export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  below(n: number): number;
}

export const MAX_SEED = 0xffff_ffff;

export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return { next, below: (n) => Math.floor(next() * n) };
}

/** Each step of a chain gets its own seed from the chain's, so two random steps never move in lockstep. */
export function stepSeed(chainSeed: number, index: number): number {
  let h = (chainSeed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** What decoding one step of a response gave: the text under it, or why it cannot go further. */
export type DecodeOutcome =
  | { ok: true; text: string; /** The text was not in this step's form and went on unchanged (a frame the answer lacks). */ passedThrough?: boolean }
  | { ok: false; reason: string };

/** A rule across parameters the schema cannot say; `pointer` is relative to the params object. */
export interface ParamProblem {
  pointer: string;
  detail: string;
}

/** One converter: its public description, strict parameter schema, and the transformation itself. */
export interface ConverterDefinition<P extends TSchema = TSchema> {
  id: string;
  name: string;
  description: string;
  /** A closed TypeBox object schema with defaults; every string and number in it is bounded. */
  params: P;
  /** Whether `decode` undoes `encode` (see each converter's note on what the round trip keeps). */
  reversible: boolean;
  /** For reversible converters: what decoding gives back (shown in the catalogue). */
  roundTrip?: string;
  /** Whether the converter draws from the seeded source (its params then take an optional `seed`). */
  seeded?: boolean;
  /** Parameters that carry free text (attack content): lineage records their hash, never their value. */
  contentParams?: readonly string[];
  /** An upper bound of the output's size in bytes, computed before the output is built. */
  maxOutputBytes(inputBytes: number, params: Static<P>): number;
  /** Rules across parameters (e.g. exactly one of two), checked after the schema. */
  check?(params: Static<P>): ParamProblem[];
  encode(text: string, params: Static<P>, random: Random): string;
  decode?(text: string, params: Static<P>): DecodeOutcome;
}

/** Keeps each definition's parameter type checked where it is written, then erases it for the registry. */
export const defineConverter = <P extends TSchema>(definition: ConverterDefinition<P>): ConverterDefinition =>
  definition;
