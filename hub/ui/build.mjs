// Bundles the dashboard (hub/ui/src) into hub/ui-dist, which the hub serves at `/`: one script
// and one stylesheet, no CDN, so the page works on a hub with no internet access.
import { build } from 'esbuild';
import { copyFile, mkdir, rm, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const out = here('../ui-dist/');
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await build({
  entryPoints: { app: here('src/main.ts') },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['es2020'],
  outdir: out,
  legalComments: 'linked',
  logLevel: 'warning',
});
await copyFile(here('index.html'), `${out}index.html`);
const size = async (f) => (await stat(`${out}${f}`)).size;
if (!process.argv.includes('--quiet')) {
  console.log(`dashboard bundle: app.js ${((await size('app.js')) / 1024).toFixed(1)} KiB, app.css ${((await size('app.css')) / 1024).toFixed(1)} KiB -> ${out}`);
}
