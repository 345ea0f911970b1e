// The process logger. Secrets never reach it: request headers are not logged, and the paths below
// are redacted wherever they appear.
import pino, { type Logger } from "pino";

export const REDACT = [
  "req.headers.authorization",
  "headers.authorization",
  "authorization",
  "*.passphrase",
  "passphrase",
  "*.token",
  "token",
  "*.privateKey",
  "privateKey",
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: "signet" },
      redact: { paths: REDACT, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
