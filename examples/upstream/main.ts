/**
 * Run the example upstream on its own:
 *   node dist/examples/upstream/main.js --port 9000 [--host 127.0.0.1]
 * Point a Portcullis route at the printed URL to try the gateway against it.
 */
import { parseArgs } from 'node:util';
import { startExampleUpstream } from './server.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '9000' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});

const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid --port ${values.port}`);
  process.exit(2);
}

const upstream = await startExampleUpstream({ host: values.host, port });
console.log(`example upstream listening on ${upstream.url} (try ${upstream.url}/hello)`);

async function shutdown(signal: string) {
  console.log(`${signal} received, closing`);
  await upstream.close();
  process.exit(0);
}
process.once('SIGINT', () => void shutdown('SIGINT'));
process.once('SIGTERM', () => void shutdown('SIGTERM'));
