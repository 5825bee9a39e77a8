// What the responsiveness benchmark reads (tests/performance/bench_dashboard.py), bounded, at the
// cost of a subtraction per message:
// - paintLatencies: for each live change drawn, from the server's timestamp of the change to the
//   frame that showed it (the whole path: server, websocket, this page);
// - arrivalLatencies: from a message's arrival in the page to the frame after it was handed to
//   its view (this page's own share).
import { Bounded } from "./buffer";

export const paintLatencies = new Bounded<number>(50_000);
export const arrivalLatencies = new Bounded<number>(50_000);

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

/** Messages that arrived at ``performance.now()`` times, handed to their view just now. */
export function recordArrivals(arrived: number[]): void {
  requestAnimationFrame(() => {
    const now = performance.now();
    for (const at of arrived) arrivalLatencies.push(now - at);
  });
}

declare global {
  interface Window {
    __dashboardMetrics?: { paintLatencies: Bounded<number>; arrivalLatencies: Bounded<number> };
  }
}
window.__dashboardMetrics = { paintLatencies, arrivalLatencies };
