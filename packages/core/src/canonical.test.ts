import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical.js';

describe('canonicalJson', () => {
  it('gives the same bytes whatever order the keys were written in', () => {
    const a = canonicalJson({ b: 1, a: 2, c: { z: true, y: null } });
    const b = canonicalJson({ c: { y: null, z: true }, a: 2, b: 1 });
    expect(a).toBe(b);
    expect(a).toBe('{"a":2,"b":1,"c":{"y":null,"z":true}}');
  });

  it('sorts keys inside objects nested in arrays and keeps array order', () => {
    const text = canonicalJson({ list: [{ y: 1, x: [3, 2, 1] }, 'two', false], empty: {}, none: [] });
    expect(text).toBe('{"empty":{},"list":[{"x":[3,2,1],"y":1},"two",false],"none":[]}');
  });

  it('has no insignificant whitespace and escapes strings as JSON does', () => {
    expect(canonicalJson({ 'a b': 'line\n"quoted"', n: -1.5e-7 })).toBe('{"a b":"line\\n\\"quoted\\"","n":-1.5e-7}');
  });

  it('parses back to the value it encoded', () => {
    const value = { version: 3, labels: ['a', 'b'], spec: { mean: [0.25, -1], std: [1, 2] }, ok: true, gone: null };
    expect(JSON.parse(canonicalJson(value))).toEqual(value);
  });

  it('drops undefined object fields, as a JSON round trip would', () => {
    expect(canonicalJson({ a: 1, b: undefined, c: { d: undefined } })).toBe('{"a":1,"c":{}}');
    expect(canonicalJson({ a: 1, b: undefined })).toBe(canonicalJson({ a: 1 }));
  });

  it.each([
    ['NaN', { x: NaN }, '$.x'],
    ['Infinity', { x: { y: Infinity } }, '$.x.y'],
    ['-Infinity', [1, -Infinity], '$[1]'],
  ])('refuses %s, naming where it is', (_, value, path) => {
    expect(() => canonicalJson(value)).toThrow(TypeError);
    expect(() => canonicalJson(value)).toThrow(`${path} is not a finite number`);
  });

  it.each([
    ['a bigint', { n: 1n }],
    ['a function', { f: () => 1 }],
    ['a symbol', { s: Symbol('s') }],
    ['undefined inside an array', [1, undefined]],
  ])('refuses %s, which would not survive a round trip', (_, value) => {
    expect(() => canonicalJson(value)).toThrow(/unsupported type/);
  });
});
