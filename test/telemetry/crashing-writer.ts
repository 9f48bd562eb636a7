/** A recorder writer thread that dies on the first records it is handed (recorder-thread tests). */
import { parentPort } from 'node:worker_threads';

parentPort?.on('message', (message: { t: string }) => {
  if (message.t === 'add') throw new Error('writer thread crashed');
});
