/**
 * Reading a request body into one buffer, bounded. A body with a Content-Length (every client we
 * document sends one) is copied chunk by chunk into a buffer of that size as it arrives: no array
 * of chunks, no concatenation at the end. One that arrives in a single chunk is not copied at
 * all. Only a chunked upload (no Content-Length) collects its chunks and joins them once.
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
  if (declared === 0) {
    // Nothing to wait for but the end of the message (node emits it at once).
    req.resume();
    return Promise.resolve(Buffer.alloc(0));
  }
  return new Promise((resolve, reject) => {
    /** With a declared length: the first chunk while it is the only one, then the buffer it was copied into. */
    let whole: Buffer | undefined;
    let size = 0;
    /** Without one: the chunks, joined at the end. */
    const chunks: Buffer[] = [];
    const onData = (c: Buffer) => {
      if (declared !== undefined) {
        // node's parser never passes more than the declared length.
        if (size === 0 && c.length === declared) whole = c;
        else {
          // A body split over reads: each chunk is copied once, to its place.
          whole ??= Buffer.allocUnsafe(declared);
          c.copy(whole, size);
        }
        size += c.length;
        return;
      }
      size += c.length;
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
    req.on('end', () => {
      if (declared !== undefined) resolve(whole ?? Buffer.alloc(0));
      else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    // A client that goes away mid-body must not leave this promise (and its buffer) behind; node
    // reports it as an error ("aborted"), then a close.
    const aborted = () => new BodyError(400, 'the request was aborted before its body was complete');
    req.on('error', (e) => reject(req.complete ? e : aborted()));
    req.on('close', () => {
      if (!req.complete) reject(aborted());
    });
  });
}
