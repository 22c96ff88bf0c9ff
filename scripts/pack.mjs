#!/usr/bin/env node
// `npm run pack [-- --out DIR] [--no-build] [--only agent,agent-offline,cli]`: versioned tarballs that install outside this
// repository.
//   edgeml-agent-<v>.tgz          the device package (`edgeml-agent`); our packages and a pruned
//                                 TFLite interpreter are bundled, the rest comes from the registry
//   edgeml-agent-<v>-offline.tgz  the same with every dependency bundled, for devices with no
//                                 registry access (`npm install -g --offline FILE`)
//   edgeml-<v>.tgz                the `edgeml` CLI for workstations and CI, our packages bundled
// Our packages are bundled rather than published one by one so that a single file is the whole
// install: `npm install -g` of a tarball cannot resolve a sibling tarball.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values: flags } = parseArgs({ options: { out: { type: 'string', default: 'dist-pack' }, 'no-build': { type: 'boolean' }, only: { type: 'string' } } });
const wanted = (what) => flags.only === undefined || flags.only.split(',').includes(what);
const out = resolve(root, flags.out);
const stage = join(out, '.stage');

/** Workspace folder of each of our packages. */
const WORKSPACES = {
  '@edgeml/core': 'packages/core',
  '@edgeml/runtime': 'packages/runtime',
  '@edgeml/ml': 'packages/ml',
  '@edgeml/tflite': 'packages/tflite',
  '@edgeml/hub': 'hub',
  '@edgeml/agent': 'agent',
  edgeml: 'cli',
};

/**
 * What the TFLite runtime loads from @tensorflow/tfjs-tflite: the single-threaded SIMD build's
 * Emscripten glue and binary (packages/runtime/src/tflite/runtime/env.ts drives them directly,
 * without the package's browser client or tfjs-core). The other bundles, source maps and wasm
 * variants are 95% of the package.
 */
const TFLITE_KEEP = ['package.json', 'LICENSE', 'wasm/tflite_web_api_cc_simd.js', 'wasm/tflite_web_api_cc_simd.wasm'];

const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'));
const writeJson = (p, v) => writeFileSync(p, JSON.stringify(v, null, 2) + '\n');
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
const manifest = (name) => readJson(join(root, WORKSPACES[name], 'package.json'));
const ours = (deps) => Object.keys(deps ?? {}).filter((d) => d in WORKSPACES);

function build() {
  run(join(root, 'node_modules/.bin/tsc'), ['-b', ...Object.values(WORKSPACES)], root);
}

/** dist files compiled from the workspace's current sources (a moved source leaves stale output). */
function builtFiles(from) {
  const files = [];
  const walk = (rel) => {
    for (const entry of readdirSync(join(from, 'src', rel), { withFileTypes: true })) {
      const r = join(rel, entry.name);
      if (entry.isDirectory()) walk(r);
      else if (entry.name.endsWith('.ts') && !/\.(test|fixture|d)\.ts$/.test(entry.name)) {
        const base = join('dist', r.slice(0, -'.ts'.length));
        files.push(`${base}.js`, `${base}.d.ts`);
      }
    }
  };
  walk('');
  return files;
}

/** Copy a built workspace into `to`: its manifest, launcher and compiled JS with declarations. */
function stagePackage(name, to) {
  const from = join(root, WORKSPACES[name]);
  mkdirSync(to, { recursive: true });
  for (const rel of builtFiles(from)) {
    if (!existsSync(join(from, rel))) throw new Error(`${WORKSPACES[name]}/${rel} is missing: build first (npx tsc -b)`);
    mkdirSync(dirname(join(to, rel)), { recursive: true });
    cpSync(join(from, rel), join(to, rel));
  }
  if (existsSync(join(from, 'bin'))) cpSync(join(from, 'bin'), join(to, 'bin'), { recursive: true });
  if (existsSync(join(from, 'README.md'))) cpSync(join(from, 'README.md'), join(to, 'README.md'));
  const pkg = manifest(name);
  delete pkg.private;
  delete pkg.devDependencies;
  pkg.files = ['bin/', 'dist/'].filter((f) => existsSync(join(to, f)));
  writeJson(join(to, 'package.json'), pkg);
  return pkg;
}

