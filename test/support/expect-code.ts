// Assertions that a call fails with a given SignetError code (and, optionally, message).
import { expect } from "vitest";
import { isSignetError } from "../../ca/errors.js";

function check(err: unknown, code: string, message?: string | RegExp): void {
  expect(isSignetError(err), String(err)).toBe(true);
  expect((err as { code: string }).code).toBe(code);
  if (message) expect((err as Error).message).toMatch(message);
}

export function expectCode(fn: () => unknown, code: string, message?: string | RegExp): void {
  try {
    fn();
  } catch (err) {
    check(err, code, message);
    return;
  }
  throw new Error(`expected SignetError(${code}), but the call succeeded`);
}

export async function expectCodeAsync(p: Promise<unknown>, code: string, message?: string | RegExp): Promise<void> {
  try {
    await p;
  } catch (err) {
    check(err, code, message);
    return;
  }
  throw new Error(`expected SignetError(${code}), but the call succeeded`);
}
