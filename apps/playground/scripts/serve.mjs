// Serves dist/ on http://localhost:PORT (WebGPU needs a secure context: localhost counts).
import { startServer } from './server.mjs';

const port = Number(process.env.PORT ?? 8080);
const { url } = await startServer(port);
console.log(`playground at ${url} (Chromium: --enable-unsafe-webgpu where WebGPU is not on by default)`);