/** Copy only `keep` of an installed third-party package, and drop its peer pins (see .npmrc). */
function stagePruned(name, keep, to) {
  const from = join(root, 'node_modules', name);
  for (const rel of keep) {
    if (!existsSync(join(from, rel))) continue;
    mkdirSync(dirname(join(to, rel)), { recursive: true });
    cpSync(join(from, rel), join(to, rel));
  }
  const pkg = readJson(join(to, 'package.json'));
  // tfjs-tflite pins tfjs-core as a peer for its browser client, which is not shipped; type-only
  // packages are not run.
  delete pkg.peerDependencies;
  delete pkg.devDependencies;
  if (pkg.dependencies) for (const d of Object.keys(pkg.dependencies)) if (d.startsWith('@types/') || d === '@webgpu/types') delete pkg.dependencies[d];
  delete pkg.scripts;
  // Entry points that were pruned away: the package is used for its files, never imported.
  for (const field of ['main', 'module', 'browser', 'types', 'typings', 'jsdelivr', 'unpkg', 'miniprogram']) {
    if (typeof pkg[field] === 'string' && !keep.includes(pkg[field].replace(/^\.\//, ''))) delete pkg[field];
  }
  writeJson(join(to, 'package.json'), pkg);
  return pkg;
}

/**
 * Stage `top` with our packages it needs (transitively) bundled in its node_modules. Their
 * registry dependencies are declared on `top` itself so npm installs them beside the bundle.
 */
function stageWithBundle(top, dir, pruned) {
  const pkg = stagePackage(top, dir);
  const bundled = [];
  const external = { ...pkg.dependencies };
  const queue = ours(pkg.dependencies);
  while (queue.length) {
    const name = queue.shift();
    if (bundled.includes(name)) continue;
    bundled.push(name);
    const dep = stagePackage(name, join(dir, 'node_modules', name));
    for (const [d, range] of Object.entries(dep.dependencies ?? {})) {
      if (d in WORKSPACES) queue.push(d);
      else external[d] ??= range;
    }
  }
  for (const [name, keep] of Object.entries(pruned)) {
    const dep = stagePruned(name, keep, join(dir, 'node_modules', name));
    bundled.push(name);
    external[name] = dep.version;
    for (const [d, range] of Object.entries(dep.dependencies ?? {})) if (!(d in pruned)) external[d] ??= range;
  }
  for (const name of bundled) external[name] = name in WORKSPACES ? manifest(name).version : external[name];
  pkg.dependencies = Object.fromEntries(Object.entries(external).sort(([a], [b]) => a.localeCompare(b)));
  pkg.bundleDependencies = bundled.sort();
  // The optional tfjs peer is for an install next to the full toolkit; a bundle never carries it.
  delete pkg.peerDependencies;
  delete pkg.peerDependenciesMeta;
  writeJson(join(dir, 'package.json'), pkg);
  return pkg;
}

/** The device package's entry points, each bundled to one file at the top of dist/ (see bundleAgent). */
const AGENT_ENTRIES = { index: 'dist/index.js', 'model-worker': 'dist/batch/model-worker.js', 'codec-worker': 'dist/batch/codec-worker.js', runtimes: 'dist/cli/runtimes.js' };
/** Loaded at run time, never bundled: the optional tfjs peer, and the interpreter's files. */
const AGENT_EXTERNAL = ['@edgeml/ml', '@tensorflow/*'];

/**
 * Bundle the staged agent into one file per entry point (the daemon and CLI, and the three
 * modules batch workers load by URL), with our packages, zod, mqtt and prom-client inside. An
 * agent that loads ~400 modules from 60 packages holds each one's source, module record and
 * compiled code: bundled, it starts faster and idles ~10 MB lower (docs/BENCHMARKS.md,
 * footprint). The entries keep their relative places: a worker URL such as
 * `new URL('./model-worker.js', import.meta.url)` names a file in the same folder as the module
 * that starts it, before and after bundling. Identifiers are kept so stack traces stay readable.
 * Only the TFLite interpreter's files remain a package of their own.
 */
async function bundleAgent(dir) {
  const { build } = await import('esbuild');
  const tmp = join(dir, '.bundle');
  const result = await build({
    entryPoints: Object.fromEntries(Object.entries(AGENT_ENTRIES).map(([name, rel]) => [name, join(dir, rel)])),
    outdir: tmp,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    external: AGENT_EXTERNAL,
    nodePaths: [join(root, 'node_modules')],
    // CommonJS dependencies (mqtt, prom-client) call require() for Node's own modules.
    banner: { js: "import { createRequire as __edgemlRequire } from 'node:module'; const require = __edgemlRequire(import.meta.url);" },
    metafile: true,
    logLevel: 'error',
  });
  rmSync(join(dir, 'dist'), { recursive: true });
  renameSync(tmp, join(dir, 'dist'));
  // The licences of what is now inside our files travel with them.
  const inside = new Map();
  for (const input of Object.keys(result.metafile.inputs)) {
    const at = input.lastIndexOf('node_modules/');
    if (at < 0) continue;
    const parts = input.slice(at + 'node_modules/'.length).split('/');
    const name = parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
    if (!name.startsWith('@edgeml/')) inside.set(name, resolve(input.slice(0, at), 'node_modules', name));
  }
  const notices = [...inside.keys()].sort().map((name) => {
    const from = inside.get(name);
    const licence = readdirSync(from).find((f) => /^licen[cs]e/i.test(f));
    const { version, license } = readJson(join(from, 'package.json'));
    return `## ${name} ${version} (${license})\n\n${licence ? readFileSync(join(from, licence), 'utf8').trim() : 'no licence file in the package'}\n`;
  });
  writeFileSync(join(dir, 'THIRD_PARTY_NOTICES.md'), `# Packages bundled in dist/\n\n${notices.join('\n')}`);
  rmSync(join(dir, 'node_modules/@edgeml'), { recursive: true, force: true });
  const pkg = readJson(join(dir, 'package.json'));
  const kept = Object.keys(pkg.dependencies).filter((d) => AGENT_EXTERNAL.some((e) => (e.endsWith('/*') ? d.startsWith(e.slice(0, -1)) : d === e)));
  pkg.dependencies = Object.fromEntries(kept.map((d) => [d, pkg.dependencies[d]]));
  pkg.bundleDependencies = kept;
  pkg.files = ['bin/', 'dist/', 'THIRD_PARTY_NOTICES.md'];
  // A command, not a library: the bundle carries no declarations.
  delete pkg.types;
  pkg.exports = { '.': './dist/index.js' };
  writeJson(join(dir, 'package.json'), pkg);
}

function pack(dir, fileName) {
  // Into a folder of its own: npm names both agent tarballs alike.
  const dest = join(stage, `.pack-${fileName}`);
  mkdirSync(dest, { recursive: true });
  const produced = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', dest], dir))[0].filename;
  const target = join(out, fileName);
  renameSync(join(dest, produced), target);
  return target;
}

/**
 * The offline agent: the regular tarball installed by npm itself (so the tree is exactly what a
 * device would get), then every installed package bundled into the agent's own node_modules.
 */
function packOffline(agentTgz, version) {
  const tmp = join(stage, 'offline-install');
  mkdirSync(tmp, { recursive: true });
  writeJson(join(tmp, 'package.json'), { name: 'edgeml-agent-offline-stage', private: true });
  run('npm', ['install', '--prefer-offline', '--omit=dev', '--omit=peer', '--no-audit', '--no-fund', '--no-package-lock', '--ignore-scripts', agentTgz], tmp);
  const agentDir = join(tmp, 'node_modules/@edgeml/agent');
  const top = join(tmp, 'node_modules');
  const into = join(agentDir, 'node_modules');
  mkdirSync(into, { recursive: true });
  for (const entry of readdirSync(top)) {
    if (entry.startsWith('.') || entry === '@edgeml') continue;
    const scoped = entry.startsWith('@') ? readdirSync(join(top, entry)).map((s) => `${entry}/${s}`) : [entry];
    for (const name of scoped) {
      if (name === '@edgeml/agent') continue;
      mkdirSync(dirname(join(into, name)), { recursive: true });
      renameSync(join(top, name), join(into, name));
    }
  }
  const pkg = readJson(join(agentDir, 'package.json'));
  const names = [];
  for (const entry of readdirSync(into)) {
    if (entry.startsWith('.')) continue;
    if (entry.startsWith('@')) for (const s of readdirSync(join(into, entry))) names.push(`${entry}/${s}`);
    else names.push(entry);
  }
  // npm's install metadata is not part of a package.
  for (const f of ['.package-lock.json']) rmSync(join(into, f), { force: true });
  for (const k of Object.keys(pkg)) if (k.startsWith('_')) delete pkg[k];
  pkg.bundleDependencies = names.sort();
  for (const n of names) pkg.dependencies[n] ??= readJson(join(into, n, 'package.json')).version;
  writeJson(join(agentDir, 'package.json'), pkg);
  return pack(agentDir, `edgeml-agent-${version}-offline.tgz`);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(stage, { recursive: true });
if (!flags['no-build']) build();

const made = [];
if (wanted('agent') || wanted('agent-offline')) {
  const version = manifest('@edgeml/agent').version;
  stageWithBundle('@edgeml/agent', join(stage, 'agent'), { '@tensorflow/tfjs-tflite': TFLITE_KEEP });
  await bundleAgent(join(stage, 'agent'));
  const agentTgz = pack(join(stage, 'agent'), `edgeml-agent-${version}.tgz`);
  if (wanted('agent')) made.push(agentTgz);
  if (wanted('agent-offline')) made.push(packOffline(agentTgz, version));
  if (!wanted('agent')) rmSync(agentTgz);
}
if (wanted('cli')) {
  // The CLI trains with the full tfjs from the registry; only the interpreter is pruned and bundled.
  stageWithBundle('edgeml', join(stage, 'cli'), { '@tensorflow/tfjs-tflite': TFLITE_KEEP });
  made.push(pack(join(stage, 'cli'), `edgeml-${manifest('edgeml').version}.tgz`));
}

rmSync(stage, { recursive: true, force: true });
for (const f of made) process.stdout.write(`${relative(process.cwd(), f)}  ${(statSync(f).size / 1e6).toFixed(1)} MB\n`);
