// What the responsiveness benchmark reads (tests/performance/bench_dashboard.py): for each
// live change drawn, the time from the server's timestamp to the frame that showed it. Kept
// bounded; costs one subtraction per change.
import { Bounded } from "./buffer";

export const paintLatencies = new Bounded<number>(50_000);

/** Call after a batch was rendered: its latencies are taken at the next frame (painted). */
export function recordPainted(serverTimes: string[]): void {
  if (!serverTimes.length) return;
  requestAnimationFrame(() => {
    const now = Date.now();
    for (const at of serverTimes) {
      const t = Date.parse(at);
      if (!Number.isNaN(t)) paintLatencies.push(now - t);
    }
  });
}

declare global {
  interface Window {
    __dashboardMetrics?: { paintLatencies: Bounded<number> };
  }
}
window.__dashboardMetrics = { paintLatencies };
