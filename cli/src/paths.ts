import { fileURLToPath } from 'node:url';

/** A file of this repository, found from the compiled CLI's own location (cli/dist/...). */
export const repoFile = (rel: string): string => fileURLToPath(new URL(`../../${rel}`, import.meta.url));

/**
 * The launcher that runs this CLI, for starting agent and probe processes. Found from this
 * package's own folder, so it holds in an installed package as in the repository.
 */
export const cliBin = (): string => fileURLToPath(new URL('../bin/edgeml.js', import.meta.url));
