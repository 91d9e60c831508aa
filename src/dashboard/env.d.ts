/** CSS imported from TypeScript is bundled by esbuild into app.css. */
declare module '*.css';
