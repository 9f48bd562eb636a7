/**
 * How busy the machine was with work that is not the benchmark's. On a shared 2-core machine a
 * compiler or test run in another terminal takes CPU from the proxy under test and makes one
 * target look slower than another for reasons unrelated to it; this measures that instead of
 * hoping it did not happen. Linux only (/proc); elsewhere every reading is `undefined`.
 *
 * foreign = user + nice + system CPU time of the whole machine (/proc/stat) − the time of this
 * process, its live children and their live descendants, and its reaped children (cutime/cstime). A child that exits between
 * two snapshots is counted once: partly as live before, wholly in cutime after. irq and softirq
 * time is left out of the machine total: most of it here is the benchmark's own loopback TCP
 * traffic, charged either to our processes' stime or to ksoftirqd, never to a foreign process.
 * So this undercounts rather than overcounts. Hypervisor steal is reported apart.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface CpuSnapshot {
  atMs: number;
  /** Clock ticks (USER_HZ) across all CPUs. */
  busy: number;
  steal: number;
  ours: number;
}

export interface ForeignCpu {
  /** CPU used by processes the bench did not start, as % of one core over the interval. */
  foreignPct: number;
  /** Time the hypervisor ran something else while our VM wanted the CPU, % of one core. */
  stealPct: number;
}

// USER_HZ: 100 on every mainstream Linux architecture; not queryable from Node without a spawn.
const TICKS_PER_S = 100;

function processTicks(pid: number, withChildren: boolean): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command (which may contain spaces): state is field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime, cstime are fields 14–17, i.e. indexes 11–14 here.
  const own = Number(fields[11]) + Number(fields[12]);
  return withChildren ? own + Number(fields[13]) + Number(fields[14]) : own;
}

/** Live descendants of `pid` (Linux 3.5+: /proc/<pid>/task/<tid>/children, for each thread). */
function descendants(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const task of tasks) {
    let children = '';
    try {
      children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const child of children.trim().split(/\s+/).filter(Boolean).map(Number)) {
      out.push(child, ...descendants(child));
    }
  }
  return out;
}

export function cpuSnapshot(childPids: Iterable<number>): CpuSnapshot | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    // cpu user nice system idle iowait irq softirq steal guest guest_nice
    const [user, nice, system, , , , , steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
    let ours = processTicks(process.pid, true);
    for (const pid of childPids) {
      // A child's own children count too: the workers of `portcullis start --workers N`.
      for (const each of [pid, ...descendants(pid)]) {
        try {
          ours += processTicks(each, false);
        } catch {
          // Exited since it was listed: its time is (or will be) in its parent's cutime.
        }
      }
    }
    return { atMs: performance.now(), busy: user! + nice! + system!, steal: steal!, ours };
  } catch {
    return undefined;
  }
}

export function foreignCpu(
  before: CpuSnapshot | undefined,
  after: CpuSnapshot | undefined,
): ForeignCpu | undefined {
  if (!before || !after) return undefined;
  const seconds = (after.atMs - before.atMs) / 1000;
  if (seconds <= 0) return undefined;
  const pct = (ticks: number) => (Math.max(0, ticks) / TICKS_PER_S / seconds) * 100;
  return {
    foreignPct: pct(after.busy - before.busy - (after.ours - before.ours)),
    stealPct: pct(after.steal - before.steal),
  };
}
