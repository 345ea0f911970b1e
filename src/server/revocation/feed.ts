// The live revocation feed, on the HTTPS port for authenticated relying parties (the inference proxy):
//   GET /revocations?since=CURSOR[&limit=N][&wait=S]   a page of revocations after the cursor; with
//       `wait`, a long poll that returns as soon as there is something new (or after S seconds)
//   GET /revocations/stream[?since=CURSOR]            Server-Sent Events; resumes from Last-Event-ID
// A cursor is the audit seq of a revocation, so a consumer that reconnects with the last cursor it
// saw receives everything it missed, whichever replica it reaches.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { once } from "node:events";
import type { ServerResponse } from "node:http";
import { AUDIT_EVENTS } from "../../../ca/audit.js";
import { SignetError } from "../../../ca/errors.js";
import { feedItem, type FeedItem } from "../../db/revocations.js";
import type { FollowedEvent } from "../../revocation/follower.js";
import type { RevocationService } from "../../revocation/service.js";
import type { Services } from "../../services.js";
import { errorResponses } from "../admin/schemas.js";

const HEARTBEAT_MS = 15_000;
/** Bytes a live stream may have queued for a client before it is ended. */
const MAX_BUFFERED = 1 << 20;
const MAX_WAIT_SECONDS = 60;
const PAGE = 1000;

const itemSchema = {
  type: "object",
  properties: {
    cursor: { type: "string" },
    serial: { type: "string" },
    issuerId: { type: ["string", "null"] },
    revokedAt: { type: "string" },
    reason: { type: "string" },
    reasonCode: { type: "integer" },
    invalidityDate: { type: ["string", "null"] },
    notAfter: { type: ["string", "null"] },
    nodeId: { type: ["string", "null"] },
    identity: { type: ["string", "null"] },
    spiffeId: { type: ["string", "null"] },
    actor: { type: "string" },
  },
} as const;

const cursorPattern = "^(\\d{1,19}|latest)$";

