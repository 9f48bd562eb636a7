import { defineConfig } from 'vite';

// Served by the admin listener at /admin/ui/ (src/admin/console.ts). `npm run dev -w
// @portcullis/console` proxies the API to a gateway started with `npm start`.
export default defineConfig({
  base: '/admin/ui/',
  build: {
    outDir: 'dist',
    target: 'es2022',
    // Everything under assets/ is content-hashed and served immutable; nothing is inlined as
    // data: URLs so the Content-Security-Policy can stay at 'self'.
    assetsInlineLimit: 0,
    reportCompressedSize: true,
  },
  server: { proxy: { '/admin/api': 'http://127.0.0.1:8081' } },
});
