// The browser side of tests/performance/bench_dashboard.py: two tabs of the dashboard in headless
// Chromium, the instances list (every change of every instance arrives there) and one instance's
// page (its timeline), measured while the benchmark sends a burst of events.
//
//   node dashboard_burst.mjs BASE_URL USERNAME PASSWORD INSTANCE_ID OUT_DIR
//
// Conversation on stdin/stdout: prints READY when both pages are live; on "GO" it clicks the
// list page's header every CLICK_EVERY_MS (real input events through the browser) until "STOP";
// then it lets the pages drain and prints one line "RESULT {json}".
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import path from "node:path";

const require = createRequire(path.join(process.env.DASHBOARD_DIR, "package.json"));
const { chromium } = require("playwright-core");

const [base, username, password, instanceId, out] = process.argv.slice(2);
const CLICK_EVERY_MS = 100;
const DRAIN_MS = 3000;
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

// In the page: input-to-next-frame delay of every click (the time the main thread needed to
// answer it), and the long tasks (over 50 ms) the main thread ran.
function instrument() {
  window.__bench = { clicks: [], longTasks: [] };
  document.addEventListener("pointerdown", (event) => {
    const started = event.timeStamp;
    requestAnimationFrame(() => setTimeout(() => window.__bench.clicks.push(performance.now() - started), 0));
  }, true);
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) window.__bench.longTasks.push(entry.duration);
  }).observe({ type: "longtask", buffered: true });
}

async function open(browser, hash) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 950 } });
  page.setDefaultTimeout(60_000);
  await page.goto(`${base}/`);
  await page.fill("input[name=username]", username);
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  await page.waitForSelector("[data-testid=connection]:has-text('connected')");
  await page.goto(`${base}/${hash}`);
  await page.evaluate(instrument);
  return page;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  args: process.env.CHROMIUM_FLAGS.split(" "),
});
try {
  const list = await open(browser, "#/instances");
  await list.waitForSelector("[data-testid=instances] tbody tr[data-instance]");
  const detail = await open(browser, `#/instances/${instanceId}`);
  await detail.waitForSelector("[data-testid=timeline] li");
  await list.bringToFront();
  console.log("READY");

  await lines.next(); // GO
  for (const page of [list, detail]) {
    await page.evaluate(() => {
      window.__dashboardMetrics.paintLatencies.clear(); // what the set-up drew does not count
      window.__dashboardMetrics.arrivalLatencies.clear();
      window.__bench.clicks.length = 0;
      window.__bench.longTasks.length = 0;
    });
  }
  let clicking = true;
  const clicker = (async () => {
    while (clicking) {
      await list.click("header .brand");
      await new Promise((resolve) => setTimeout(resolve, CLICK_EVERY_MS));
    }
  })();
  await lines.next(); // STOP: the burst is over
  clicking = false;
  await clicker;
  await new Promise((resolve) => setTimeout(resolve, DRAIN_MS));
  await list.screenshot({ path: path.join(out, "bench-instances.png") });
  await detail.screenshot({ path: path.join(out, "bench-instance.png") });

  const read = (page) =>
    page.evaluate(() => ({
      latencies: window.__dashboardMetrics.paintLatencies.items,
      arrivals: window.__dashboardMetrics.arrivalLatencies.items,
      clicks: window.__bench.clicks,
      longTasks: window.__bench.longTasks,
      rows: document.querySelectorAll("[data-testid=instances] tbody tr").length,
      timeline: document.querySelectorAll("[data-testid=timeline] li").length,
    }));
  console.log(`RESULT ${JSON.stringify({ list: await read(list), detail: await read(detail) })}`);
} finally {
  await browser.close();
}
process.exit(0);
