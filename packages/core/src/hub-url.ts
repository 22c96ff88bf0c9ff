/**
 * The hub's HTTP API address as a user gives it (--hub, a config, a CI variable). An empty one
 * is nearly always a variable that was never set; saying so beats "Invalid URL".
 */
import { userError } from './errors.js';

export function parseHubUrl(text: string, source = '--hub'): URL {
  if (text.trim() === '') {
    throw userError('no-hub-url', `the hub URL (${source}) is empty: give the hub's HTTP API as http(s)://HOST:PORT (in CI, set the variable passed to ${source}, e.g. EDGEML_HUB)`);
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw userError('bad-hub-url', `the hub URL (${source}) "${text}" is not a URL: give it as http(s)://HOST:PORT`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw userError('bad-hub-url', `the hub URL (${source}) "${text}" must start with http:// or https://`);
  }
  return url;
}
