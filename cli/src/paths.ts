import { fileURLToPath } from 'node:url';

/** A file of this repository, found from the compiled CLI's own location (cli/dist/...). */
export const repoFile = (rel: string): string => fileURLToPath(new URL(`../../${rel}`, import.meta.url));

/** The launcher that runs this CLI, for starting agent processes. */
export const cliBin = (): string => repoFile('cli/bin/edgeml.js');
