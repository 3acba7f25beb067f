/// <reference types="node" />
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';

const here = (rel: string) => decodeURIComponent(new URL(rel, import.meta.url).pathname);

/**
 * Writes `.br` and `.gz` beside each JS and CSS asset, compressed once at build time
 * at the highest levels; @fastify/static (`preCompressed`) serves them to browsers
 * that accept the encoding, so the server never compresses per request.
 */
function precompress(): Plugin {
  return {
    name: 'switchyard-precompress',
    apply: 'build',
    // After the files are written: earlier hooks still see placeholders other plugins fill in later.
    writeBundle(options, bundle) {
      for (const name of Object.keys(bundle)) {
        if (!/\.(js|css)$/.test(name)) continue;
        const file = join(options.dir!, name);
        const source = readFileSync(file);
        writeFileSync(`${file}.gz`, gzipSync(source, { level: 9 }));
        writeFileSync(`${file}.br`, brotliCompressSync(source, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: source.length } }));
      }
    },
  };
}

// The console is served by Switchyard at `/` (index.html) and `/assets/*` (hashed, immutable).
// Hash routing keeps every page on `/`, so the server needs no route per page.
export default defineConfig({
  root: here('.'),
  base: '/',
  plugins: [react(), precompress()],
  build: {
    outDir: here('../dist/web'),
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false,
  },
});
