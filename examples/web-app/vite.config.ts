import { defineConfig } from 'vite';

// Nothing SDK-specific is needed: Vite bundles the SDK's cipher worker
// (new Worker(new URL('./chacha-worker.js', import.meta.url))) on its own.
export default defineConfig({
  build: { sourcemap: true },
});
