/**
 * Reading a request body into one buffer, bounded. The chunks are kept as they arrive and joined
 * once at the end into a buffer of exactly their total length (one copy; none for a body that came
 * in one chunk). Memory grows only with the bytes received, never with what a client merely
 * declares: a client that announces 1 MiB and sends one byte pins one byte.
 */
import type { IncomingMessage } from 'node:http';

/** A refused or broken body: the HTTP status and a message naming the problem. */
export class BodyError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The declared Content-Length, or undefined when the body is chunked (or the header is absent). */
export function declaredLength(req: IncomingMessage): number | undefined {
  const header = req.headers['content-length'];
  if (header === undefined) return undefined;
  // node's parser has already refused a malformed Content-Length with 400 (clientError).
  const n = Number(header);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * The whole body of `req`, at most `limit` bytes; a larger one is refused with 413 (before
 * reading when declared, else as soon as it passes the limit). The buffer may be a view into
 * node's read buffer, not 4-byte aligned: callers that need typed views check byteOffset.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = declaredLength(req);
  if (declared !== undefined && declared > limit) return Promise.reject(new BodyError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      // Only a chunked upload can pass the limit here: node's parser stops at the declared length.
      if (size > limit) {
        req.off('data', onData);
        // Keep reading (and dropping) the rest, so the client is not cut off before our answer.
        req.resume();
        reject(new BodyError(413, `request body exceeds the limit of ${limit} bytes`));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    // Buffer.concat makes a buffer of its own, 8-byte aligned by node: what compact bodies view
    // as float32 rows in place.
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    // A client that goes away mid-body must not leave this promise (and its buffer) behind; node
    // reports it as an error ("aborted"), then a close.
    const aborted = () => new BodyError(400, 'the request was aborted before its body was complete');
    req.on('error', (e) => reject(req.complete ? e : aborted()));
    req.on('close', () => {
      if (!req.complete) reject(aborted());
    });
  });
}
