/**
 * The release API's body read as it arrives: the JSON's top-level `artifact` string (base64, tens
 * of MB) is decoded straight into the artifact store, and only the rest of the body (spec,
 * validation, self-test rows: small) is kept and parsed. The hub never holds the body, its text
 * or the artifact whole: each of those was a copy per publish that the allocator kept.
 */
import type { ArtifactStore, ArtifactUpload, StoredArtifact } from '../store/artifacts.js';

const badRequest = (message: string) => Object.assign(new Error(message), { status: 400 });

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const ARTIFACT_KEY = 'artifact';
const BASE64 = new Uint8Array(256);
for (const c of Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=')) BASE64[c] = 1;

/** Base64 text in, bytes out to the upload; a group of four characters is never split. */
class Base64Sink {
  private carry = '';
  /** Decoded into one buffer, reused once the store has written it. */
  private readonly out = Buffer.allocUnsafe(49_152);

  constructor(private readonly upload: ArtifactUpload) {}

  async write(chunk: Buffer, from: number, to: number): Promise<void> {
    for (let i = from; i < to; i++) if (!BASE64[chunk[i]!]) throw badRequest('artifact: not base64');
    const text = this.carry + chunk.toString('latin1', from, to);
    const whole = text.length - (text.length % 4);
    // 65,536 characters decode to at most 49,152 bytes: the size of `out`.
    for (let at = 0; at < whole; at += 65_536) {
      const n = this.out.write(text.slice(at, Math.min(whole, at + 65_536)), 'base64');
      await this.upload.write(this.out.subarray(0, n));
    }
    this.carry = text.slice(whole);
  }

  end(): void {
    if (this.carry.length) throw badRequest('artifact: base64 length is not a multiple of 4');
  }
}

export interface ReleaseBody {
  /** The JSON body with `artifact` replaced by an empty string. */
  body: unknown;
  /** The decoded artifact, stored; undefined when the body had no `artifact` string. */
  artifact: StoredArtifact | undefined;
}

/**
 * Read a release request: `limit` bounds the whole body. The scanner follows JSON just enough
 * to find the top-level `artifact` value (strings, escapes, nesting depth); everything else is
 * left to JSON.parse, which refuses what is not JSON.
 */
export async function readReleaseBody(req: AsyncIterable<unknown>, store: ArtifactStore, limit: number): Promise<ReleaseBody> {
  const rest: Buffer[] = [];
  let size = 0;
  let depth = 0;
  let inString = false;
  let escaped = false;
  /** A string at depth 1 right after `{` or `,` is a key. */
  let expectKey = false;
  /** The key being read (its first characters: enough to tell `artifact`). */
  let key: string | undefined;
  let keyIsArtifact = false;
  /** After `"artifact":`, waiting for the value to start. */
  let awaitingValue = false;
  let sink: Base64Sink | undefined;
  let inArtifact = false;
  let upload: ArtifactUpload | undefined;
  let stored: StoredArtifact | undefined;
  try {
    for await (const piece of req) {
      const chunk = piece as Buffer;
      size += chunk.length;
      if (size > limit) throw Object.assign(new Error('body too large'), { status: 413 });
      let i = 0;
      let keepFrom = 0;
      while (i < chunk.length) {
        if (inArtifact) {
          const end = chunk.indexOf(QUOTE, i);
          const stop = end === -1 ? chunk.length : end;
          await sink!.write(chunk, i, stop);
          if (end === -1) {
            i = keepFrom = chunk.length;
            break;
          }
          inArtifact = false;
          sink!.end();
          stored = await upload!.finish();
          upload = undefined;
          // The closing quote stays in the kept body: `"artifact":""`.
          keepFrom = end;
          i = end + 1;
          continue;
        }
        const c = chunk[i]!;
        if (inString) {
          if (key !== undefined && key.length <= ARTIFACT_KEY.length && !escaped && c !== QUOTE) key += String.fromCharCode(c);
          if (escaped) escaped = false;
          else if (c === BACKSLASH) escaped = true;
          else if (c === QUOTE) {
            inString = false;
            if (key !== undefined) keyIsArtifact = key === ARTIFACT_KEY;
            key = undefined;
          }
        } else if (c === QUOTE) {
          if (awaitingValue && depth === 1 && stored === undefined) {
            // The value begins: its characters go to the store, not into the kept body.
            rest.push(Buffer.from(chunk.subarray(keepFrom, i + 1)));
            keepFrom = i + 1;
            awaitingValue = false;
            inArtifact = true;
            upload = await store.upload();
            sink = new Base64Sink(upload);
            i++;
            continue;
          }
          inString = true;
          key = depth === 1 && expectKey ? '' : undefined;
          expectKey = false;
          awaitingValue = false;
        } else if (c === 0x7b || c === 0x5b) {
          depth++;
          expectKey = depth === 1 && c === 0x7b;
          awaitingValue = false;
        } else if (c === 0x7d || c === 0x5d) {
          depth--;
          awaitingValue = false;
        } else if (c === 0x2c) {
          expectKey = depth === 1;
          awaitingValue = false;
        } else if (c === 0x3a) {
          awaitingValue = depth === 1 && keyIsArtifact;
          keyIsArtifact = false;
        } else if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) {
          awaitingValue = false;
        }
        i++;
      }
      if (keepFrom < chunk.length) rest.push(Buffer.from(chunk.subarray(keepFrom)));
    }
    if (inArtifact) throw badRequest('body is not valid JSON');
  } catch (e) {
    await upload?.abort();
    throw e;
  }
  try {
    return { body: JSON.parse(Buffer.concat(rest).toString('utf8')) as unknown, artifact: stored };
  } catch {
    throw badRequest('body is not valid JSON');
  }
}