export function feedRoutes(app: FastifyInstance, s: Services, rev: RevocationService): void {
  const streams = new Set<ServerResponse>();
  const polls = new Set<() => void>();
  // Streams and long polls never end by themselves; closing the server ends them (clients then
  // resume elsewhere) instead of waiting for them.
  app.addHook("preClose", async () => {
    for (const res of streams) res.end();
    for (const done of polls) done();
  });

  const parseCursor = async (v: string | undefined): Promise<bigint> => {
    if (v === undefined || v === "") return 0n;
    if (v === "latest") return BigInt(await s.revocations.latestCursor());
    if (!/^\d{1,19}$/.test(v) || BigInt(v) > 9223372036854775807n) throw new SignetError("bad_request", `cursor ${JSON.stringify(v)} is not a cursor from this feed`);
    return BigInt(v);
  };

  app.get<{ Querystring: { since?: string; limit?: number; wait?: number; includeExpired?: boolean } }>(
    "/revocations",
    {
      schema: {
        summary: "Revocations after a cursor (long poll with wait)",
        tags: ["revocation"],
        querystring: {
          type: "object",
          additionalProperties: false,
          properties: {
            since: { type: "string", pattern: cursorPattern, description: "a cursor from an earlier answer, 0 for everything, or latest" },
            limit: { type: "integer", minimum: 1, maximum: 10_000, default: PAGE },
            wait: { type: "integer", minimum: 0, maximum: MAX_WAIT_SECONDS, default: 0, description: "seconds to wait for a revocation when there is none yet" },
            includeExpired: { type: "boolean", default: false, description: "also list revocations of certificates that have expired" },
          },
        },
        response: {
          200: {
            type: "object",
            properties: {
              items: { type: "array", items: itemSchema },
              cursor: { type: "string", description: "pass as since= next time" },
              more: { type: "boolean", description: "the page was full: ask again at once" },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (req, reply) => {
      const since = await parseCursor(req.query.since);
      const limit = req.query.limit ?? PAGE;
      const includeExpired = req.query.includeExpired ?? false;
      const wait = req.query.wait ?? 0;
      // Listen before reading, so a revocation committed right after the read still wakes the poll.
      const next = wait > 0 ? nextRevocation(rev, since, wait * 1000, reply) : null;
      if (next) polls.add(next.cancel);
      try {
        let page = await s.revocations.feed(since, limit, includeExpired);
        if (next && page.cursor === since.toString()) {
          await next.promise;
          page = await s.revocations.feed(since, limit, includeExpired);
        }
        return page;
      } finally {
        if (next) {
          next.cancel();
          polls.delete(next.cancel);
        }
      }
    },
  );

  app.get<{ Querystring: { since?: string } }>(
    "/revocations/stream",
    {
      schema: {
        summary: "Revocations as Server-Sent Events (resumable with Last-Event-ID)",
        tags: ["revocation"],
        querystring: { type: "object", additionalProperties: false, properties: { since: { type: "string", pattern: cursorPattern } } },
        response: {
          200: { description: "one `revocation` event per revocation, id = cursor", content: { "text/event-stream": { schema: { type: "string" } } } },
          ...errorResponses,
        },
      },
    },
    async (req, reply) => {
      const lastEventId = req.headers["last-event-id"];
      let last = await parseCursor(typeof lastEventId === "string" && lastEventId !== "" ? lastEventId : req.query.since);
      stream(req, reply, async (res) => {
        streams.add(res);
        s.metrics.feedClients.inc();
        let buffering = true;
        const buffered: FollowedEvent[] = [];
        const write = (item: FeedItem) => {
          const seq = BigInt(item.cursor);
          if (seq <= last) return;
          last = seq;
          res.write(`id: ${item.cursor}\nevent: revocation\ndata: ${JSON.stringify(item)}\n\n`);
          // A reader that stopped reading is let go (it resumes with Last-Event-ID) rather than
          // buffered for without bound.
          if (!buffering && res.writableLength > MAX_BUFFERED) res.end();
        };
        const live = (events: FollowedEvent[]) => {
          for (const e of events) {
            if (e.event !== AUDIT_EVENTS.certificateRevoked) continue;
            if (buffering) buffered.push(e);
            else write(feedItem(e.seq, e.time, e.actor, e.target, e.data));
            // The certificate this stream authenticated with was just revoked: that was the last event.
            if (!buffering && req.admin?.kind === "certificate" && e.target === req.admin.id) res.end();
          }
        };
        // Subscribe first, then read the backlog: whatever commits in between arrives on both paths
        // and is written once (the cursor only moves forward).
        const unsubscribe = rev.follower.subscribe(live);
        // The credentials are checked again at every heartbeat: a stream does not outlive the token
        // or certificate that opened it (revoked, expired).
        const heartbeat = setInterval(() => {
          void stillAuthorized(s, req).then((ok) => {
            if (ok) res.write(": keep-alive\n\n");
            else res.end();
          });
        }, HEARTBEAT_MS);
        heartbeat.unref();
        res.on("close", () => {
          unsubscribe();
          clearInterval(heartbeat);
          streams.delete(res);
          s.metrics.feedClients.dec();
        });
        res.write(`retry: 1000\n: cursor ${last}\n\n`);
        try {
          for (;;) {
            const page = await s.revocations.feed(last, PAGE);
            for (const item of page.items) write(item);
            if (BigInt(page.cursor) > last) last = BigInt(page.cursor);
            // The backlog goes no faster than the client reads it.
            if (res.writableNeedDrain) await Promise.race([once(res, "drain"), once(res, "close")]);
            if (!page.more) break;
            if (res.destroyed) return;
          }
        } catch (err) {
          req.log.error({ err }, "reading the revocation backlog failed");
          res.end();
          return;
        }
        buffering = false;
        for (const e of buffered.splice(0)) write(feedItem(e.seq, e.time, e.actor, e.target, e.data));
      });
    },
  );
}

/** Whether the credentials that opened `req` are still good (admin tokens are cached for 10 s). */
async function stillAuthorized(s: Services, req: FastifyRequest): Promise<boolean> {
  try {
    const who = req.admin;
    if (!who) return false;
    if (who.kind === "token") {
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
      return m !== null && (await s.tokens.verify(m[1]!)) !== null;
    }
    const c = await s.certificates.get(who.id);
    return c !== null && c.status === "valid" && c.notAfter.getTime() > Date.now();
  } catch {
    return true; // the database being briefly unreachable is not a reason to drop subscribers
  }
}

function stream(req: FastifyRequest, reply: FastifyReply, run: (res: ServerResponse) => Promise<void>): void {
  void reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-store",
    connection: "keep-alive",
    "x-accel-buffering": "no",
  });
  req.raw.socket.setNoDelay(true);
  run(res).catch((err: unknown) => {
    req.log.error({ err }, "revocation stream failed");
    res.end();
  });
}

/** Resolves when the follower delivers a revocation after `since`, after `ms`, or when the client leaves. */
function nextRevocation(rev: RevocationService, since: bigint, ms: number, reply: FastifyReply): { promise: Promise<void>; cancel(): void } {
  let cancel = () => undefined as void;
  const promise = new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      unsubscribe();
      reply.raw.off("close", done);
      resolve();
    };
    cancel = done;
    const unsubscribe = rev.follower.subscribe((events) => {
      if (events.some((e) => e.event === AUDIT_EVENTS.certificateRevoked && e.seq > since)) done();
    });
    const timer = setTimeout(done, ms);
    reply.raw.on("close", done);
  });
  return { promise, cancel: () => cancel() };
}
