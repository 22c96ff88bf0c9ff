/**
 * Every workspace declares every package it imports. Inside the monorepo npm hoists all
 * dependencies to the root, so an undeclared import works here and fails the day the package
 * is installed on its own (a device, a CI runner). Shipped code must name its imports under
 * `dependencies`; tests and fixtures may also use `devDependencies` and the root's.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  workspaces?: string[];
}

const readManifest = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest;

const builtins = new Set(builtinModules);

/** `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`; undefined for relative and builtin specifiers. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return undefined;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
  return builtins.has(name) ? undefined : name;
}

// Static imports and re-exports, dynamic import() with a literal, require() and require.resolve().
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire(?:\.resolve)?\s*\(\s*)['"](@?[\w.-][\w./-]*)['"]/g;

function importsOf(source: string): string[] {
  const found = new Set<string>();
  for (const m of source.matchAll(SPECIFIER)) {
    const name = packageOf(m[1]!);
    if (name) found.add(name);
  }
  return [...found];
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'dist') continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|js|mjs)$/.test(entry) && !entry.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

const isTestOnly = (path: string): boolean => /\.(test|fixture)\.ts$/.test(path) || /[/\\]test[/\\]src[/\\]/.test(path);

describe('declared dependencies', () => {
  it('finds the package names an import names', () => {
    expect(importsOf("import { z } from 'zod';\nimport type { X } from '@edgeml/core';\nexport { a } from './a.js';")).toEqual(['zod', '@edgeml/core']);
    expect(importsOf("const m = await import('@tensorflow/tfjs-tflite');\nrequire.resolve('@tensorflow/tfjs-tflite/package.json');")).toEqual(['@tensorflow/tfjs-tflite']);
    expect(importsOf("import 'node:fs';\nimport { x } from 'fs';\nimport { y } from 'csv-stringify/sync';")).toEqual(['csv-stringify']);
  });

  const rootManifest = readManifest(root);
  for (const ws of rootManifest.workspaces ?? []) {
    it(`${ws} declares what it imports`, () => {
      const dir = join(root, ws);
      const pkg = readManifest(dir);
      const shipped = new Set([pkg.name, ...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})]);
      const forTests = new Set([...shipped, ...Object.keys(pkg.devDependencies ?? {}), ...Object.keys(rootManifest.devDependencies ?? {})]);
      const missing: string[] = [];
      for (const dirName of ['src', 'bin']) {
        const base = join(dir, dirName);
        let files: string[];
        try {
          files = sourceFiles(base);
        } catch {
          continue;
        }
        for (const file of files) {
          if (file === import.meta.filename) continue; // its own examples are strings, not imports
          const allowed = isTestOnly(file) ? forTests : shipped;
          for (const name of importsOf(readFileSync(file, 'utf8'))) {
            if (!allowed.has(name)) missing.push(`${relative(root, file)} imports ${name}`);
          }
        }
      }
      expect(missing, `undeclared in ${ws}/package.json`).toEqual([]);
    });
  }
});
